//! Start-up check of `auto`'s candidates against what their providers offer.
//!
//! The catalog knows models by name and price, not whether a provider still serves them:
//! providers shut models down on announced dates, and a key may not reach every model. A
//! candidate the provider no longer serves would be ranked, called, fail, and fail over on
//! every request it wins. So at start-up each live provider's "list models" endpoint is read
//! ([`crate::upstream::providers::listing`]), and a candidate is left out of `auto` when every
//! provider that could serve it answered with a list that lacks its upstream name (and then
//! said "no such model" when asked for that name alone, since lists show ids, not aliases), or
//! lists it with a shutdown date that has passed. A provider whose list cannot be read (no such
//! endpoint, a timeout, an error) leaves its models in: the check only ever acts on an answer.
//! Targets of `[[deployments]]` are not checked either: their upstream names are the user's
//! own deployment names, which a list need not show.
//! Requests naming a model are not affected; the provider decides those.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use router_core::{ModelId, ProviderId};

use crate::auth::budget::parse_utc_date;
use crate::config::Config;
use crate::routing::Availability;
use crate::upstream::deployments::Deployments;
use crate::upstream::failover::{Upstream, Upstreams};
use crate::upstream::providers::listing::OfferedModel;

/// How far ahead an announced shutdown is worth a warning at start-up.
const SHUTDOWN_WARNING_DAYS: u64 = 30;
const DAY_MS: u64 = 86_400_000;

/// A candidate left out of `auto`, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawn {
    /// The catalog model.
    pub model: ModelId,
    /// Why, naming the provider and the upstream name.
    pub reason: String,
}

/// What the listings said about the candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Candidates no provider offers any more.
    pub withdrawn: Vec<Withdrawn>,
    /// Candidates still offered whose shutdown a provider has announced within 30 days:
    /// `(model, provider, date)`.
    pub shutting_down: Vec<(ModelId, ProviderId, String)>,
    /// Providers whose list could not be read, with the error.
    pub unlisted: Vec<(ProviderId, String)>,
    /// Candidates still offered today whose every provider has announced a shutdown: the
    /// model leaves `auto` at the last of those dates (Unix milliseconds, 00:00 UTC).
    pub retire_at: Vec<(ModelId, u64)>,
    /// Candidates this read says nothing about: no answering provider offers them, and a
    /// provider that might did not answer (its list or the lookup failed). They keep what the
    /// previous read said ([`Discovery::availability`]).
    pub undecided: Vec<ModelId>,
}

impl Discovery {
    /// The candidates' availability after this read, given the one before it: this read's
    /// verdicts, except for the candidates it could not decide, which keep theirs.
    pub fn availability(&self, previous: &Availability) -> Availability {
        let undecided = |m: &ModelId| self.undecided.contains(m);
        let mut withdrawn: Vec<ModelId> = self.withdrawn.iter().map(|w| w.model.clone()).collect();
        withdrawn.extend(previous.withdrawn.iter().filter(|m| undecided(m)).cloned());
        let mut retire_at = self.retire_at.clone();
        retire_at.extend(
            previous
                .retire_at
                .iter()
                .filter(|(m, _)| undecided(m))
                .cloned(),
        );
        Availability {
            withdrawn,
            retire_at,
        }
    }
}

/// Reads every live provider's model list (at most `timeout` each, all at once) and checks
/// `config.candidates` against them at `now_ms` (Unix milliseconds).
pub async fn discover(
    config: &Config,
    upstreams: &Upstreams,
    timeout: Duration,
    now_ms: u64,
) -> Discovery {
    let live: Vec<&Arc<Upstream>> = config
        .providers
        .iter()
        .filter(|p| p.live)
        .filter_map(|p| upstreams.get(&p.name))
        .collect();
    let lists = join_all(live.iter().map(|u| async move {
        let listed = match tokio::time::timeout(timeout, u.provider.list_models()).await {
            Ok(Ok(models)) => Ok(models),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        (u.id.clone(), listed)
    }))
    .await;
    let mut discovery = Discovery::default();
    let mut offered: HashMap<ProviderId, HashMap<String, Option<String>>> = HashMap::new();
    for (provider, listed) in lists {
        match listed {
            Ok(models) => {
                let by_id = models
                    .into_iter()
                    .map(|OfferedModel { id, shutdown_date }| (id, shutdown_date))
                    .collect();
                offered.insert(provider, by_id);
            }
            Err(e) => discovery.unlisted.push((provider, e)),
        }
    }
    let deployments = Deployments::new(&config.deployments, config.circuit_breaker);
    let targets: Vec<_> = config
        .candidates
        .iter()
        .map(|m| deployments.targets(std::slice::from_ref(m), &config.catalog, upstreams))
        .collect();
    // Lists show model ids, not every name a provider accepts (Anthropic's aliases): each
    // candidate name missing from its provider's list is looked up on its own first.
    let mut missing: Vec<(Arc<Upstream>, String)> = Vec::new();
    for t in targets.iter().flatten() {
        let absent = t.deployment.is_none()
            && offered
                .get(&t.upstream.id)
                .is_some_and(|list| !list.contains_key(&t.upstream_name));
        let seen = missing
            .iter()
            .any(|(u, n)| u.id == t.upstream.id && *n == t.upstream_name);
        if absent && !seen {
            missing.push((Arc::clone(&t.upstream), t.upstream_name.clone()));
        }
    }
    let looked_up = join_all(missing.iter().map(|(u, name)| async move {
        match tokio::time::timeout(timeout, u.provider.model(name)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }))
    .await;
    // Names whose lookup failed: nothing is concluded about them.
    let mut unknown: Vec<(ProviderId, String)> = Vec::new();
    for ((u, name), found) in missing.iter().zip(looked_up) {
        match found {
            Ok(Some(m)) => {
                if let Some(list) = offered.get_mut(&u.id) {
                    list.insert(name.clone(), m.shutdown_date);
                }
            }
            Ok(None) => {}
            Err(_) => unknown.push((u.id.clone(), name.clone())),
        }
    }
    for (model, targets) in config.candidates.iter().zip(&targets) {
        let mut reasons = Vec::new();
        // Offered with no end in sight (or unknown): the model stays for good.
        let mut open_ended = targets.is_empty();
        // Offered until an announced date: the latest such date.
        let mut until: Option<u64> = None;
        // A provider that could serve it did not answer.
        let mut unanswered = false;
        for t in targets {
            // A configured deployment's name is the user's own (an Azure deployment, say),
            // which a model list need not show: only catalog defaults are checked.
            let looked_up_failed = unknown
                .iter()
                .any(|(p, n)| *p == t.upstream.id && *n == t.upstream_name);
            let listed = offered
                .get(&t.upstream.id)
                .filter(|_| t.deployment.is_none() && !looked_up_failed);
            let Some(list) = listed else {
                let silent = discovery.unlisted.iter().any(|(p, _)| *p == t.upstream.id);
                if t.deployment.is_none() && (looked_up_failed || silent) {
                    unanswered = true;
                } else {
                    open_ended = true;
                }
                continue;
            };
            match list.get(&t.upstream_name) {
                None => reasons.push(format!(
                    "provider `{}` does not list `{}` and has no model by that name",
                    t.upstream.id, t.upstream_name
                )),
                Some(date) => match date.as_deref().and_then(parse_utc_date) {
                    Some(shutdown) if shutdown <= now_ms => reasons.push(format!(
                        "provider `{}` shut `{}` down on {}",
                        t.upstream.id,
                        t.upstream_name,
                        date.as_deref().unwrap_or_default()
                    )),
                    Some(shutdown) => {
                        until = Some(until.map_or(shutdown, |u| u.max(shutdown)));
                        if shutdown - now_ms <= SHUTDOWN_WARNING_DAYS * DAY_MS {
                            discovery.shutting_down.push((
                                model.clone(),
                                t.upstream.id.clone(),
                                date.clone().unwrap_or_default(),
                            ));
                        }
                    }
                    // No date, or one that does not parse: offered.
                    None => open_ended = true,
                },
            }
        }
        match (open_ended, until) {
            (true, _) => {}
            (false, _) if unanswered => discovery.undecided.push(model.clone()),
            (false, Some(at)) => discovery.retire_at.push((model.clone(), at)),
            (false, None) => discovery.withdrawn.push(Withdrawn {
                model: model.clone(),
                reason: reasons.join("; "),
            }),
        }
    }
    discovery
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{GatewayConfig, ProviderConfig};
    use crate::upstream::ProviderKind;

    const DAY: u64 = DAY_MS;

    fn config(fake: &testkit::FakeProvider) -> Config {
        let mut raw = GatewayConfig::default();
        let provider = |name: &str, kind, base_url: String| ProviderConfig {
            name: ProviderId::new(name),
            kind,
            base_url,
            api_key_env: Some("K".into()),
            prompt_cache: None,
        };
        raw.providers = vec![
            provider("openai", ProviderKind::Openai, fake.openai_base_url()),
            provider("anthropic", ProviderKind::Anthropic, fake.base_url()),
            provider("google", ProviderKind::Gemini, fake.base_url()),
        ];
        raw.router.candidates = Some(
            [
                "gpt-4o-mini",
                "gpt-4o",
                "gpt-4.1",
                "claude-haiku-4.5",
                "gemini-2.5-flash",
            ]
            .map(ModelId::new)
            .to_vec(),
        );
        Config::resolve(raw, &|k| (k == "K").then(|| "k".to_owned())).unwrap()
    }

    #[tokio::test]
    async fn each_candidate_is_judged_by_its_own_providers_list_on_the_given_day() {
        let fake = testkit::FakeProvider::start().await;
        fake.offer_models(Some(&[
            ("gpt-4o-mini", Some("2026-12-20")),
            ("gpt-4o", Some("2026-12-05")),
            // Listed by its dated id; the alias resolves when looked up alone.
            ("claude-haiku-4-5-20251001", None),
            ("gemini-2.5-flash", Some("not a date")),
        ]));
        let config = config(&fake);
        let ups = crate::state::build_upstreams(&config).unwrap();
        let day = |d: &str| parse_utc_date(d).unwrap();
        let found = discover(&config, &ups, Duration::from_secs(5), day("2026-12-05")).await;
        let withdrawn: Vec<&str> = found.withdrawn.iter().map(|w| w.model.as_str()).collect();
        // Shut down today, and not listed at all.
        assert_eq!(withdrawn, ["gpt-4o", "gpt-4.1"], "{found:?}");
        assert!(found.withdrawn[0]
            .reason
            .contains("shut `gpt-4o` down on 2026-12-05"));
        assert!(found.withdrawn[1]
            .reason
            .contains("does not list `gpt-4.1`"));
        // 15 days ahead: a warning, and still a candidate; an unreadable date is ignored.
        assert_eq!(
            found.shutting_down,
            [(
                ModelId::new("gpt-4o-mini"),
                ProviderId::new("openai"),
                "2026-12-20".to_owned()
            )]
        );
        assert!(found.unlisted.is_empty());
        // Its only provider announced the date: the model leaves `auto` then.
        assert_eq!(
            found.retire_at,
            [(ModelId::new("gpt-4o-mini"), day("2026-12-20"))]
        );
        // The day before gpt-4o's shutdown it is still offered, with a warning.
        let before = discover(&config, &ups, Duration::from_secs(5), day("2026-12-04")).await;
        assert!(!before
            .withdrawn
            .iter()
            .any(|w| w.model.as_str() == "gpt-4o"));
        assert!(before
            .shutting_down
            .iter()
            .any(|(m, _, _)| m.as_str() == "gpt-4o"));
        assert!(day("2026-12-20") - day("2026-12-05") == 15 * DAY);

        // Without a list, nothing is withdrawn and every provider is reported unlisted.
        fake.offer_models(None);
        let found = discover(&config, &ups, Duration::from_secs(5), day("2026-12-05")).await;
        assert!(found.withdrawn.is_empty(), "{found:?}");
        assert_eq!(found.unlisted.len(), 3);
        fake.shutdown().await;
    }
}
