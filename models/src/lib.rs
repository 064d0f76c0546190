//! The `models` crate (being written).
