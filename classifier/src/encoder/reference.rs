//! candle's own `BertModel`, run op by op on a padded batch: the implementation this crate
//! shipped before its packed forward pass, kept as the parity reference for tests and as the
//! baseline `switchyard bench encoder --reference` times beside it.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::BertModel;

use crate::Error;

/// all-MiniLM-L6-v2 through candle's `BertModel`, mean-pooled and normalised.
pub struct CandleEncoder {
    model: BertModel,
    pad: u32,
}

impl CandleEncoder {
    /// Loads and verifies the weights in `dir`, as [`crate::Encoder::load`] does.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let (config, vb) = super::read_verified(dir)?;
        Ok(Self {
            model: BertModel::load(vb, &config)?,
            pad: 0,
        })
    }

    /// Runs the model on token ids, padding each text to the longest of the batch (masked out
    /// of attention and pooling).
    pub fn forward(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, Error> {
        let device = Device::Cpu;
        let batch = ids.len();
        let len = ids.iter().map(Vec::len).max().unwrap_or(0);
        if batch == 0 {
            return Ok(Vec::new());
        }
        let mut flat_ids = Vec::with_capacity(batch * len);
        let mut flat_mask = Vec::with_capacity(batch * len);
        for row in ids {
            flat_ids.extend_from_slice(row);
            flat_ids.extend(std::iter::repeat_n(self.pad, len - row.len()));
            flat_mask.extend(std::iter::repeat_n(1u32, row.len()));
            flat_mask.extend(std::iter::repeat_n(0u32, len - row.len()));
        }
        let input_ids = Tensor::from_vec(flat_ids, (batch, len), &device)?;
        let mask = Tensor::from_vec(flat_mask, (batch, len), &device)?;
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = self
            .model
            .forward(&input_ids, &token_type_ids, Some(&mask))?;

        // Mean over real tokens only, then unit length.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let normalized = mean.broadcast_div(&norms)?;
        Ok(normalized.to_vec2::<f32>()?)
    }
}
