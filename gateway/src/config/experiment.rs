//! `[experiment]`: an A/B split of `auto` traffic between router artifacts (see
//! `crate::routing::experiment`).

use std::path::PathBuf;

use serde::Deserialize;

use super::invalid;
use crate::error::Error;

/// The raw `[experiment]` section. Absent: every `auto` request routes with the serving
/// artifact.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Recorded on every row of the experiment and salted into the assignment hash, so a new
    /// name reshuffles who sees which arm.
    pub name: String,
    /// What keeps a caller on one arm: `user` (the request's `user` field, else the client
    /// key, else the request), `key` (the client key, else `user`, else the request) or
    /// `request` (every request drawn anew).
    #[serde(default)]
    pub sticky: Sticky,
    /// The arms, at least two.
    pub arms: Vec<ArmConfig>,
}

/// One `[[experiment.arms]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmConfig {
    /// The arm's name as logged (`control`, `candidate`, ...).
    pub name: String,
    /// Its share of traffic, relative to the other arms' (`90` and `10`, or `0.9` and `0.1`).
    pub share: f64,
    /// The router artifact this arm routes with. Absent: the serving artifact (`[router]
    /// artifact`, and whatever a hot reload swaps in).
    #[serde(default)]
    pub artifact: Option<PathBuf>,
    /// Route this arm on catalog priors only, with no trained predictor (a baseline arm).
    #[serde(default)]
    pub priors_only: bool,
}

/// What an assignment is keyed on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sticky {
    /// The request's `user`, else the client key, else nothing stable.
    #[default]
    User,
    /// The client key, else the request's `user`, else nothing stable.
    Key,
    /// Nothing: each request is drawn on its own.
    Request,
}

/// Where an arm's predictor comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ArmRouter {
    /// The serving artifact (follows reloads).
    Serving,
    /// This artifact directory.
    Artifact(PathBuf),
    /// No predictor: catalog priors.
    PriorsOnly,
}

/// A checked arm.
#[derive(Clone, Debug, PartialEq)]
pub struct Arm {
    /// Its name.
    pub name: String,
    /// Its share of traffic in (0, 1]; the shares of an experiment sum to 1.
    pub share: f64,
    /// What it routes with.
    pub router: ArmRouter,
}

/// A checked `[experiment]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// Its name.
    pub name: String,
    /// What an assignment is keyed on.
    pub sticky: Sticky,
    /// The arms, shares normalised.
    pub arms: Vec<Arm>,
}

/// Longest experiment or arm name: both go on every row and into a metric label.
const MAX_NAME_BYTES: usize = 64;

fn check_name(field: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "`{name}`: use 1 to {MAX_NAME_BYTES} ASCII letters, digits, `-`, `_` or `.` (it is logged on every row and used as a metric label)"
            ),
        ))
    }
}

/// Checks `[experiment]`: a valid name, at least two arms with distinct valid names, positive
/// finite shares (normalised to sum to 1), and at most one of `artifact` and `priors_only`
/// per arm. Artifacts are loaded and checked against the encoder when the gateway starts.
pub fn resolve(raw: Option<ExperimentConfig>) -> Result<Option<Experiment>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    check_name("experiment.name", &raw.name)?;
    if raw.arms.len() < 2 {
        return Err(invalid(
            "experiment.arms",
            format!(
                "{} arm(s): an experiment needs at least two [[experiment.arms]] (remove [experiment] to route every request with the serving artifact)",
                raw.arms.len()
            ),
        ));
    }
    let mut total = 0.0;
    for (i, arm) in raw.arms.iter().enumerate() {
        check_name(&format!("experiment.arms[{i}].name"), &arm.name)?;
        if raw.arms[..i].iter().any(|a| a.name == arm.name) {
            return Err(invalid(
                &format!("experiment.arms[{i}].name"),
                format!("`{}` names two arms; give each arm its own name", arm.name),
            ));
        }
        if !(arm.share.is_finite() && arm.share > 0.0) {
            return Err(invalid(
                &format!("experiment.arms[{i}].share"),
                format!(
                    "{}: a share must be a positive number (relative to the other arms': 90 and 10, or 0.9 and 0.1)",
                    arm.share
                ),
            ));
        }
        if arm.priors_only && arm.artifact.is_some() {
            return Err(invalid(
                &format!("experiment.arms[{i}]"),
                "set `artifact` or `priors_only = true`, not both",
            ));
        }
        total += arm.share;
    }
    let arms = raw
        .arms
        .into_iter()
        .map(|a| Arm {
            share: a.share / total,
            router: match (a.artifact, a.priors_only) {
                (Some(dir), _) => ArmRouter::Artifact(dir),
                (None, true) => ArmRouter::PriorsOnly,
                (None, false) => ArmRouter::Serving,
            },
            name: a.name,
        })
        .collect();
    Ok(Some(Experiment {
        name: raw.name,
        sticky: raw.sticky,
        arms,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(src: &str) -> Result<Option<Experiment>, String> {
        #[derive(Deserialize)]
        struct Wrap {
            experiment: ExperimentConfig,
        }
        let raw: Wrap = toml::from_str(src).map_err(|e| e.to_string())?;
        resolve(Some(raw.experiment)).map_err(|e| e.to_string())
    }

    #[test]
    fn shares_are_normalised_and_the_arm_routers_resolved() {
        let e = parse(
            r#"
            [experiment]
            name = "stack-vs-mf"
            sticky = "key"
            [[experiment.arms]]
            name = "control"
            share = 90
            [[experiment.arms]]
            name = "candidate"
            share = 10
            artifact = "runs/stack"
            [[experiment.arms]]
            name = "priors"
            share = 0
            priors_only = true
            "#,
        );
        let err = e.unwrap_err();
        assert!(err.contains("experiment.arms[2].share"), "{err}");

        let e = parse(
            r#"
            [experiment]
            name = "stack-vs-mf"
            [[experiment.arms]]
            name = "control"
            share = 3
            [[experiment.arms]]
            name = "candidate"
            share = 1
            artifact = "runs/stack"
            "#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.sticky, Sticky::User);
        assert_eq!(e.arms[0].router, ArmRouter::Serving);
        assert_eq!(e.arms[1].router, ArmRouter::Artifact("runs/stack".into()));
        assert!((e.arms[0].share - 0.75).abs() < 1e-12);
        assert!((e.arms[1].share - 0.25).abs() < 1e-12);
    }

    #[test]
    fn bad_experiments_name_the_field() {
        let one_arm = r#"
            [experiment]
            name = "x"
            [[experiment.arms]]
            name = "a"
            share = 1
        "#;
        assert!(parse(one_arm).unwrap_err().contains("experiment.arms`"));
        let twins = r#"
            [experiment]
            name = "x"
            [[experiment.arms]]
            name = "a"
            share = 1
            [[experiment.arms]]
            name = "a"
            share = 1
        "#;
        assert!(parse(twins)
            .unwrap_err()
            .contains("experiment.arms[1].name"));
        let both = r#"
            [experiment]
            name = "x"
            [[experiment.arms]]
            name = "a"
            share = 1
            [[experiment.arms]]
            name = "b"
            share = 1
            artifact = "d"
            priors_only = true
        "#;
        assert!(parse(both).unwrap_err().contains("experiment.arms[1]`"));
        let label = r#"
            [experiment]
            name = "has space"
            [[experiment.arms]]
            name = "a"
            share = 1
            [[experiment.arms]]
            name = "b"
            share = 1
        "#;
        assert!(parse(label).unwrap_err().contains("experiment.name"));
        let unknown = r#"
            [experiment]
            name = "x"
            split = 3
            arms = []
        "#;
        assert!(parse(unknown).unwrap_err().contains("split"));
    }
}
