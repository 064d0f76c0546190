//! Train/test folds: the source's own split, a seeded random split, leave-one-task-out; and
//! decontamination of a test set against its training set.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::ExperimentData;
use crate::Error;

/// How to split the data into training and test prompts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// The source's own train/test assignment (RouterBench, LLMRouter, RouterDC).
    Own,
    /// A seeded random split (fraction [`super::ExperimentConfig::test_fraction`] tested).
    Random,
    /// Leave one task family out: train on every other task, test on it.
    Loto,
    /// Leave one source out: train on the other `--data` sources, test on it, over the models
    /// the held-out source shares with the training sources.
    Source,
}

impl SplitKind {
    /// `own`, `random`, `loto` or `source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Random => "random",
            Self::Loto => "loto",
            Self::Source => "source",
        }
    }
}

/// One train/test partition of the rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Fold {
    /// `own`, `random`, or the held-out task family.
    pub label: String,
    /// Rows to fit on (complete or not).
    pub train: Vec<usize>,
    /// Complete rows to score.
    pub test: Vec<usize>,
    /// Test-side rows left out because some model lacks a score or a cost.
    pub incomplete_dropped: usize,
}

fn fold(data: &ExperimentData, label: String, train: Vec<usize>, test_all: Vec<usize>) -> Fold {
    let before = test_all.len();
    let test: Vec<usize> = test_all
        .into_iter()
        .filter(|&i| data.is_complete(i))
        .collect();
    Fold {
        label,
        train,
        incomplete_dropped: before - test.len(),
        test,
    }
}

/// The source's own split; fails when no row is marked `train` or `test`.
pub fn own_split(data: &ExperimentData) -> Result<Fold, Error> {
    use datasets::Split;
    let rows = |s: Split| -> Vec<usize> {
        (0..data.len())
            .filter(|&i| data.splits[i] == Some(s))
            .collect()
    };
    let (train, test) = (rows(Split::Train), rows(Split::Test));
    if train.is_empty() || test.is_empty() {
        return Err(Error::Experiment {
            reason: format!(
                "{} has no own train/test split ({} train, {} test rows); use --split random or --split loto",
                data.source,
                train.len(),
                test.len()
            ),
        });
    }
    Ok(fold(data, "own".into(), train, test))
}

/// A seeded random split: `test_fraction` of all rows (rounded) are test candidates.
pub fn random_split(data: &ExperimentData, test_fraction: f64, seed: u64) -> Fold {
    let mut idx: Vec<usize> = (0..data.len()).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_test = ((data.len() as f64) * test_fraction.clamp(0.0, 1.0)).round() as usize;
    let mut test = idx.split_off(data.len() - n_test.min(data.len()));
    test.sort_unstable();
    idx.sort_unstable();
    fold(data, "random".into(), idx, test)
}

/// Leave-one-task-out folds, one per task family (rows without a task always train), or only
/// the fold holding out `only`.
pub fn loto_splits(data: &ExperimentData, only: Option<&str>) -> Result<Vec<Fold>, Error> {
    // The data's task labels are lower case (`ExperimentData::from_table`).
    let only = only.map(str::to_lowercase);
    let only = only.as_deref();
    let mut families: Vec<&str> = Vec::new();
    for i in 0..data.len() {
        if let Some(f) = data.task_family(i) {
            if !families.contains(&f) {
                families.push(f);
            }
        }
    }
    if let Some(only) = only {
        if !families.contains(&only) {
            return Err(Error::Experiment {
                reason: format!(
                    "task `{only}` is not in {}; its tasks are: {}",
                    data.source,
                    families.join(", ")
                ),
            });
        }
        families.retain(|f| *f == only);
    }
    if families.len() < 2 && only.is_none() {
        return Err(Error::Experiment {
            reason: format!(
                "{} has {} task famil{}; leave-one-task-out needs two or more (merge datasets, or use --split random)",
                data.source,
                families.len(),
                if families.len() == 1 { "y" } else { "ies" }
            ),
        });
    }
    Ok(families
        .into_iter()
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..data.len()).partition(|&i| data.task_family(i) == Some(f));
            fold(data, f.to_owned(), train, test)
        })
        .collect())
}

/// Splits `test` into the rows whose cosine similarity to every training row stays below
/// `threshold`, and the number dropped. Embeddings are unit length, so cosine is the dot
/// product; only the encoder's [`classifier::EMBEDDING_DIM`] values count, so that features
/// appended after them (`eval --prompt-features`) leave the test set unchanged. The scan is
/// spread over the available cores.
pub fn decontaminate(
    x: &[Vec<f32>],
    train: &[usize],
    test: &[usize],
    threshold: f64,
) -> (Vec<usize>, usize) {
    let threshold = threshold as f32;
    let near = |i: usize| {
        train.iter().any(|&t| {
            let dot: f32 = x[i]
                .iter()
                .zip(&x[t])
                .take(classifier::EMBEDDING_DIM)
                .map(|(a, b)| a * b)
                .sum();
            dot >= threshold
        })
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = test.len().div_ceil(threads).max(1);
    let flags: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = test
            .chunks(chunk)
            .map(|part| {
                let h = s.spawn(move || part.iter().map(|&i| near(i)).collect::<Vec<bool>>());
                (part.len(), h)
            })
            .collect();
        handles
            .into_iter()
            // A panicking worker would be a bug in the loop above; keep its rows.
            .flat_map(|(len, h)| h.join().unwrap_or_else(|_| vec![false; len]))
            .collect()
    });
    let kept: Vec<usize> = test
        .iter()
        .zip(&flags)
        .filter(|(_, &dup)| !dup)
        .map(|(&i, _)| i)
        .collect();
    let dropped = test.len() - kept.len();
    (kept, dropped)
}

/// Leave-one-source-out folds (or only the one holding out `only`): for each source, the data
/// restricted to the models labelled both in that source and in the others, and the fold
/// training on the other sources' rows and testing on that source's complete rows.
pub fn source_splits(
    data: &ExperimentData,
    only: Option<&str>,
) -> Result<Vec<(ExperimentData, Fold)>, Error> {
    let mut sources: Vec<&str> = Vec::new();
    for s in data.sources.iter().flatten() {
        if !sources.contains(&s.as_str()) {
            sources.push(s);
        }
    }
    if let Some(only) = only {
        if !sources.contains(&only) {
            return Err(Error::Experiment {
                reason: format!(
                    "source `{only}` is not among the --data sources: {}",
                    sources.join(", ")
                ),
            });
        }
    }
    if sources.len() < 2 {
        return Err(Error::Experiment {
            reason: format!(
                "--split source needs two or more --data sources with shared models; got {}",
                sources.len()
            ),
        });
    }
    let labelled = |rows: &[usize], j: usize| rows.iter().any(|&i| data.quality[i][j].is_some());
    let mut out = Vec::new();
    for s in sources.iter().filter(|s| only.is_none_or(|o| o == **s)) {
        let (held, rest): (Vec<usize>, Vec<usize>) =
            (0..data.len()).partition(|&i| data.sources[i].as_deref() == Some(*s));
        let columns: Vec<usize> = (0..data.models.len())
            .filter(|&j| labelled(&held, j) && labelled(&rest, j))
            .collect();
        if columns.len() < 2 {
            return Err(Error::Experiment {
                reason: format!(
                    "source `{s}` shares {} model(s) with the other sources; --split source needs two shared models per held-out source (merge sources that share models, e.g. routellm-gsm8k, routellm-mmlu and routerbench)",
                    columns.len()
                ),
            });
        }
        let (sub, _) = data.restrict_columns(&columns);
        let (test, train): (Vec<usize>, Vec<usize>) =
            (0..sub.len()).partition(|&i| sub.sources[i].as_deref() == Some(*s));
        let f = fold(&sub, (*s).to_owned(), train, test);
        out.push((sub, f));
    }
    Ok(out)
}
