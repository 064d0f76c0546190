use crate::ModelId;

/// Error type of the trait seams: implementations live in other crates with their own errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Turns texts into unit-length vectors.
pub trait Embedder: Send + Sync {
    /// Vector length.
    fn dim(&self) -> usize;
    /// A stable identifier of the weights (the SHA-256 of the safetensors file), stored with
    /// caches and artifacts so that vectors from different encoders never mix.
    fn fingerprint(&self) -> &str;
    /// Embeds a batch; the output has one vector per input, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError>;
}

/// A predictor's estimate for one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelEstimate {
    /// Predicted quality in `[0, 1]`.
    pub quality: f64,
    /// Predicted output tokens.
    pub output_tokens: f64,
}

/// Predicts, from a prompt embedding, how every known model would do.
pub trait QualityPredictor: Send + Sync {
    /// The models this predictor knows, in the order of [`QualityPredictor::predict`]'s output.
    fn models(&self) -> &[ModelId];
    /// One estimate per model of [`QualityPredictor::models`].
    fn predict(&self, embedding: &[f32]) -> Vec<ModelEstimate>;
    /// How this predictor's estimates carry a prompt's difficulty over to models it does not
    /// know ([`crate::policy::DifficultyLink`]); `None` when it was not fitted.
    fn difficulty_link(&self) -> Option<&crate::policy::DifficultyLink> {
        None
    }

    /// The live-probe fit of a model this predictor was not trained on
    /// ([`crate::OnboardedModel`]), when its artifact carries one.
    fn onboarded(&self, _model: &ModelId) -> Option<&crate::OnboardedModel> {
        None
    }

    /// What tells this fit from another of the same models (an artifact's creation time):
    /// the same on every replica that loaded it, so answers cached under one fit's choices
    /// are never served once another routes (`None`: one that never changes).
    fn generation(&self) -> Option<&str> {
        None
    }

    /// Whether the estimates are learned per prompt or the fixed policy's means.
    fn routing(&self) -> crate::RoutingMode {
        crate::RoutingMode::Learned
    }

    /// The uncertainty-aware tie-break ([`crate::policy::TieBreak`]) the policy applies to
    /// this predictor's estimates; `None`: the plain policy.
    fn tie_break(&self) -> Option<&crate::policy::TieBreak> {
        None
    }
}
