//! Progress on stderr: a bar on a terminal, plain `progress:` lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use training::Progress;

/// A progress bar on stderr with ETA.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// Moves `bar` to a training or embedding progress report. When stderr is not a terminal
/// (logs, CI, `2> file`) the bar draws nothing, so a plain line goes there instead: whenever
/// the step (the message before its first `:`, digits aside) changes, at the end, and at most
/// every 5 s otherwise.
pub fn draw(bar: &ProgressBar, p: &Progress) {
    if bar.is_hidden() {
        progress_line(&bar.message(), p);
    }
    if bar.length() != Some(p.total) {
        bar.set_length(p.total);
        bar.reset_eta();
    }
    bar.set_position(p.done);
    bar.set_message(p.message.clone());
}

fn progress_line(previous: &str, p: &Progress) {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    // The step without its counters: `embedded 32/1307` and `embedded 64/1307` are one step.
    let step = |m: &str| -> String {
        m.split(':')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect()
    };
    let now = Instant::now();
    let due = LAST.with(|last| {
        let due = step(previous) != step(&p.message)
            || p.done == p.total
            || last
                .get()
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(5));
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        eprintln!("progress: {} ({}/{})", p.message, p.done, p.total);
    }
}
