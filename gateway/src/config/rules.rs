//! `[[rules]]`: the raw schema and its validation into [`crate::routing::rules::Rules`].

use axum::http::HeaderName;
use router_core::ModelId;
use serde::Deserialize;

use super::invalid;
use crate::error::Error;
use crate::routing::rules::{Action, Conditions, Pattern, Rule, Rules};

/// One raw `[[rules]]` entry: conditions under `when` and exactly one of `pin`, `allow`,
/// `deny`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The name logged on outcome rows and in metrics; default `rules[i]`.
    #[serde(default)]
    pub name: Option<String>,
    /// The conditions; all given must hold.
    pub when: WhenConfig,
    /// Route `auto` requests to this catalog model.
    #[serde(default)]
    pub pin: Option<ModelId>,
    /// Only these catalog models are candidates.
    #[serde(default)]
    pub allow: Option<Vec<ModelId>>,
    /// These catalog models are not candidates.
    #[serde(default)]
    pub deny: Option<Vec<ModelId>>,
}

/// A rule's raw conditions.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenConfig {
    /// A request header and how one of its values must look.
    #[serde(default)]
    pub header: Option<HeaderMatchConfig>,
    /// How the client key's id or name must look.
    #[serde(default)]
    pub key: Option<MatchConfig>,
    /// How the request's `user` field must look.
    #[serde(default)]
    pub user: Option<MatchConfig>,
}

/// A header condition: `{ name = "x-team", equals = "research" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatchConfig {
    /// The header name (any case).
    pub name: String,
    /// The value exactly.
    #[serde(default)]
    pub equals: Option<String>,
    /// A glob: `*` any run of characters, `?` one character.
    #[serde(default)]
    pub glob: Option<String>,
    /// A regex (Rust `regex` syntax), unanchored unless it says `^…$`.
    #[serde(default)]
    pub regex: Option<String>,
}

/// A value condition: exactly one of `equals`, `glob`, `regex`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// The value exactly.
    #[serde(default)]
    pub equals: Option<String>,
    /// A glob: `*` any run of characters, `?` one character.
    #[serde(default)]
    pub glob: Option<String>,
    /// A regex (Rust `regex` syntax), unanchored unless it says `^…$`.
    #[serde(default)]
    pub regex: Option<String>,
}

fn pattern(
    field: &str,
    equals: Option<String>,
    glob: Option<String>,
    regex: Option<String>,
) -> Result<Pattern, Error> {
    match (equals, glob, regex) {
        (Some(s), None, None) => Ok(Pattern::Equals(s)),
        (None, Some(g), None) => {
            Pattern::glob(&g).map_err(|e| invalid(&format!("{field}.glob"), e.to_string()))
        }
        (None, None, Some(r)) => regex::Regex::new(&r)
            .map(Pattern::Regex)
            .map_err(|e| invalid(&format!("{field}.regex"), e.to_string())),
        _ => Err(invalid(
            field,
            "give exactly one of `equals`, `glob` or `regex`",
        )),
    }
}

/// Validates the rules against the catalog: names unique, conditions present and compiled,
/// one action, every model in the catalog (aliases resolved to ids).
pub fn resolve(raw: Vec<RuleConfig>, catalog: &models::Catalog) -> Result<Rules, Error> {
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = format!("rules[{i}]");
        let field = |name: &str| format!("{at}.{name}");
        let name = r.name.unwrap_or_else(|| at.clone());
        if name.trim().is_empty() {
            return Err(invalid(&field("name"), "must not be empty"));
        }
        if rules.iter().any(|o| o.name == name) {
            return Err(invalid(
                &field("name"),
                format!("rule `{name}` is defined twice; names must be unique"),
            ));
        }
        let mut when = Conditions::default();
        if let Some(h) = r.when.header {
            let header = HeaderName::from_bytes(h.name.trim().to_ascii_lowercase().as_bytes())
                .map_err(|_| {
                    invalid(
                        &field("when.header.name"),
                        format!("`{}` is not a valid header name", h.name),
                    )
                })?;
            let p = pattern(&field("when.header"), h.equals, h.glob, h.regex)?;
            when.header = Some((header, p));
        }
        if let Some(k) = r.when.key {
            when.key = Some(pattern(&field("when.key"), k.equals, k.glob, k.regex)?);
        }
        if let Some(u) = r.when.user {
            when.user = Some(pattern(&field("when.user"), u.equals, u.glob, u.regex)?);
        }
        if when.header.is_none() && when.key.is_none() && when.user.is_none() {
            return Err(invalid(
                &field("when"),
                "needs at least one condition (`header`, `key` or `user`); to restrict every request use router.candidates",
            ));
        }
        let canon = |f: String, id: &ModelId| {
            catalog
                .get(id)
                .map(|e| e.spec.id.clone())
                .map_err(|e| invalid(&f, e.to_string()))
        };
        let list = |f: &str, models: Vec<ModelId>| -> Result<Vec<ModelId>, Error> {
            if models.is_empty() {
                return Err(invalid(&field(f), "must name at least one catalog model"));
            }
            models
                .iter()
                .enumerate()
                .map(|(j, m)| canon(field(&format!("{f}[{j}]")), m))
                .collect()
        };
        let action = match (r.pin, r.allow, r.deny) {
            (Some(m), None, None) => Action::Pin(canon(field("pin"), &m)?),
            (None, Some(models), None) => Action::Allow(list("allow", models)?),
            (None, None, Some(models)) => Action::Deny(list("deny", models)?),
            _ => {
                return Err(invalid(
                    &at,
                    "give exactly one action: `pin`, `allow` or `deny` (write two rules for two actions)",
                ))
            }
        };
        rules.push(Rule { name, when, action });
    }
    Ok(Rules::new(rules))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::Path;

    use crate::config::{Config, GatewayConfig};
    use crate::error::Error;

    fn resolve(rules: &str) -> Result<Config, Error> {
        let raw = GatewayConfig::from_toml_str(rules, Path::new("test.toml"))?;
        Config::resolve(raw, &|_| None)
    }

    #[test]
    fn rules_resolve_aliases_and_default_names() {
        let cfg = resolve(
            "[[rules]]\nwhen = { user = { glob = \"bot-*\" } }\ndeny = [\"gpt-4o\"]\n\
             [[rules]]\nname = \"research\"\nwhen = { header = { name = \"X-Team\", regex = \"^res\" } }\npin = \"gpt-4o-mini\"\n",
        )
        .unwrap();
        let names: Vec<&str> = cfg.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["rules[0]", "research"]);
        let research = cfg.rules.iter().nth(1).unwrap();
        assert_eq!(
            research.when.header.as_ref().unwrap().0.as_str(),
            "x-team",
            "header names compare in lower case"
        );
    }

    #[test]
    fn bad_rules_name_their_field() {
        for (src, field) in [
            (
                "[[rules]]\nwhen = { user = { equals = \"a\" } }\npin = \"no-such-model\"\n",
                "rules[0].pin",
            ),
            (
                "[[rules]]\nwhen = { user = { equals = \"a\" } }\nallow = [\"gpt-4o\", \"nope\"]\n",
                "rules[0].allow[1]",
            ),
            (
                "[[rules]]\nwhen = { user = { equals = \"a\" } }\ndeny = []\n",
                "rules[0].deny",
            ),
            ("[[rules]]\nwhen = {}\npin = \"gpt-4o\"\n", "rules[0].when"),
            (
                "[[rules]]\nwhen = { user = { equals = \"a\" } }\npin = \"gpt-4o\"\ndeny = [\"gpt-4o-mini\"]\n",
                "rules[0]",
            ),
            (
                "[[rules]]\nwhen = { user = { equals = \"a\" } }\n",
                "rules[0]",
            ),
            (
                "[[rules]]\nwhen = { user = { regex = \"(\" } }\npin = \"gpt-4o\"\n",
                "rules[0].when.user.regex",
            ),
            (
                "[[rules]]\nwhen = { key = { equals = \"a\", glob = \"b*\" } }\npin = \"gpt-4o\"\n",
                "rules[0].when.key",
            ),
            (
                "[[rules]]\nwhen = { header = { name = \"bad header\", equals = \"a\" } }\npin = \"gpt-4o\"\n",
                "rules[0].when.header.name",
            ),
            (
                "[[rules]]\nwhen = { header = { value = \"a\" } }\npin = \"gpt-4o\"\n",
                "rules[0].when.header",
            ),
            (
                "[[rules]]\nname = \"r\"\nwhen = { user = { equals = \"a\" } }\npin = \"gpt-4o\"\n\
                 [[rules]]\nname = \"r\"\nwhen = { user = { equals = \"b\" } }\npin = \"gpt-4o\"\n",
                "rules[1].name",
            ),
        ] {
            let err = resolve(src).unwrap_err();
            let msg = err.to_string();
            let f = match err {
                Error::ConfigInvalid { field, .. } | Error::ConfigParse { field, .. } => field,
                other => panic!("unexpected {other}"),
            };
            assert!(f.starts_with(field), "{src}: {f}: {msg}");
        }
    }
}
