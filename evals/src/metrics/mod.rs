//! The field's routing metrics: RouterBench's hull and AIQ, RouteLLM's PGR/APGR/CPT, and the
//! fixed points readers ask for first.

pub mod aiq;
pub mod cross_fit;
pub mod fixed_points;
pub mod hull;
pub mod routellm;
