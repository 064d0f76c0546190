//! What the loop prints and writes: progress events on stderr, the exploration's description
//! for the report, and the report files.

use std::path::Path;

use anyhow::Context;
use router_core::Exploration;
use training::learning_loop::{LoopEvent, LoopReport};

pub(super) fn print_event(event: LoopEvent<'_>) {
    match event {
        LoopEvent::Served(s) => eprintln!(
            "round {}: {}: quality {:.3}, oracle {:.3}, regret {:.3}, cost {:.6} USD/request",
            s.round, s.router, s.quality, s.oracle, s.regret, s.cost
        ),
        LoopEvent::HeldBack {
            round,
            artifact,
            serving,
        } => eprintln!(
            "round {round}: the gate held back {}; {serving} keeps serving",
            artifact.display()
        ),
        LoopEvent::Deployed { .. } => {}
        other => tracing::debug!(?other, "Loop event."),
    }
}

/// Human description of the exploration for the report (and `eval --from-log`'s).
pub(in crate::commands) fn describe(e: &Exploration) -> String {
    match e {
        Exploration::Off => "off".to_owned(),
        Exploration::EpsilonGreedy { epsilon, top_k } => {
            format!("ε-greedy (ε = {epsilon}, top {top_k})")
        }
        Exploration::Softmax { temperature, top_k } => {
            format!("softmax (T = {temperature}, top {top_k})")
        }
        Exploration::Thompson {
            trained_sd,
            prior_sd,
            top_k,
        } => format!("Thompson (σ trained {trained_sd}, prior {prior_sd}, top {top_k})"),
        other => format!("{other:?}"),
    }
}

pub(super) fn write_report(report: &LoopReport, out: &Path) -> anyhow::Result<()> {
    let md = out.join("report.md");
    std::fs::write(&md, report.to_markdown())
        .with_context(|| format!("writing {}", md.display()))?;
    let json = out.join("report.json");
    std::fs::write(&json, report.to_json()?)
        .with_context(|| format!("writing {}", json.display()))?;
    report.plot_svg(&out.join("rounds.svg"))?;
    eprintln!(
        "loop: wrote {}, {} and {}",
        md.display(),
        json.display(),
        out.join("rounds.svg").display()
    );
    Ok(())
}
