//! `switchyard cache calibrate`: how a semantic-cache threshold behaves on labelled pairs of
//! prompts, so that an operator can pick `[cache] semantic_threshold` on their own traffic.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use gateway::cache::signature::signature;

use super::EncoderArgs;

#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CacheCommand {
    /// Hit rates of the semantic cache on labelled prompt pairs, per threshold: paraphrases
    /// (which should hit) and near misses (which must not), by cosine alone and with the text
    /// guard the gateway applies.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, clap::Args)]
struct CalibrateArgs {
    /// JSON lines `{"a": "...", "b": "...", "label": "paraphrase" | <near-miss kind>}`; any
    /// label other than `paraphrase` is a near miss, reported by kind. Example:
    /// docs/data/semantic-cache-pairs.jsonl.
    #[arg(long, required = true)]
    pairs: Vec<PathBuf>,
    /// Cosine thresholds to report.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.8,0.85,0.88,0.9,0.92,0.95",
        allow_hyphen_values = true
    )]
    thresholds: Vec<f32>,
    #[command(flatten)]
    encoder: EncoderArgs,
}

pub fn run(args: CacheArgs) -> anyhow::Result<()> {
    match args.command {
        CacheCommand::Calibrate(args) => calibrate(args),
    }
}

struct Pair {
    a: String,
    b: String,
    label: String,
}

fn read_pairs(path: &Path) -> anyhow::Result<Vec<Pair>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the pairs file {}", path.display()))?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let expected = || {
            format!(
                "{}:{}: expected {{\"a\": text, \"b\": text, \"label\": \"paraphrase\" or a near-miss kind}}",
                path.display(),
                i + 1
            )
        };
        let raw: serde_json::Value = serde_json::from_str(line).with_context(expected)?;
        let field = |name: &str| -> anyhow::Result<String> {
            raw.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("{} (field `{name}`)", expected()))
        };
        pairs.push(Pair {
            a: field("a")?,
            b: field("b")?,
            label: field("label")?,
        });
    }
    Ok(pairs)
}

fn calibrate(args: CalibrateArgs) -> anyhow::Result<()> {
    if let Some(t) = args.thresholds.iter().find(|t| !(**t > 0.0 && **t <= 1.0)) {
        bail!("--thresholds: {t} is not a cosine in (0, 1]");
    }
    let mut pairs = Vec::new();
    for path in &args.pairs {
        pairs.extend(read_pairs(path)?);
    }
    if !pairs.iter().any(|p| p.label == "paraphrase")
        || pairs.iter().all(|p| p.label == "paraphrase")
    {
        bail!("--pairs: need both `paraphrase` pairs and near misses (any other label)");
    }
    let encoder = args.encoder.load()?;
    let texts: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    let vectors = encoder.encode(&texts)?;
    let dim = classifier::EMBEDDING_DIM;
    let scored: Vec<(f32, bool, &str)> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = (&vectors[2 * i][..dim], &vectors[2 * i + 1][..dim]);
            let cosine: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            let (sa, sb) = (signature(&p.a), signature(&p.b));
            (cosine, sa.matches(&sb), p.label.as_str())
        })
        .collect();

    let mut kinds: Vec<&str> = scored
        .iter()
        .map(|s| s.2)
        .filter(|l| *l != "paraphrase")
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let paraphrases = scored.iter().filter(|s| s.2 == "paraphrase").count();
    let near = scored.len() - paraphrases;
    outln!(
        "{} pairs: {paraphrases} paraphrases, {near} near misses ({})",
        scored.len(),
        kinds.join(", ")
    )?;
    outln!()?;
    outln!(
        "| threshold | paraphrases hit, cosine only | near misses hit, cosine only | paraphrases hit, guarded | near misses hit, guarded (95 % upper bound) | guarded hits by kind |"
    )?;
    outln!("|---:|---:|---:|---:|---:|---|")?;
    for &t in &args.thresholds {
        let count = |para: bool, guarded: bool| {
            scored
                .iter()
                .filter(|s| (s.2 == "paraphrase") == para && s.0 >= t && (!guarded || s.1))
                .count()
        };
        let by_kind: Vec<String> = kinds
            .iter()
            .map(|k| {
                let n = scored
                    .iter()
                    .filter(|s| s.2 == *k && s.0 >= t && s.1)
                    .count();
                format!("{k} {n}")
            })
            .collect();
        let false_hits = count(false, true);
        outln!(
            "| {t:.2} | {}/{paraphrases} | {}/{near} | {}/{paraphrases} | {false_hits}/{near} (≤ {:.1} %) | {} |",
            count(true, false),
            count(false, false),
            count(true, true),
            100.0 * wilson_upper(false_hits, near),
            by_kind.join(", ")
        )?;
    }
    Ok(())
}

/// The upper end of the 95 % Wilson score interval of `k` successes in `n` trials.
fn wilson_upper(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (k, n, z) = (k as f64, n as f64, 1.96f64);
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z * z / n)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_upper_bounds_match_the_textbook_values() {
        // 0 of 30: about 11.4 %; 5 of 10: about 76.3 %.
        assert!((wilson_upper(0, 30) - 0.1135).abs() < 1e-3);
        assert!((wilson_upper(5, 10) - 0.7634).abs() < 1e-3);
        assert_eq!(wilson_upper(0, 0), 1.0);
    }
}
