//! The `gateway` crate (being written).
