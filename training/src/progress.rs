/// One progress report: `done` of `total` steps (epochs for the neural models, models for the
/// linear one), with the latest losses where there are any.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Steps finished.
    pub done: u64,
    /// Steps planned (an upper bound: early stopping may end sooner).
    pub total: u64,
    /// Short status for a progress bar's message, e.g. `epoch 12 val 0.1834`.
    pub message: String,
    /// Mean training loss of the last epoch, if any.
    pub train_loss: Option<f64>,
    /// Validation loss of the last epoch, if any.
    pub val_loss: Option<f64>,
}

/// The progress callback every `fit_*` function takes.
pub type ProgressFn<'a> = Option<&'a mut dyn FnMut(&Progress)>;

/// Forwards `p` to `progress` with `prefix` before its message (which fold, seed and step a
/// nested fit belongs to).
pub(crate) fn relay_prefixed(progress: &mut ProgressFn<'_>, prefix: &str, p: &Progress) {
    if let Some(f) = progress.as_mut() {
        let mut p = p.clone();
        p.message = format!("{prefix} {}", p.message);
        f(&p);
    }
}

pub(crate) fn report(progress: &mut ProgressFn<'_>, p: Progress) {
    if let Some(f) = progress.as_mut() {
        f(&p);
    }
}
