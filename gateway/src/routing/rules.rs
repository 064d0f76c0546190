//! `[[rules]]`: conditions on a request's metadata (a header, the client key, the `user` field)
//! that pin, restrict or exclude models before the learned policy runs.
//!
//! Rules are tried in file order and the **first** whose conditions all hold decides; later
//! rules are not consulted. First-match (as in firewalls and Portkey's conditional routing)
//! keeps every request's outcome explainable by one rule name, which the outcome row records.
//!
//! What a matching rule does:
//! - `pin`: an `auto` request goes to that model as if the client had named it (the policy's
//!   ranking of the other candidates is still the failover chain). Pin rules are skipped for
//!   a request naming a model: pinning overrides the router, not the client. To hold a client
//!   to one model, use `allow = [that model]`.
//! - `allow`: only these models are candidates; a request naming another model is refused
//!   (403 `model_not_allowed`).
//! - `deny`: these models are not candidates; a request naming one is refused the same way.

use axum::http::{HeaderMap, HeaderName};
use router_core::ModelId;

use crate::http::error::ApiError;
use crate::metrics::Metrics;

/// The validated rules, in file order.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// One validated rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its `name`, or `rules[i]` when it has none: logged on the row and in metrics.
    pub name: String,
    /// Every condition must hold.
    pub when: Conditions,
    /// What it does.
    pub action: Action,
}

/// A rule's conditions; absent ones are not checked (at least one is present).
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// A request header (lower-case name) and the pattern one of its values must match.
    pub header: Option<(HeaderName, Pattern)>,
    /// A pattern the client key's id or name must match; never holds without a key.
    pub key: Option<Pattern>,
    /// A pattern the request's `user` must match; never holds without one.
    pub user: Option<Pattern>,
}

/// How a value is compared.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// The whole value equals this string.
    Equals(String),
    /// The regex (a `glob` is compiled to an anchored regex) matches.
    Regex(regex::Regex),
}

impl Pattern {
    /// A glob (`*` any run of characters, `?` one character, everything else literal) as an
    /// anchored regex. Translated by hand because two wildcards do not justify a glob crate
    /// built for paths, whose `/` and `{a,b}` rules would surprise in header values.
    pub fn glob(glob: &str) -> Result<Pattern, regex::Error> {
        let mut re = String::with_capacity(glob.len() + 8);
        re.push_str("^(?s:");
        let mut literal = String::new();
        for c in glob.chars() {
            if c == '*' || c == '?' {
                re.push_str(&regex::escape(&literal));
                literal.clear();
                re.push_str(if c == '*' { ".*" } else { "." });
            } else {
                literal.push(c);
            }
        }
        re.push_str(&regex::escape(&literal));
        re.push_str(")$");
        regex::Regex::new(&re).map(Pattern::Regex)
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Equals(s) => s == value,
            Pattern::Regex(re) => re.is_match(value),
        }
    }
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Route `auto` to this model.
    Pin(ModelId),
    /// Only these models.
    Allow(Vec<ModelId>),
    /// Not these models.
    Deny(Vec<ModelId>),
}

impl Action {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Pin(_) => "pin",
            Action::Allow(_) => "allow",
            Action::Deny(_) => "deny",
        }
    }
}

/// What rules may look at in a request.
#[derive(Clone, Copy, Debug)]
pub struct RequestMeta<'a> {
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The client key's id and name, when the request came with one.
    pub key: Option<(&'a str, &'a str)>,
    /// The request's `user` field.
    pub user: Option<&'a str>,
}

impl Rules {
    /// Rules in evaluation order.
    pub fn new(rules: Vec<Rule>) -> Self {
        Rules { rules }
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in evaluation order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// The first rule whose conditions all hold for `meta`; with `auto` false (a named
    /// model) pin rules are skipped.
    pub fn first_match(&self, meta: &RequestMeta<'_>, auto: bool) -> Option<&Rule> {
        self.rules
            .iter()
            .filter(|r| auto || r.pinned().is_none())
            .find(|r| r.when.hold(meta))
    }

    /// The rules applied to a request asking for `requested` (`auto` or a model name) with
    /// the candidates `pool` (live, and allowed by the client key): the one place where
    /// chat completions, messages, responses and `/v1/route` meet the rules. Counts the match.
    pub fn apply<'r>(
        &'r self,
        meta: &RequestMeta<'_>,
        requested: &str,
        pool: &[ModelId],
        metrics: &Metrics,
    ) -> Applied<'r> {
        let auto = requested == crate::http::chat::AUTO;
        let Some(rule) = self.first_match(meta, auto) else {
            return Applied::default();
        };
        metrics.rule_matched(&rule.name, rule.action.label());
        let narrowed = match rule.action {
            Action::Pin(_) => None,
            Action::Allow(_) | Action::Deny(_) => Some(rule.narrow(pool)),
        };
        // Only a pool the rule emptied is the rule's refusal; an empty pool to begin with is
        // the caller's (no provider, or the key's model list) and keeps its own error.
        let left_nothing = auto && !pool.is_empty() && narrowed.as_ref().is_some_and(Vec::is_empty);
        Applied {
            rule: Some(rule),
            pool: narrowed,
            pin: rule.pinned(),
            left_nothing,
        }
    }
}

/// What the rules did to one request ([`Rules::apply`]); the default: nothing matched.
#[derive(Debug, Default)]
pub struct Applied<'r> {
    rule: Option<&'r Rule>,
    pool: Option<Vec<ModelId>>,
    pin: Option<&'r ModelId>,
    left_nothing: bool,
}

impl Applied<'_> {
    /// The matching rule's name, for the outcome row.
    pub fn name(&self) -> Option<&str> {
        self.rule.map(|r| r.name.as_str())
    }

    /// The 403 when the rule left an `auto` request without candidates.
    pub fn refusal(&self) -> Option<ApiError> {
        self.rule
            .filter(|_| self.left_nothing)
            .map(Rule::left_nothing)
    }

    /// The candidates after the rule (`before` when it restricts nothing).
    pub fn pool<'a>(&'a self, before: &'a [ModelId]) -> &'a [ModelId] {
        self.pool.as_deref().unwrap_or(before)
    }

    /// The model to serve: the pinned one for `auto`, else what the client asked for.
    pub fn requested<'a>(&'a self, requested: &'a str) -> &'a str {
        self.pin.map_or(requested, ModelId::as_str)
    }

    /// The 403 when the rule excludes the named `model`.
    pub fn refuses(&self, model: &ModelId) -> Option<ApiError> {
        self.rule
            .filter(|r| !r.permits(model))
            .map(|r| r.refused(model.as_str()))
    }

    /// Drops the models the rule excludes from a failover `order` (the static fallback may
    /// name one); the 403 when none is left.
    pub fn retain(&self, order: &mut Vec<ModelId>) -> Result<(), ApiError> {
        let Some(rule) = self.rule else {
            return Ok(());
        };
        order.retain(|m| rule.permits(m));
        if order.is_empty() {
            return Err(rule.left_nothing());
        }
        Ok(())
    }
}

impl Conditions {
    fn hold(&self, meta: &RequestMeta<'_>) -> bool {
        let header = self.header.as_ref().is_none_or(|(name, pattern)| {
            meta.headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| pattern.matches(v))
        });
        let key = self.key.as_ref().is_none_or(|pattern| {
            meta.key
                .is_some_and(|(id, name)| pattern.matches(id) || pattern.matches(name))
        });
        let user = self
            .user
            .as_ref()
            .is_none_or(|pattern| meta.user.is_some_and(|u| pattern.matches(u)));
        header && key && user
    }
}

impl Rule {
    /// Whether the rule lets `model` be a candidate (a pin restricts nothing).
    pub fn permits(&self, model: &ModelId) -> bool {
        match &self.action {
            Action::Pin(_) => true,
            Action::Allow(models) => models.contains(model),
            Action::Deny(models) => !models.contains(model),
        }
    }

    /// The model an `auto` request is pinned to, if this is a pin rule.
    pub fn pinned(&self) -> Option<&ModelId> {
        match &self.action {
            Action::Pin(model) => Some(model),
            Action::Allow(_) | Action::Deny(_) => None,
        }
    }

    /// `pool` without the models the rule excludes.
    pub fn narrow(&self, pool: &[ModelId]) -> Vec<ModelId> {
        pool.iter().filter(|m| self.permits(m)).cloned().collect()
    }

    /// The 403 for a request naming a model this rule excludes.
    pub fn refused(&self, model: &str) -> ApiError {
        ApiError::ModelNotAllowed(format!(
            "rule `{}` does not allow model `{}` for this request ({})",
            self.name,
            crate::outcome::record::truncated(model, 128),
            self.describe()
        ))
    }

    /// The 403 for an `auto` request the rule left without any live candidate.
    pub fn left_nothing(&self) -> ApiError {
        ApiError::ModelNotAllowed(format!(
            "rule `{}` leaves no live candidate for this request ({}); check the rule's models and their providers' API keys",
            self.name,
            self.describe()
        ))
    }

    fn describe(&self) -> String {
        let list = |models: &[ModelId]| {
            models
                .iter()
                .map(ModelId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.action {
            Action::Pin(m) => format!("it pins {m}"),
            Action::Allow(models) => format!("it allows only: {}", list(models)),
            Action::Deny(models) => format!("it excludes: {}", list(models)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use axum::http::HeaderValue;

    use super::*;

    fn rule(name: &str, when: Conditions, action: Action) -> Rule {
        Rule {
            name: name.to_owned(),
            when,
            action,
        }
    }

    fn ids(names: &[&str]) -> Vec<ModelId> {
        names.iter().map(|n| ModelId::new(*n)).collect()
    }

    #[test]
    fn globs_match_whole_values_and_escape_regex_characters() {
        let p = Pattern::glob("team-*.prod?").unwrap();
        assert!(p.matches("team-a.prod1"));
        assert!(p.matches("team-.prodX"));
        assert!(!p.matches("team-a.prod"), "? is exactly one character");
        assert!(!p.matches("xteam-a.prod1"), "anchored at the start");
        assert!(!p.matches("team-aXprod1"), "the dot is literal");
        assert!(Pattern::glob("a+b").unwrap().matches("a+b"));
        assert!(Pattern::glob("*").unwrap().matches(""));
    }

    #[test]
    fn the_first_rule_whose_conditions_all_hold_wins() {
        let rules = Rules::new(vec![
            rule(
                "both",
                Conditions {
                    header: Some((
                        HeaderName::from_static("x-team"),
                        Pattern::Equals("research".into()),
                    )),
                    user: Some(Pattern::glob("alice*").unwrap()),
                    ..Conditions::default()
                },
                Action::Pin(ModelId::new("a")),
            ),
            rule(
                "header",
                Conditions {
                    header: Some((
                        HeaderName::from_static("x-team"),
                        Pattern::Equals("research".into()),
                    )),
                    ..Conditions::default()
                },
                Action::Deny(ids(&["b"])),
            ),
            rule(
                "key",
                Conditions {
                    key: Some(Pattern::Equals("ci-bot".into())),
                    ..Conditions::default()
                },
                Action::Allow(ids(&["c"])),
            ),
        ]);
        let mut headers = HeaderMap::new();
        let meta = |headers: &HeaderMap, user, key| {
            rules
                .first_match(&RequestMeta { headers, key, user }, true)
                .map(|r| r.name.clone())
        };
        assert_eq!(meta(&headers, Some("alice"), None), None);
        headers.append("x-team", HeaderValue::from_static("other"));
        headers.append("x-team", HeaderValue::from_static("research"));
        assert_eq!(meta(&headers, Some("alice"), None).as_deref(), Some("both"));
        assert_eq!(meta(&headers, Some("bob"), None).as_deref(), Some("header"));
        assert_eq!(meta(&headers, None, None).as_deref(), Some("header"));
        let empty = HeaderMap::new();
        assert_eq!(
            meta(&empty, None, Some(("key_1", "ci-bot"))).as_deref(),
            Some("key"),
            "a key matches by name"
        );
        assert_eq!(
            meta(&empty, None, Some(("ci-bot", "other"))).as_deref(),
            Some("key"),
            "or by id"
        );
        assert_eq!(meta(&empty, None, Some(("key_2", "someone"))), None);
        let named = rules.first_match(
            &RequestMeta {
                headers: &headers,
                key: None,
                user: Some("alice"),
            },
            false,
        );
        assert_eq!(
            named.map(|r| r.name.as_str()),
            Some("header"),
            "a named model skips pin rules"
        );
    }

    #[test]
    fn actions_narrow_the_pool() {
        let pool = ids(&["a", "b", "c"]);
        let allow = rule("r", Conditions::default(), Action::Allow(ids(&["c", "z"])));
        assert_eq!(allow.narrow(&pool), ids(&["c"]));
        assert!(!allow.permits(&ModelId::new("a")));
        let deny = rule("r", Conditions::default(), Action::Deny(ids(&["a"])));
        assert_eq!(deny.narrow(&pool), ids(&["b", "c"]));
        let pin = rule("r", Conditions::default(), Action::Pin(ModelId::new("b")));
        assert_eq!(pin.narrow(&pool), pool);
        assert_eq!(pin.pinned(), Some(&ModelId::new("b")));
        assert_eq!(allow.refused("a").code(), "model_not_allowed");
        assert!(deny.left_nothing().to_string().contains("rule `r`"));
    }
}
