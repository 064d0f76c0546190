//! The `evals` crate (being written).
