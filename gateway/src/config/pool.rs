//! The candidate pool of offline routing (`switchyard route`, the int8 gate at start), where no
//! request and no provider list narrows it.

use router_core::ModelId;

use super::Config;

impl Config {
    /// The configured candidates; else the trained router's models (`trained`, empty without
    /// one); else every model in the catalog.
    pub fn offline_pool(&self, trained: &[ModelId]) -> Vec<ModelId> {
        if !self.candidates.is_empty() {
            self.candidates.clone()
        } else if !trained.is_empty() {
            trained.to_vec()
        } else {
            self.catalog.entries().map(|e| e.spec.id.clone()).collect()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::GatewayConfig;

    #[test]
    fn candidates_then_the_trained_models_then_the_catalog() {
        let mut config = Config::resolve(GatewayConfig::default(), &|_| None).unwrap();
        let catalog = config.offline_pool(&[]);
        assert_eq!(catalog.len(), config.catalog.entries().count());
        let trained = [ModelId::new("gpt-4o-mini"), ModelId::new("gpt-4o")];
        assert_eq!(config.offline_pool(&trained), trained.to_vec());
        config.candidates = vec![ModelId::new("claude-haiku-4.5")];
        assert_eq!(config.offline_pool(&trained), config.candidates);
    }
}
