//! The `training` crate (being written).
