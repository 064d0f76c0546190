//! A/B splits of `auto` traffic between router artifacts (`[experiment]`).
//!
//! Every arm shares the encoder: a prompt is embedded once, in the same queue and batches and
//! through the same embedding cache, and only the predictor head differs
//! ([`classifier::PredictorChoice`]). So arms compare routers, not encoder latency.
//!
//! Assignment is a hash, not a draw: SHA-256 of the experiment's name and the caller's unit
//! (the request's `user`, or its client key, as `sticky` says) mapped onto the arms' cumulative
//! shares. A caller stays on one arm across requests, restarts and replicas without any shared
//! state, and a new experiment name reshuffles everyone. Requests with no stable unit are
//! keyed on their request id: still split by share, not sticky (their rows say `unit =
//! "request"`).

use std::path::Path;
use std::sync::Arc;

use classifier::predictors::Artifact;
use classifier::PredictorChoice;
use router_core::{ArmAssignment, QualityPredictor};
use sha2::{Digest, Sha256};

use super::reload::{check_manifest, RunningEncoder};
use crate::config::{ArmRouter, Experiment, Sticky};
use crate::error::Error;

/// One arm, ready to route.
#[derive(Debug)]
pub struct LoadedArm {
    /// Its name.
    pub name: String,
    /// Upper end of its slice of `[0, 1)`.
    upper: f64,
    /// The predictor its prompts are scored with.
    pub choice: PredictorChoice,
}

/// The running experiment.
#[derive(Debug)]
pub struct Split {
    name: String,
    sticky: Sticky,
    arms: Vec<LoadedArm>,
}

/// The caller's identities an assignment may be keyed on.
#[derive(Clone, Copy, Debug)]
pub struct Unit<'a> {
    /// The request body's `user` field.
    pub user: Option<&'a str>,
    /// The client key's id.
    pub key_id: Option<&'a str>,
    /// The gateway's request id (always present; never sticky).
    pub request_id: &'a str,
}

impl Split {
    /// Loads every arm's artifact and checks it against the running encoder and `catalog`
    /// exactly as a hot reload would. An arm with an artifact needs the encoder service.
    pub fn load(
        experiment: &Experiment,
        service: Option<&classifier::Service>,
        catalog: &models::Catalog,
    ) -> Result<Split, Error> {
        let mut upper = 0.0;
        let mut arms = Vec::with_capacity(experiment.arms.len());
        for (i, arm) in experiment.arms.iter().enumerate() {
            upper += arm.share;
            let choice = match &arm.router {
                ArmRouter::Serving => PredictorChoice::Serving,
                ArmRouter::PriorsOnly => PredictorChoice::Fixed(None),
                ArmRouter::Artifact(dir) => {
                    let field = format!("experiment.arms[{i}].artifact");
                    PredictorChoice::Fixed(Some(load_arm(dir, service, catalog, &field)?))
                }
            };
            arms.push(LoadedArm {
                name: arm.name.clone(),
                upper,
                choice,
            });
        }
        // Rounding must not leave a sliver of [0, 1) past the last arm.
        if let Some(last) = arms.last_mut() {
            last.upper = 1.0;
        }
        Ok(Split {
            name: experiment.name.clone(),
            sticky: experiment.sticky,
            arms,
        })
    }

    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arm of `unit`, and the assignment its row records.
    pub fn assign(&self, unit: Unit<'_>) -> (&LoadedArm, ArmAssignment) {
        let (kind, value) = match self.sticky {
            Sticky::User => match (unit.user, unit.key_id) {
                (Some(u), _) => ("user", u),
                (None, Some(k)) => ("key", k),
                (None, None) => ("request", unit.request_id),
            },
            Sticky::Key => match (unit.key_id, unit.user) {
                (Some(k), _) => ("key", k),
                (None, Some(u)) => ("user", u),
                (None, None) => ("request", unit.request_id),
            },
            Sticky::Request => ("request", unit.request_id),
        };
        let point = unit_point(&self.name, value);
        let arm = self
            .arms
            .iter()
            .find(|a| point < a.upper)
            .or(self.arms.last())
            .unwrap_or_else(|| unreachable!("a checked experiment has at least two arms"));
        let assignment = ArmAssignment {
            experiment: self.name.clone(),
            arm: arm.name.clone(),
            unit: kind.to_owned(),
        };
        (arm, assignment)
    }
}

/// Where `value` falls in `[0, 1)` for experiment `name`: the top 53 bits of SHA-256 over the
/// two, length-prefixed so that no two (name, value) pairs share an input.
fn unit_point(name: &str, value: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) >> 11) as f64 / (1u64 << 53) as f64
}

fn load_arm(
    dir: &Path,
    service: Option<&classifier::Service>,
    catalog: &models::Catalog,
    field: &str,
) -> Result<Arc<dyn QualityPredictor>, Error> {
    let refused = |message: String| Error::ConfigInvalid {
        path: None,
        field: field.to_owned(),
        message,
    };
    let Some(service) = service else {
        return Err(refused(format!(
            "{}: an arm with its own artifact needs the encoder; run `switchyard model fetch` or start the gateway with a `[router] artifact`",
            dir.display()
        )));
    };
    let artifact = Artifact::load(dir).map_err(|e| refused(format!("{}: {e}", dir.display())))?;
    check_manifest(
        artifact.manifest(),
        dir,
        &RunningEncoder::of_service(service),
        catalog,
    )
    .map_err(|e| refused(e.to_string()))?;
    Ok(Arc::new(artifact))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Arm;

    fn split(sticky: Sticky, shares: &[f64]) -> Split {
        let experiment = Experiment {
            name: "exp".into(),
            sticky,
            arms: shares
                .iter()
                .enumerate()
                .map(|(i, s)| Arm {
                    name: format!("arm{i}"),
                    share: *s,
                    router: ArmRouter::Serving,
                })
                .collect(),
        };
        let catalog = models::Catalog::embedded().unwrap();
        Split::load(&experiment, None, &catalog).unwrap()
    }

    fn unit<'a>(user: Option<&'a str>, key: Option<&'a str>, request: &'a str) -> Unit<'a> {
        Unit {
            user,
            key_id: key,
            request_id: request,
        }
    }

    #[test]
    fn assignment_follows_the_shares_and_sticks_to_the_unit() {
        let s = split(Sticky::User, &[0.8, 0.2]);
        let n = 20_000;
        let mut second = 0;
        for i in 0..n {
            let user = format!("user-{i}");
            let (arm, row) = s.assign(unit(Some(&user), None, "r"));
            assert_eq!(row.unit, "user");
            if arm.name == "arm1" {
                second += 1;
            }
            // Sticky: another request of the same user lands on the same arm.
            let (again, _) = s.assign(unit(Some(&user), Some("key_x"), "r2"));
            assert_eq!(again.name, arm.name);
        }
        // 20,000 independent draws at p = 0.2: sd 57, so ±400 is seven sd.
        assert!((second as i64 - 4_000).abs() < 400, "{second}");
    }

    #[test]
    fn the_unit_falls_back_as_sticky_says() {
        let by_user = split(Sticky::User, &[0.5, 0.5]);
        assert_eq!(by_user.assign(unit(None, Some("k"), "r")).1.unit, "key");
        assert_eq!(by_user.assign(unit(None, None, "r")).1.unit, "request");
        let by_key = split(Sticky::Key, &[0.5, 0.5]);
        assert_eq!(by_key.assign(unit(Some("u"), Some("k"), "r")).1.unit, "key");
        assert_eq!(by_key.assign(unit(Some("u"), None, "r")).1.unit, "user");
        let by_request = split(Sticky::Request, &[0.5, 0.5]);
        let row = by_request.assign(unit(Some("u"), Some("k"), "r")).1;
        assert_eq!(
            (row.unit.as_str(), row.experiment.as_str()),
            ("request", "exp")
        );
    }

    #[test]
    fn another_experiment_name_reshuffles_and_points_cover_the_unit_interval() {
        let moved = (0..1000)
            .filter(|i| {
                let v = format!("u{i}");
                (unit_point("a", &v) < 0.5) != (unit_point("b", &v) < 0.5)
            })
            .count();
        assert!((300..700).contains(&moved), "{moved}");
        for i in 0..1000 {
            let p = unit_point("a", &format!("u{i}"));
            assert!((0.0..1.0).contains(&p));
        }
    }

    #[test]
    fn an_arm_artifact_without_an_encoder_is_refused_naming_the_field() {
        let experiment = Experiment {
            name: "exp".into(),
            sticky: Sticky::User,
            arms: vec![
                Arm {
                    name: "a".into(),
                    share: 0.5,
                    router: ArmRouter::Serving,
                },
                Arm {
                    name: "b".into(),
                    share: 0.5,
                    router: ArmRouter::Artifact("no/such/dir".into()),
                },
            ],
        };
        let catalog = models::Catalog::embedded().unwrap();
        let err = Split::load(&experiment, None, &catalog).unwrap_err();
        assert!(
            err.to_string().contains("experiment.arms[1].artifact"),
            "{err}"
        );
    }
}
