//! The `datasets` crate (being written).
