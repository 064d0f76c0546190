use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use router_core::ModelId;
use serde::{Deserialize, Serialize};

use super::PredictorError;
use crate::adapter::ADAPTER_FILE;
use crate::{EncoderConfig, ExtraLayers, RoutingAdapter};

/// The manifest's file name inside an artifact directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The weights' file name inside an artifact directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// The manifest format this build writes and reads.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// Which predictor an artifact holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PredictorKind {
    /// [`super::KnnPredictor`].
    Knn,
    /// [`super::LinearPredictor`].
    Linear,
    /// [`super::MlpPredictor`].
    Mlp,
    /// [`super::MfPredictor`].
    Mf,
    /// [`super::StackedPredictor`]: base predictors combined per model.
    Stacked,
    /// [`super::MfPredictor`] in its item-response form (a shared difficulty axis).
    Irt,
    /// [`super::TaskPriorsPredictor`]: no weights, only per-task estimates fitted from labels
    /// on top of the catalog's priors.
    #[serde(rename = "task_priors")]
    TaskPriors,
    /// [`super::TaskMixPredictor`]: `P(task | prompt)` times each task's per-model means.
    #[serde(rename = "task_mix")]
    TaskMix,
}

impl PredictorKind {
    /// The name written in manifests (`knn`, `linear`, `mlp`, `mf`, `stacked`, `irt`,
    /// `task_priors`, `task_mix`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Knn => "knn",
            Self::Linear => "linear",
            Self::Mlp => "mlp",
            Self::Mf => "mf",
            Self::Stacked => "stacked",
            Self::Irt => "irt",
            Self::TaskPriors => "task_priors",
            Self::TaskMix => "task_mix",
        }
    }
}

/// `manifest.json`: what an artifact is, what it was trained on, and how well it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT_VERSION`] at the time of writing.
    pub format_version: u32,
    /// Which predictor the weights belong to.
    pub kind: PredictorKind,
    /// Fingerprint of the encoder that produced the training embeddings
    /// ([`router_core::Embedder::fingerprint`]); empty when unknown.
    pub encoder_sha256: String,
    /// Embedding length the predictor expects.
    pub embedding_dim: usize,
    /// The models, in prediction order.
    pub models: Vec<ModelId>,
    /// [`super::TrainingSet::sha256`] of the fitting data.
    pub training_data_sha256: String,
    /// When the artifact was built, RFC 3339 UTC (`2026-01-31T12:00:00Z`).
    pub created_at: String,
    /// The fitting configuration, free-form.
    pub hyperparameters: serde_json::Value,
    /// Validation numbers and timings, free-form.
    pub metrics: serde_json::Value,
    /// How this artifact's view of a prompt's difficulty moves the priors of models it does
    /// not know (`scripts/prompt_difficulty.py` fits it); absent in older artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<router_core::policy::DifficultyLink>,
    /// How the artifact routes: `learned`, or `fixed_policy` where `switchyard train`'s
    /// nested validation found no learned predictor better than the λ-optimal fixed choice
    /// (the weights then predict the training means for every prompt). Older manifests
    /// without the field are `learned`.
    #[serde(default)]
    pub routing: router_core::RoutingMode,
    /// The encoder settings the training embeddings were made with. The gateway encodes with
    /// the same, so that a prompt longer than the budget is cut the way the training prompts
    /// were. Absent in older artifacts: see [`Manifest::encoder_config`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderSettings>,
    /// Models this artifact was not trained on, fitted from live probes
    /// (`switchyard onboard --live`): their per-task estimates replace the catalog's priors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onboarded: Vec<router_core::OnboardedModel>,
    /// The uncertainty-aware tie-break (`switchyard train --tie-margin`): the training means of
    /// the models and the margin by which a prompt's estimates must beat the λ-optimal fixed
    /// choice to leave it. Absent: the plain policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_break: Option<router_core::policy::TieBreak>,
}

/// How the encoder ran when an artifact's training embeddings were made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderSettings {
    /// Most tokens per prompt, special tokens included (head and tail kept).
    pub max_tokens: usize,
    /// Earlier hidden layers pooled after the last ([`crate::ExtraLayers`]); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_layers: Vec<usize>,
    /// The routing adapter's digest ([`crate::RoutingAdapter::digest`]) when one is appended
    /// to the embedding; its weights are `adapter.safetensors` beside the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Whether the prompt statistics ([`crate::prompt_features`]) come last
    /// ([`crate::Encoder::with_prompt_features`]); absent in older manifests, which have none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prompt_features: bool,
}

impl EncoderSettings {
    /// The settings of an encoder configuration.
    pub fn of(config: &EncoderConfig) -> Self {
        Self {
            max_tokens: config.max_tokens,
            extra_layers: config.extra_layers.layers(),
            adapter: None,
            prompt_features: false,
        }
    }
}

impl Manifest {
    /// A manifest stamped with the current time, an empty encoder fingerprint and no metrics.
    pub fn new(
        kind: PredictorKind,
        models: Vec<ModelId>,
        embedding_dim: usize,
        training_data_sha256: String,
        hyperparameters: serde_json::Value,
    ) -> Self {
        Self {
            format_version: MANIFEST_FORMAT_VERSION,
            kind,
            encoder_sha256: String::new(),
            embedding_dim,
            models,
            training_data_sha256,
            created_at: now_rfc3339(),
            hyperparameters,
            metrics: serde_json::Value::Object(serde_json::Map::new()),
            difficulty: None,
            routing: router_core::RoutingMode::Learned,
            encoder: None,
            onboarded: Vec::new(),
            tie_break: None,
        }
    }

    /// The encoder configuration to serve this artifact with: its `encoder` settings; for an
    /// older artifact the token budget its training recorded (`metrics.data.encoder_max_tokens`),
    /// else the encoder's default. `dir` is the artifact's folder, named in errors.
    pub fn encoder_config(&self, dir: &Path) -> Result<EncoderConfig, PredictorError> {
        let field = |reason: String| PredictorError::ManifestField {
            path: dir.join(MANIFEST_FILE),
            field: "encoder",
            reason,
        };
        let mut config = EncoderConfig::default();
        match &self.encoder {
            Some(settings) => {
                config.max_tokens = settings.max_tokens;
                let list: Vec<String> =
                    settings.extra_layers.iter().map(usize::to_string).collect();
                config.extra_layers = ExtraLayers::parse(&list.join(",")).map_err(field)?;
            }
            None => {
                let recorded = self.metrics["data"]["encoder_max_tokens"].as_u64();
                if let Some(tokens) = recorded {
                    config.max_tokens = usize::try_from(tokens).unwrap_or(usize::MAX);
                }
            }
        }
        if !(2..=512).contains(&config.max_tokens) {
            return Err(field(format!(
                "max_tokens {} is outside 2..=512",
                config.max_tokens
            )));
        }
        Ok(config)
    }

    /// Whether the encoder must append the prompt statistics for this artifact
    /// (`encoder.prompt_features`).
    pub fn prompt_features(&self) -> bool {
        self.encoder.as_ref().is_some_and(|s| s.prompt_features)
    }

    /// The routing adapter the encoder must append for this artifact (its `encoder.adapter`),
    /// read from `dir` and checked against the digest the manifest records; `None` when the
    /// artifact has none.
    pub fn load_adapter(&self, dir: &Path) -> Result<Option<RoutingAdapter>, PredictorError> {
        let Some(digest) = self.encoder.as_ref().and_then(|e| e.adapter.as_deref()) else {
            return Ok(None);
        };
        let path = dir.join(ADAPTER_FILE);
        let field = |reason: String| PredictorError::ManifestField {
            path: dir.join(MANIFEST_FILE),
            field: "encoder.adapter",
            reason,
        };
        let adapter = RoutingAdapter::load(&path).map_err(|e| field(e.to_string()))?;
        if adapter.digest() != digest {
            return Err(field(format!(
                "{} has digest {}, the manifest names {digest}; the folder mixes two trainings, copy the artifact whole or retrain it",
                path.display(),
                adapter.digest()
            )));
        }
        Ok(Some(adapter))
    }

    /// Fails unless the artifact was trained with the encoder whose fingerprint is given; an
    /// artifact with an empty `encoder_sha256` is accepted (fitted on unnamed embeddings).
    pub fn check_encoder(&self, fingerprint: &str) -> Result<(), PredictorError> {
        if self.encoder_sha256.is_empty() || self.encoder_sha256 == fingerprint {
            Ok(())
        } else {
            Err(PredictorError::EncoderMismatch {
                artifact: self.encoder_sha256.clone(),
                encoder: fingerprint.to_owned(),
            })
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<(), PredictorError> {
        let path = dir.join(MANIFEST_FILE);
        let json =
            serde_json::to_vec_pretty(self).map_err(|source| PredictorError::ManifestJson {
                path: path.clone(),
                field: ".".into(),
                source,
            })?;
        std::fs::write(&path, json).map_err(PredictorError::io(&path))
    }

    pub(crate) fn read(dir: &Path) -> Result<Self, PredictorError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&path).map_err(PredictorError::io(&path))?;
        let de = &mut serde_json::Deserializer::from_slice(&text);
        let manifest: Self =
            serde_path_to_error::deserialize(de).map_err(|e| PredictorError::ManifestJson {
                path: path.clone(),
                field: e.path().to_string(),
                source: e.into_inner(),
            })?;
        let invalid = |field, reason: String| PredictorError::ManifestField {
            path: path.clone(),
            field,
            reason,
        };
        if manifest.format_version != MANIFEST_FORMAT_VERSION {
            return Err(invalid(
                "format_version",
                format!(
                    "version {} is not supported (this build reads {MANIFEST_FORMAT_VERSION}); retrain with this version",
                    manifest.format_version
                ),
            ));
        }
        if manifest.models.is_empty() && manifest.kind != PredictorKind::TaskPriors {
            return Err(invalid(
                "models",
                "is empty; an artifact must name at least one model".into(),
            ));
        }
        if manifest.embedding_dim == 0 {
            return Err(invalid("embedding_dim", "is 0".into()));
        }
        for (i, o) in manifest.onboarded.iter().enumerate() {
            o.validate()
                .map_err(|e| invalid("onboarded", e.to_string()))?;
            if manifest.models.contains(&o.model) {
                return Err(invalid(
                    "onboarded",
                    format!(
                        "`{}` is also a trained model of this artifact; remove one of the two",
                        o.model
                    ),
                ));
            }
            if manifest.onboarded[..i].iter().any(|p| p.model == o.model) {
                return Err(invalid("onboarded", format!("`{}` appears twice", o.model)));
            }
        }
        if let Some(tie) = &manifest.tie_break {
            tie.validate(&manifest.models)
                .map_err(|reason| invalid("tie_break", reason))?;
        }
        Ok(manifest)
    }
}

/// The current time as RFC 3339 UTC, without a date-time dependency.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`,
/// <https://howardhinnant.github.io/date_algorithms.html#civil_from_days>).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::new(
            PredictorKind::Linear,
            vec![ModelId::new("m")],
            384,
            String::new(),
            serde_json::Value::Null,
        )
    }

    #[test]
    fn a_manifest_json_error_names_a_field_only_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(MANIFEST_FILE);
        for (text, needle, field) in [
            ("{", "EOF while parsing", None),
            ("", "EOF while parsing", None),
            ("[1]", "invalid length", None),
            (
                "{\"format_version\": \"x\"}",
                "invalid type",
                Some("format_version"),
            ),
        ] {
            std::fs::write(&file, text).unwrap();
            let e = Manifest::read(dir.path()).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.contains("re-run `switchyard train`"), "{text}: {e}");
            match field {
                Some(f) => assert!(e.contains(&format!("field `{f}`: ")), "{text}: {e}"),
                None => assert!(!e.contains("field `"), "{text}: {e}"),
            }
        }
    }

    #[test]
    fn the_encoder_config_comes_from_settings_then_recorded_budget_then_default() {
        let dir = Path::new("art");
        let mut m = manifest();
        assert_eq!(m.encoder_config(dir).unwrap(), EncoderConfig::default());
        // Older artifacts recorded only the budget, in their metrics.
        m.metrics = serde_json::json!({"data": {"encoder_max_tokens": 128}});
        assert_eq!(m.encoder_config(dir).unwrap().max_tokens, 128);
        m.encoder = Some(EncoderSettings {
            max_tokens: 64,
            extra_layers: vec![2, 4],
            adapter: None,
            prompt_features: false,
        });
        let c = m.encoder_config(dir).unwrap();
        assert_eq!((c.max_tokens, c.extra_layers.label()), (64, "2,4".into()));
        // Written and read back unchanged; absent settings are not written at all.
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["encoder"]["extra_layers"], serde_json::json!([2, 4]));
        assert!(serde_json::to_value(manifest())
            .unwrap()
            .get("encoder")
            .is_none());
        for bad in [1, 513] {
            m.encoder = Some(EncoderSettings {
                max_tokens: bad,
                extra_layers: Vec::new(),
                adapter: None,
                prompt_features: false,
            });
            let e = m.encoder_config(dir).unwrap_err().to_string();
            assert!(e.contains("max_tokens") && e.contains("art"), "{e}");
        }
        m.encoder = Some(EncoderSettings {
            max_tokens: 128,
            extra_layers: vec![40],
            adapter: None,
            prompt_features: false,
        });
        assert!(m.encoder_config(dir).is_err());
    }

    #[test]
    fn an_artifacts_adapter_is_read_and_checked_against_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest();
        assert!(m.load_adapter(dir.path()).unwrap().is_none());
        let mut adapter = RoutingAdapter::identity(2, vec![0.1; 2 * crate::EMBEDDING_DIM]);
        adapter.query[3] = 1.5;
        m.encoder = Some(EncoderSettings {
            max_tokens: 128,
            extra_layers: Vec::new(),
            adapter: Some(adapter.digest()),
            prompt_features: false,
        });
        // Named but missing: the error names the field and the file.
        let e = m.load_adapter(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("encoder.adapter") && e.contains(ADAPTER_FILE),
            "{e}"
        );
        adapter.save(&dir.path().join(ADAPTER_FILE)).unwrap();
        assert_eq!(m.load_adapter(dir.path()).unwrap(), Some(adapter.clone()));
        // Another training's adapter in the folder is refused.
        adapter.query[3] = 2.0;
        adapter.save(&dir.path().join(ADAPTER_FILE)).unwrap();
        let e = m.load_adapter(dir.path()).unwrap_err().to_string();
        assert!(e.contains("digest"), "{e}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
