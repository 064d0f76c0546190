//! Encoder tests against the real weights: parity with an independent reference, batching,
//! and awkward inputs. They need `switchyard model fetch` to have run (CI does it first); set
//! `SWITCHYARD_ENCODER_DIR` to use weights elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod packed;
mod parity;
mod service_real;
