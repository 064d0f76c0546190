//! Deployments: the providers (or keys) serving one catalog model, each with its own circuit
//! breaker and measured latency, put in a balanced order for every request so that each is
//! the others' failover (`crate::upstream::failover` walks them before the next model).
//!
//! A model without `[[deployments]]` has one target, its catalog provider, guarded by that
//! provider's breaker as before (a vendor outage opens it once for all the vendor's models).
//! A configured deployment has its own breaker, keyed by provider and upstream name, so one
//! dead key or Azure deployment leaves the model's other deployments serving.
//!
//! Orders (see [`weighted_order`], [`latency_order`]):
//! - `weighted`: a random permutation in which each deployment comes first with probability
//!   weight / total weight, and so on down the remainder.
//! - `latency`: deployments never measured first (so each gets measured), then by ascending
//!   EWMA of their time to first token; with probability `latency_exploration` the weighted
//!   order instead, so that a deployment that was slow once is measured again when it has
//!   recovered instead of being starved forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use router_core::{ModelId, ProviderId};

use crate::config::{Balancing, CircuitBreakerConfig, DeploymentPlan};
use crate::upstream::circuit_breaker::CircuitBreaker;
use crate::upstream::failover::{Upstream, Upstreams};

/// Weight of the newest sample in the latency EWMA: about the last five calls matter, so a
/// deployment that slows down loses its place within a handful of requests.
const EWMA_ALPHA: f64 = 0.3;

/// One configured deployment of a model.
#[derive(Debug)]
pub struct Deployment {
    /// The provider serving it.
    pub provider: ProviderId,
    /// The model name sent upstream.
    pub upstream_name: String,
    /// Its share of traffic under `weighted`.
    pub weight: u32,
    /// Its own breaker.
    pub breaker: CircuitBreaker,
    /// EWMA of the time to first token in seconds; `None` until the first measure.
    latency: Mutex<Option<f64>>,
}

impl Deployment {
    /// Folds one measured time to first token into the EWMA.
    pub fn observe(&self, ttft: Duration) {
        let sample = ttft.as_secs_f64();
        let mut ewma = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        *ewma = Some(match *ewma {
            Some(old) => old + EWMA_ALPHA * (sample - old),
            None => sample,
        });
    }

    /// The EWMA in seconds, if measured.
    pub fn latency(&self) -> Option<f64> {
        *self.latency.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Something failover can call: a model on one provider under one upstream name.
#[derive(Clone)]
pub struct Target {
    /// The catalog model.
    pub model: ModelId,
    /// The name sent upstream.
    pub upstream_name: String,
    /// The provider's adapter.
    pub upstream: Arc<Upstream>,
    /// The configured deployment; `None`: the catalog default, guarded by the provider's
    /// breaker.
    pub deployment: Option<Arc<Deployment>>,
}

impl Target {
    /// The breaker guarding this target.
    pub fn breaker(&self) -> &CircuitBreaker {
        match &self.deployment {
            Some(d) => &d.breaker,
            None => &self.upstream.breaker,
        }
    }

    /// The provider id.
    pub fn provider(&self) -> &ProviderId {
        &self.upstream.id
    }
}

struct ModelDeployments {
    strategy: Balancing,
    members: Vec<Arc<Deployment>>,
}

/// Every model's configured deployments and the generator ordering them.
pub struct Deployments {
    by_model: HashMap<ModelId, ModelDeployments>,
    latency_exploration: f64,
    /// One generator for all requests, locked for a few draws; seeded runs are reproducible.
    rng: Mutex<StdRng>,
}

impl std::fmt::Debug for Deployments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_model.keys()).finish()
    }
}

impl Default for Deployments {
    fn default() -> Self {
        Deployments::new(&DeploymentPlan::default(), CircuitBreakerConfig::default())
    }
}

impl Deployments {
    /// The deployments of `plan`, each with a closed breaker of `breakers`' settings.
    pub fn new(plan: &DeploymentPlan, breakers: CircuitBreakerConfig) -> Self {
        let by_model = plan
            .by_model
            .iter()
            .map(|(model, specs)| {
                let members = specs
                    .iter()
                    .map(|s| {
                        Arc::new(Deployment {
                            provider: s.provider.clone(),
                            upstream_name: s.upstream_name.clone(),
                            weight: s.weight,
                            breaker: CircuitBreaker::new(breakers),
                            latency: Mutex::new(None),
                        })
                    })
                    .collect();
                let strategy = plan.strategy_of(model);
                (model.clone(), ModelDeployments { strategy, members })
            })
            .collect();
        let rng = match plan.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Deployments {
            by_model,
            latency_exploration: plan.latency_exploration,
            rng: Mutex::new(rng),
        }
    }

    /// Whether `model` can be called: a live provider serves one of its deployments (or, with
    /// none configured, its catalog provider).
    pub fn serves(&self, model: &ModelId, catalog: &models::Catalog, ups: &Upstreams) -> bool {
        match self.by_model.get(model) {
            Some(d) => d.members.iter().any(|m| ups.get(&m.provider).is_some()),
            None => catalog
                .get(model)
                .is_ok_and(|e| ups.get(&e.spec.provider).is_some()),
        }
    }

    /// The targets of `order`, model by model, each model's deployments in a balanced order
    /// (deployments whose provider is not live are left out).
    pub fn targets(
        &self,
        order: &[ModelId],
        catalog: &models::Catalog,
        ups: &Upstreams,
    ) -> Vec<Target> {
        let mut targets = Vec::with_capacity(order.len());
        for model in order {
            let Some(deps) = self.by_model.get(model) else {
                let Ok(entry) = catalog.get(model) else {
                    continue;
                };
                if let Some(up) = ups.get(&entry.spec.provider) {
                    targets.push(Target {
                        model: model.clone(),
                        upstream_name: entry.upstream_name.clone(),
                        upstream: Arc::clone(up),
                        deployment: None,
                    });
                }
                continue;
            };
            for i in self.order(deps) {
                let d = &deps.members[i];
                if let Some(up) = ups.get(&d.provider) {
                    targets.push(Target {
                        model: model.clone(),
                        upstream_name: d.upstream_name.clone(),
                        upstream: Arc::clone(up),
                        deployment: Some(Arc::clone(d)),
                    });
                }
            }
        }
        targets
    }

    fn order(&self, deps: &ModelDeployments) -> Vec<usize> {
        if deps.members.len() == 1 {
            return vec![0];
        }
        let weights: Vec<u32> = deps.members.iter().map(|d| d.weight).collect();
        let (draws, explore) = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            let draws: Vec<f64> = weights.iter().map(|_| rng.gen::<f64>()).collect();
            let explore = deps.strategy == Balancing::Latency
                && self.latency_exploration > 0.0
                && rng.gen::<f64>() < self.latency_exploration;
            (draws, explore)
        };
        let weighted = weighted_order(&weights, &draws);
        match deps.strategy {
            Balancing::Weighted => weighted,
            Balancing::Latency if explore => weighted,
            Balancing::Latency => {
                let latencies: Vec<Option<f64>> =
                    deps.members.iter().map(|d| d.latency()).collect();
                latency_order(&latencies, &weighted)
            }
        }
    }
}

/// A weighted random permutation of `weights`' indices from uniform `draws` in [0, 1): each
/// index gets an exponential clock `-ln(1 - u) / w` and the clocks are sorted, which puts
/// index i first with probability w_i / Σw and orders the rest the same way (the
/// Efraimidis–Spirakis scheme). Pure, so that it is tested with fixed draws.
pub fn weighted_order(weights: &[u32], draws: &[f64]) -> Vec<usize> {
    let mut keyed: Vec<(f64, usize)> = weights
        .iter()
        .zip(draws)
        .enumerate()
        .map(|(i, (w, u))| (-(1.0 - u).max(f64::MIN_POSITIVE).ln() / f64::from(*w), i))
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// `weighted` reordered by latency: unmeasured deployments first (in `weighted`'s order), then
/// measured ones fastest first (ties keep `weighted`'s order).
pub fn latency_order(latencies: &[Option<f64>], weighted: &[usize]) -> Vec<usize> {
    let mut order = weighted.to_vec();
    // A stable sort: equal keys keep the weighted order.
    order.sort_by(|a, b| match (latencies[*a], latencies[*b]) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.total_cmp(&y),
    });
    order
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::DeploymentSpec;

    #[test]
    fn weighted_order_is_a_permutation_led_by_weight() {
        let order = weighted_order(&[1, 1, 1], &[0.5, 0.1, 0.9]);
        assert_eq!(order, vec![1, 0, 2], "equal weights: smallest draw first");
        // A draw of 0.9 on weight 100 still beats 0.1 on weight 1: -ln(0.1)/100 < -ln(0.9).
        assert_eq!(weighted_order(&[1, 100], &[0.1, 0.9]), vec![1, 0]);
        // u = 0 and u → 1 stay finite and ordered.
        let edge = weighted_order(&[1, 1], &[0.0, 0.999_999_999]);
        assert_eq!(edge, vec![0, 1]);
    }

    #[test]
    fn weighted_first_choice_follows_the_weights() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut firsts = [0u32; 2];
        for _ in 0..20_000 {
            let draws = [rng.gen::<f64>(), rng.gen::<f64>()];
            firsts[weighted_order(&[3, 1], &draws)[0]] += 1;
        }
        let share = f64::from(firsts[0]) / 20_000.0;
        assert!((share - 0.75).abs() < 0.02, "{share}");
    }

    #[test]
    fn latency_order_measures_new_deployments_then_prefers_the_fastest() {
        let weighted = [2, 0, 1, 3];
        let lat = [Some(0.5), None, Some(0.1), Some(0.1)];
        assert_eq!(latency_order(&lat, &weighted), vec![1, 2, 3, 0]);
    }

    #[test]
    fn the_ewma_moves_toward_new_samples() {
        let plan = DeploymentPlan {
            by_model: [(
                ModelId::new("m"),
                vec![DeploymentSpec {
                    provider: ProviderId::new("p"),
                    upstream_name: "m".into(),
                    weight: 1,
                }],
            )]
            .into_iter()
            .collect(),
            ..DeploymentPlan::default()
        };
        let deps = Deployments::new(&plan, CircuitBreakerConfig::default());
        let d = &deps.by_model[&ModelId::new("m")].members[0];
        assert_eq!(d.latency(), None);
        d.observe(Duration::from_secs(1));
        assert_eq!(d.latency(), Some(1.0));
        d.observe(Duration::from_secs(2));
        assert!((d.latency().unwrap() - 1.3).abs() < 1e-9);
    }
}
