//! Offline evaluation of learned routers with the field's metrics, exactly as defined.
//!
//! - [`EvalSet`] (realised quality and cost, prompts × models) and [`RouterScores`] (a router's
//!   predictions on the same grid) are the inputs; prompts lacking a label for any model are
//!   dropped upstream, so every router is scored on the same prompts.
//! - [`sweep`]: the λ-sweep `argmax_m q̂ − λ·ĉ` giving a router's cost–quality points.
//! - [`metrics`]: RouterBench's non-decreasing convex hull and AIQ, RouteLLM's PGR, APGR and
//!   CPT, and the fixed points against the best single model.
//! - [`baselines`]: single models, random routing at matched call shares, the zero router and
//!   the oracle.
//! - [`evaluate`] gathers all of it in a [`Report`] (serde; [`Report::to_markdown`],
//!   [`Report::plot_svg`]); [`SeedSummary`] aggregates reports over seeds as mean ± sd.
//! - [`paired`]: paired bootstrap over test prompts (AIQ differences with 95 % intervals);
//!   [`calibration`]: ECE and a reliability table of predicted P(correct).
//! - [`ope`]: off-policy estimates (IPS, self-normalised IPS, doubly robust) of a candidate
//!   router's quality and cost on logged traffic.

pub mod ab;
pub mod baselines;
pub mod calibration;
mod error;
mod input;
mod markdown;
pub mod metrics;
pub mod ope;
pub mod paired;
mod plot;
mod report;
mod rounds_plot;
mod seeds;
pub mod sweep;

pub use baselines::{SingleModel, ORACLE_LABEL, ZERO_ROUTER_LABEL};
pub use calibration::{Calibration, CalibrationBin};
pub use error::{Error, Result};
pub use input::{EvalSet, Point, RouterScores, TieBreak};
pub use metrics::{
    aiq::CostRange,
    fixed_points::FixedPoints,
    routellm::{CallCurvePoint, RouteLlmMetrics},
};
pub use paired::{BootstrapConfig, PairedDiff};
pub use report::{evaluate, EvalConfig, Report, RouterResult, ZeroRouter, REPORT_SCHEMA_VERSION};
pub use rounds_plot::{plot_rounds_svg, Interval, RoundPoint};
pub use seeds::{MeanSd, RouterSummary, SeedSummary};
pub use sweep::{LambdaGrid, SweepPoint};
