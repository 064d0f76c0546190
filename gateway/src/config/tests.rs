#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(src: &str) -> Result<GatewayConfig, Error> {
    GatewayConfig::from_toml_str(src, Path::new("test.toml"))
}

#[test]
fn example_config_loads() {
    let src = include_str!("../../config/example.toml");
    let raw = parse(src).unwrap();
    let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    let cfg = Config::resolve(raw, &env).unwrap();
    assert_eq!(cfg.server.bind.port(), 8080);
    assert_eq!(cfg.router.routing_deadline, Duration::from_millis(50));
    assert_eq!(cfg.log.privacy, Privacy::Hashed);
    // Only OpenAI has a key: every candidate is an OpenAI model.
    assert!(!cfg.candidates.is_empty());
    for id in &cfg.candidates {
        assert_eq!(
            cfg.catalog.get(id).unwrap().spec.provider.as_str(),
            "openai"
        );
    }
    let anthropic = cfg
        .providers
        .iter()
        .find(|p| p.name.as_str() == "anthropic");
    assert!(!anthropic.unwrap().live);
}

#[test]
fn unknown_field_names_its_path() {
    let err = parse("[timeouts]\nttft = \"1s\"\nttfb = \"2s\"\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("timeouts"), "{msg}");
    assert!(msg.contains("ttfb"), "{msg}");
}

#[test]
fn bad_duration_names_its_path() {
    let err = parse("[timeouts]\nttft = \"soon\"\n").unwrap_err();
    match err {
        Error::ConfigParse { field, .. } => assert_eq!(field, "timeouts.ttft"),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn attempt_longer_than_request_is_rejected() {
    let raw = parse("[timeouts]\nrequest = \"10s\"\nattempt = \"20s\"\n").unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigInvalid { field, .. } if field == "timeouts.attempt"),
        "{err}"
    );
}

#[test]
fn unknown_models_are_rejected_with_a_suggestion() {
    let raw = parse("[router]\nfallback_model = \"gpt-4o-mnii\"\n").unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err().to_string();
    assert!(err.contains("router.fallback_model"), "{err}");
    assert!(err.contains("gpt-4o-mini"), "{err}");
    let raw = parse("[router]\ncandidates = [\"gpt-4o\", \"nope-model\"]\n").unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err().to_string();
    assert!(err.contains("router.candidates[1]"), "{err}");
}

#[test]
fn lambda_and_willingness_are_exclusive() {
    let raw = parse("[router]\nlambda = 10.0\nwillingness_to_pay = 0.1\n").unwrap();
    assert!(Config::resolve(raw, &no_env).is_err());
    let raw = parse("[router]\nwillingness_to_pay = 0.1\n").unwrap();
    let cfg = Config::resolve(raw, &no_env).unwrap();
    assert_eq!(cfg.objective, Objective::Utility { lambda: 10.0 });
}

#[test]
fn env_defaults_without_keys_have_no_candidates() {
    let cfg = Config::resolve(GatewayConfig::default(), &no_env).unwrap();
    assert!(cfg.candidates.is_empty());
    assert!(cfg.providers.iter().all(|p| !p.live));
}

#[test]
fn openai_base_url_env_makes_a_keyless_live_provider() {
    let env = |k: &str| (k == "SWITCHYARD_OPENAI_BASE_URL").then(|| "http://127.0.0.1:9/v1".into());
    let cfg = Config::resolve(GatewayConfig::default(), &env).unwrap();
    let openai = cfg
        .providers
        .iter()
        .find(|p| p.name.as_str() == "openai")
        .unwrap();
    assert!(openai.live);
    assert!(openai.api_key.is_none());
    assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
    assert!(cfg.candidates.contains(&ModelId::new("gpt-4o-mini")));
    assert!(!cfg.candidates.contains(&ModelId::new("claude-haiku-4.5")));
}

#[test]
fn keys_never_print() {
    let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-secret-value".to_owned());
    let cfg = Config::resolve(GatewayConfig::default(), &env).unwrap();
    let dump = format!("{cfg:?}");
    assert!(!dump.contains("sk-secret-value"));
}

#[test]
fn keyless_provider_in_file_is_live() {
    let raw = parse(
        "[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"http://localhost:8000/v1\"\n",
    )
    .unwrap();
    let cfg = Config::resolve(raw, &no_env).unwrap();
    assert!(cfg.providers[0].live);
    assert!(cfg.live_provider_of(&ModelId::new("gpt-4o")).is_some());
    assert!(cfg
        .live_provider_of(&ModelId::new("claude-haiku-4.5"))
        .is_none());
}
