//! `[admin]` and the checks of `[router] exploration`, kept apart from the main schema.

use serde::Deserialize;

use router_core::Exploration;

use super::invalid;
use crate::error::Error;
use crate::secret::Secret;

/// `[admin]`: the authenticated admin endpoints (`POST /admin/reload`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Environment variable holding the admin bearer token. Without it (or when the variable
    /// is unset or empty) the admin endpoints answer 404.
    #[serde(default)]
    pub token_env: Option<String>,
    /// The SHA-256 (64 hex digits) of the admin key, e.g. from
    /// `printf %s "$KEY" | sha256sum`. Either this or `token_env` enables the admin endpoints;
    /// with both, either key is accepted.
    #[serde(default)]
    pub key_sha256: Option<String>,
}

/// Parses `[admin] key_sha256`.
pub(super) fn admin_key_sha256(admin: &AdminConfig) -> Result<Option<[u8; 32]>, Error> {
    let Some(hex_digest) = admin.key_sha256.as_deref() else {
        return Ok(None);
    };
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out).map_err(|_| {
        invalid(
            "admin.key_sha256",
            "must be 64 hex digits: the SHA-256 of the admin key (`printf %s \"$KEY\" | sha256sum`)",
        )
    })?;
    Ok(Some(out))
}

/// Checks `[server] cors_origins` and `allowed_hosts`.
pub(super) fn exposure(server: &super::ServerConfig) -> Result<(), Error> {
    for (i, origin) in server.cors_origins.iter().enumerate() {
        let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.ends_with('/')
            && axum::http::HeaderValue::from_str(origin).is_ok();
        if !ok {
            return Err(invalid(
                &format!("server.cors_origins[{i}]"),
                format!("`{origin}` must be an origin like https://app.example.com (scheme and host, no path, no `*`)"),
            ));
        }
        // Browsers send the origin in lower case and without the scheme's default port, and
        // the CORS layer compares it byte for byte: such an entry would never match.
        let written = origin
            .to_ascii_lowercase()
            .trim_end_matches(if origin.starts_with("https://") {
                ":443"
            } else {
                ":80"
            })
            .to_owned();
        if written != *origin {
            return Err(invalid(
                &format!("server.cors_origins[{i}]"),
                format!("`{origin}` never matches what browsers send: write `{written}`"),
            ));
        }
    }
    for (i, host) in server.allowed_hosts.iter().enumerate() {
        if host.is_empty() || host.contains(['/', ' ', '*']) {
            return Err(invalid(
                &format!("server.allowed_hosts[{i}]"),
                format!(
                    "`{host}` must be a host name such as gateway.internal (no scheme, no `*`)"
                ),
            ));
        }
        // The `Host` header is matched without its port, so an entry with one never matches.
        let port = if host.starts_with('[') {
            !host.ends_with(']')
        } else {
            host.contains(':')
        };
        if port {
            let bare = match host.rsplit_once(':') {
                Some((name, _)) => name,
                None => host.as_str(),
            };
            return Err(invalid(
                &format!("server.allowed_hosts[{i}]"),
                format!("`{host}` has a port, and hosts are matched without one: write `{bare}`"),
            ));
        }
    }
    Ok(())
}

/// Rejects exploration settings that `router_core::explore` would silently clamp: a config
/// typo such as `epsilon = 10` must fail loudly instead of meaning "always explore".
pub(super) fn exploration(e: &Exploration) -> Result<(), Error> {
    let top_k = match *e {
        Exploration::EpsilonGreedy { epsilon, top_k } => {
            if !(0.0..=1.0).contains(&epsilon) {
                return Err(invalid(
                    "router.exploration.epsilon",
                    format!("{epsilon} is not in [0, 1]; use e.g. 0.1 to explore 10% of `auto` requests"),
                ));
            }
            top_k
        }
        Exploration::Softmax { temperature, top_k } => {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(invalid(
                    "router.exploration.temperature",
                    format!("{temperature} must be a positive number (quality points, e.g. 0.05)"),
                ));
            }
            top_k
        }
        Exploration::Thompson {
            trained_sd,
            prior_sd,
            top_k,
        } => {
            for (field, sd) in [("trained_sd", trained_sd), ("prior_sd", prior_sd)] {
                if !(sd.is_finite() && sd > 0.0) {
                    return Err(invalid(
                        &format!("router.exploration.{field}"),
                        format!(
                            "{sd} must be a positive number (a posterior standard deviation in quality points, e.g. 0.05)"
                        ),
                    ));
                }
            }
            top_k
        }
        _ => return Ok(()),
    };
    if top_k == 0 {
        return Err(invalid(
            "router.exploration.top_k",
            "must be at least 1 (the greedy model counts as one)",
        ));
    }
    Ok(())
}

/// Reads the admin token named by `[admin] token_env`; a named but unset or empty variable
/// disables the endpoints (logged at start-up) rather than failing the whole gateway.
pub(super) fn admin_token(
    admin: &AdminConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret<String>>, Error> {
    let Some(name) = admin.token_env.as_deref() else {
        return Ok(None);
    };
    if name.trim().is_empty() {
        return Err(invalid(
            "admin.token_env",
            "is empty; name an environment variable (e.g. SWITCHYARD_ADMIN_TOKEN) or remove the line",
        ));
    }
    Ok(env(name)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(Secret::new))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::Path;

    use router_core::Exploration;

    use crate::config::{Config, GatewayConfig};

    fn resolve(src: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let raw =
            GatewayConfig::from_toml_str(src, Path::new("t.toml")).map_err(|e| e.to_string())?;
        Config::resolve(raw, env).map_err(|e| e.to_string())
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn exploration_parses_and_defaults_off() {
        let cfg = resolve("", &no_env).unwrap();
        assert_eq!(cfg.router.exploration, Exploration::Off);
        assert_eq!(cfg.router.exploration_seed, None);
        let cfg = resolve(
            "[router]\nexploration = { kind = \"epsilon_greedy\", epsilon = 0.1, top_k = 3 }\nexploration_seed = 42\n",
            &no_env,
        )
        .unwrap();
        assert_eq!(
            cfg.router.exploration,
            Exploration::EpsilonGreedy {
                epsilon: 0.1,
                top_k: 3
            }
        );
        assert_eq!(cfg.router.exploration_seed, Some(42));
        let cfg = resolve(
            "[router]\nexploration = { kind = \"softmax\", temperature = 0.05, top_k = 2 }\n",
            &no_env,
        )
        .unwrap();
        assert!(matches!(
            cfg.router.exploration,
            Exploration::Softmax { top_k: 2, .. }
        ));
        let cfg = resolve(
            "[router]\nexploration = { kind = \"thompson\", top_k = 3, prior_sd = 0.2 }\n",
            &no_env,
        )
        .unwrap();
        assert_eq!(
            cfg.router.exploration,
            Exploration::Thompson {
                trained_sd: router_core::exploration::DEFAULT_TRAINED_SD,
                prior_sd: 0.2,
                top_k: 3
            }
        );
    }

    #[test]
    fn bad_exploration_names_the_field() {
        for (src, field) in [
            ("epsilon = 1.5, top_k = 3", "router.exploration.epsilon"),
            ("epsilon = -0.1, top_k = 3", "router.exploration.epsilon"),
            ("epsilon = 0.1, top_k = 0", "router.exploration.top_k"),
        ] {
            let toml = format!("[router]\nexploration = {{ kind = \"epsilon_greedy\", {src} }}\n");
            let err = resolve(&toml, &no_env).unwrap_err();
            assert!(err.contains(field), "{src}: {err}");
        }
        let err = resolve(
            "[router]\nexploration = { kind = \"softmax\", temperature = 0.0, top_k = 3 }\n",
            &no_env,
        )
        .unwrap_err();
        assert!(err.contains("router.exploration.temperature"), "{err}");
        for (src, field) in [
            (
                "trained_sd = 0.0, top_k = 3",
                "router.exploration.trained_sd",
            ),
            ("prior_sd = -1.0, top_k = 3", "router.exploration.prior_sd"),
            ("prior_sd = nan, top_k = 3", "router.exploration.prior_sd"),
            ("top_k = 0", "router.exploration.top_k"),
        ] {
            let toml = format!("[router]\nexploration = {{ kind = \"thompson\", {src} }}\n");
            let err = resolve(&toml, &no_env).unwrap_err();
            assert!(err.contains(field), "{src}: {err}");
        }
        let err = resolve(
            "[router]\nexploration = { kind = \"epsilon_greedy\", epsilon = 0.1 }\n",
            &no_env,
        )
        .unwrap_err();
        assert!(err.contains("router.exploration"), "{err}");
    }

    #[test]
    fn admin_token_comes_from_the_named_variable() {
        let src = "[admin]\ntoken_env = \"ADMIN_T\"\n";
        let cfg = resolve(src, &|k| (k == "ADMIN_T").then(|| "s3cret".to_owned())).unwrap();
        assert_eq!(cfg.admin_token.as_ref().unwrap().expose(), "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        // Named but unset: disabled, not an error.
        assert!(resolve(src, &no_env).unwrap().admin_token.is_none());
        assert!(resolve("", &no_env).unwrap().admin_token.is_none());
        let err = resolve("[admin]\ntoken_env = \" \"\n", &no_env).unwrap_err();
        assert!(err.contains("admin.token_env"), "{err}");
    }

    #[test]
    fn demo_config_loads_with_exploration_on() {
        let cfg = resolve(include_str!("../../config/demo.toml"), &no_env).unwrap();
        assert!(matches!(
            cfg.router.exploration,
            Exploration::EpsilonGreedy { top_k: 3, .. }
        ));
        assert!(cfg.router.exploration_seed.is_some());
        assert!(cfg.admin_token_env.is_some());
    }
}
