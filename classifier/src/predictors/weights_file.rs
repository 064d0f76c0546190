//! Reading and writing `weights.safetensors` as named `f32` and `u8` tensors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::{ModelPriors, PredictorError, WEIGHTS_FILE};

/// Collects named tensors, then writes them in one file.
#[derive(Default)]
pub(crate) struct WeightsWriter {
    tensors: HashMap<String, Tensor>,
}

impl WeightsWriter {
    pub(crate) fn f32(
        &mut self,
        name: &str,
        data: &[f32],
        shape: &[usize],
    ) -> Result<(), PredictorError> {
        let t = Tensor::from_slice(data, shape, &Device::Cpu).map_err(|source| {
            PredictorError::Weights {
                path: PathBuf::from(WEIGHTS_FILE),
                source,
            }
        })?;
        self.tensors.insert(name.to_owned(), t);
        Ok(())
    }

    pub(crate) fn mask(
        &mut self,
        name: &str,
        data: &[bool],
        shape: &[usize],
    ) -> Result<(), PredictorError> {
        let bytes: Vec<u8> = data.iter().map(|&b| u8::from(b)).collect();
        let t = Tensor::from_slice(&bytes, shape, &Device::Cpu).map_err(|source| {
            PredictorError::Weights {
                path: PathBuf::from(WEIGHTS_FILE),
                source,
            }
        })?;
        self.tensors.insert(name.to_owned(), t);
        Ok(())
    }

    pub(crate) fn priors(&mut self, p: &ModelPriors) -> Result<(), PredictorError> {
        let m = p.len();
        self.f32("prior.quality", &p.quality, &[m])?;
        self.f32("prior.log_tokens", &p.log_tokens, &[m])?;
        self.mask("prior.quality_labelled", &p.quality_labelled, &[m])?;
        self.mask("prior.tokens_labelled", &p.tokens_labelled, &[m])
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        std::fs::create_dir_all(dir).map_err(PredictorError::io(dir))?;
        let path = dir.join(WEIGHTS_FILE);
        candle_core::safetensors::save(&self.tensors, &path)
            .map_err(|source| PredictorError::Weights { path, source })
    }
}

/// The tensors of one weights file, checked by name, dtype and shape on the way out.
pub(crate) struct WeightsReader {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl WeightsReader {
    pub(crate) fn open(dir: &Path) -> Result<Self, PredictorError> {
        let path = dir.join(WEIGHTS_FILE);
        if !path.exists() {
            return Err(PredictorError::Io {
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "weights file is missing",
                ),
                path,
            });
        }
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|source| {
            PredictorError::Weights {
                path: path.clone(),
                source,
            }
        })?;
        Ok(Self { path, tensors })
    }

    fn err(&self, tensor: &str, reason: String) -> PredictorError {
        PredictorError::WeightsTensor {
            path: self.path.clone(),
            tensor: tensor.to_owned(),
            reason,
        }
    }

    fn tensor(
        &self,
        name: &str,
        dtype: DType,
        shape: Option<&[usize]>,
    ) -> Result<&Tensor, PredictorError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| self.err(name, "is missing".into()))?;
        if t.dtype() != dtype {
            return Err(self.err(name, format!("dtype {:?}, expected {dtype:?}", t.dtype())));
        }
        if let Some(shape) = shape {
            if t.dims() != shape {
                return Err(self.err(name, format!("shape {:?}, expected {shape:?}", t.dims())));
            }
        }
        Ok(t)
    }

    /// An `f32` tensor of exactly `shape`, flattened row-major.
    pub(crate) fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, PredictorError> {
        let t = self.tensor(name, DType::F32, Some(shape))?;
        self.finite_values(name, t)
    }

    /// An `f32` tensor of any shape, flattened, with its dimensions.
    pub(crate) fn f32_any(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), PredictorError> {
        let t = self.tensor(name, DType::F32, None)?;
        Ok((self.finite_values(name, t)?, t.dims().to_vec()))
    }

    /// The tensor's values, refused if any is NaN or infinite: training never writes one, so a
    /// non-finite weight means a damaged file, and serving it would give NaN estimates that the
    /// policy cannot rank (a load error names the file and tensor instead).
    fn finite_values(&self, name: &str, t: &Tensor) -> Result<Vec<f32>, PredictorError> {
        let data = t
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.err(name, e.to_string()))?;
        if let Some(at) = data.iter().position(|v| !v.is_finite()) {
            return Err(self.err(
                name,
                format!(
                    "value {at} is {}; the file is damaged, retrain or restore it",
                    data[at]
                ),
            ));
        }
        Ok(data)
    }

    /// A `u8` 0/1 tensor of exactly `shape` as booleans.
    pub(crate) fn mask(&self, name: &str, shape: &[usize]) -> Result<Vec<bool>, PredictorError> {
        let t = self.tensor(name, DType::U8, Some(shape))?;
        let v = t
            .flatten_all()
            .and_then(|t| t.to_vec1::<u8>())
            .map_err(|e| self.err(name, e.to_string()))?;
        Ok(v.into_iter().map(|b| b != 0).collect())
    }

    /// Whether a tensor of that name exists.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub(crate) fn priors(&self, m: usize) -> Result<ModelPriors, PredictorError> {
        Ok(ModelPriors {
            quality: self.f32("prior.quality", &[m])?,
            log_tokens: self.f32("prior.log_tokens", &[m])?,
            quality_labelled: self.mask("prior.quality_labelled", &[m])?,
            tokens_labelled: self.mask("prior.tokens_labelled", &[m])?,
        })
    }

    /// An error about a tensor, for checks that only the caller can make.
    pub(crate) fn invalid(&self, tensor: &str, reason: impl Into<String>) -> PredictorError {
        self.err(tensor, reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_weight_is_refused_with_the_tensor_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut w = WeightsWriter::default();
        w.f32("ok", &[1.0, 2.0], &[2]).expect("write");
        w.f32("bad", &[1.0, f32::NAN, 3.0], &[3]).expect("write");
        w.f32("inf", &[f32::INFINITY], &[1]).expect("write");
        w.save(dir.path()).expect("save");
        let r = WeightsReader::open(dir.path()).expect("open");
        assert_eq!(r.f32("ok", &[2]).expect("finite"), vec![1.0, 2.0]);
        let err = r.f32("bad", &[3]).expect_err("NaN refused").to_string();
        assert!(
            err.contains("bad") && err.contains("value 1 is NaN"),
            "{err}"
        );
        let err = r.f32_any("inf").expect_err("inf refused").to_string();
        assert!(
            err.contains("inf") && err.contains("value 0 is inf"),
            "{err}"
        );
    }
}
