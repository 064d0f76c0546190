//! The answers file of `onboard --live`: one JSON record per line, appended as each answer
//! lands, and read back on a later run to skip what is already paid for.
//!
//! A run killed mid-write (or a full disk) can leave the last line cut short. Refusing the
//! whole file then would throw away every answer before it, so an unparsable *final* line is
//! dropped with a warning (its probe is asked again) and cut off before the next run appends.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use training::onboarding::live::AnswerRecord;

/// The records of an answers file, and how to make it safe to append to.
#[derive(Debug, Default)]
pub struct Answers {
    pub records: Vec<AnswerRecord>,
    /// Where a torn final line starts, to cut it off before appending.
    torn_at: Option<u64>,
    /// Whether the file ends without a newline (appending would join the next record to it).
    needs_newline: bool,
}

impl Answers {
    /// Reads `path` (missing: no records). A line that is not a record is refused, naming the
    /// file and line, unless it is the last one, which is dropped with a warning.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut answers = Self {
            needs_newline: bytes.last().is_some_and(|&b| b != b'\n'),
            ..Self::default()
        };
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        // Only a record cut short can be torn: the last line, not ended by a newline (a record
        // and its newline go out in one write), opening a JSON object. Anything else is not an
        // answers file, and cutting its line off would destroy what it is.
        let last = lines
            .iter()
            .rposition(|l| !l.trim_ascii().is_empty())
            .filter(|&i| i + 1 == lines.len() && lines[i].trim_ascii_start().starts_with(b"{"));
        let mut start = 0;
        for (i, line) in lines.iter().enumerate() {
            if !line.trim_ascii().is_empty() {
                match serde_json::from_slice::<AnswerRecord>(line) {
                    Ok(record) => answers.records.push(record),
                    Err(_) if Some(i) == last => {
                        eprintln!(
                            "warning: {} line {}: an incomplete answer record (an interrupted write); it is dropped and its probe asked again",
                            path.display(),
                            i + 1
                        );
                        answers.torn_at = Some(start as u64);
                        answers.needs_newline = false;
                        break;
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!(
                            "{} line {}: not an answer record (move the file aside to start over)",
                            path.display(),
                            i + 1
                        )
                        })
                    }
                }
            }
            start += line.len() + 1;
        }
        Ok(answers)
    }

    /// Opens `path` for appending, first cutting off a torn final line and ending the last
    /// record's line.
    pub fn open_for_append(&self, path: &Path) -> anyhow::Result<std::fs::File> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        if let Some(at) = self.torn_at {
            file.set_len(at)
                .with_context(|| format!("cutting the torn last line of {}", path.display()))?;
        }
        if self.needs_newline {
            file.write_all(b"\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(file)
    }
}

/// Appends one record's line with a single write, so that a kill cannot land between the
/// record and its newline (the next run would append onto the same line).
pub fn append_line(out: &mut impl Write, line: &str) -> std::io::Result<()> {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    out.write_all(buf.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(probe: &str) -> String {
        serde_json::json!({
            "model": "m", "probe_id": probe, "task": "math",
            "probe_set_sha256": "p", "cost_usd": 0.001, "score": 1.0
        })
        .to_string()
    }

    /// Counts the writes a record takes.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_record_and_its_newline_go_out_in_one_write() {
        let mut out = Writes::default();
        append_line(&mut out, &record("a")).unwrap();
        assert_eq!(out.0, vec![format!("{}\n", record("a")).into_bytes()]);
    }

    #[test]
    fn a_torn_final_line_is_dropped_and_cut_off_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("answers.jsonl");
        let good = format!("{}\n{}\n", record("a"), record("b"));
        std::fs::write(&path, format!("{good}{}", &record("c")[..20])).unwrap();
        let answers = Answers::read(&path).unwrap();
        assert_eq!(answers.records.len(), 2);
        let mut file = answers.open_for_append(&path).unwrap();
        append_line(&mut file, &record("c")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{good}{}\n", record("c")));
        assert_eq!(Answers::read(&path).unwrap().records.len(), 3);
    }

    #[test]
    fn a_last_record_without_its_newline_is_kept_and_the_next_starts_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("answers.jsonl");
        std::fs::write(&path, record("a")).unwrap();
        let answers = Answers::read(&path).unwrap();
        assert_eq!(answers.records.len(), 1);
        let mut file = answers.open_for_append(&path).unwrap();
        append_line(&mut file, &record("b")).unwrap();
        assert_eq!(Answers::read(&path).unwrap().records.len(), 2);
    }

    #[test]
    fn a_bad_line_before_the_last_is_still_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("answers.jsonl");
        std::fs::write(
            &path,
            format!("{}\nnot json\n{}\n", record("a"), record("b")),
        )
        .unwrap();
        let err = format!("{:#}", Answers::read(&path).unwrap_err());
        assert!(err.contains("line 2: not an answer record"), "{err}");
    }

    /// `--answers` pointed at some other file by mistake: its last line is refused by line
    /// number, not taken for a torn record and cut off (which truncated the file).
    #[test]
    fn a_foreign_files_last_line_is_refused_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("notes.txt", "my notes, one line\n"),
            ("no-newline.txt", "my notes"),
            ("config.json", "{\"a\": 1}\n"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", Answers::read(&path).unwrap_err());
            assert!(
                err.contains("line 1: not an answer record"),
                "{name}: {err}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }
}
