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
    assert_eq!(cfg.router.encoder_weights, EncoderWeights::F32);
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
fn a_toml_syntax_error_names_the_file_and_line_but_no_field() {
    let msg = parse("[router\n").unwrap_err().to_string();
    assert!(
        msg.starts_with("invalid config test.toml: line 1: "),
        "{msg}"
    );
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
fn a_failed_cross_check_names_the_config_file_it_came_from() {
    let raw = GatewayConfig::from_toml_str("[router]\nlambda = -5.0\n", Path::new("cfg_negl.toml"))
        .unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("invalid config cfg_negl.toml at `router.lambda`:"),
        "{msg}"
    );
    // Built in code (no file): no path to name.
    let mut raw = GatewayConfig::default();
    raw.router.lambda = Some(-5.0);
    let msg = Config::resolve(raw, &no_env).unwrap_err().to_string();
    assert!(
        msg.starts_with("invalid config at `router.lambda`:"),
        "{msg}"
    );
}

#[test]
fn an_empty_candidates_list_is_refused_with_the_hint_to_omit_it() {
    let raw = parse("[router]\ncandidates = []\n").unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigInvalid { field, .. } if field == "router.candidates"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("test.toml"), "{msg}");
    assert!(msg.contains("omit the key"), "{msg}");
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
fn a_reasoning_timeout_set_beyond_the_request_deadline_is_rejected() {
    let raw = parse("[timeouts]\nreasoning = \"10m\"\n").unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigInvalid { field, .. } if field == "timeouts.reasoning"),
        "{err}"
    );
    // The default under a shorter deadline is bounded by it, not an error.
    let raw = parse("[timeouts]\nrequest = \"60s\"\nattempt = \"30s\"\n").unwrap();
    assert!(Config::resolve(raw, &no_env).is_ok());
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

#[test]
fn setup_hints_name_the_key_variable_or_the_missing_entry() {
    // Environment defaults: the vendor's key variable; a provider they lack: an entry.
    let cfg = Config::resolve(GatewayConfig::default(), &no_env).unwrap();
    let hint = cfg.provider_setup_hint(&ProviderId::new("anthropic"));
    assert!(hint.contains("ANTHROPIC_API_KEY"), "{hint}");
    let hint = cfg.provider_setup_hint(&ProviderId::new("local"));
    assert!(
        hint.contains("[[providers]]") && hint.contains("\"local\""),
        "{hint}"
    );
    // A config file: its entry's api_key_env, or the entry to add.
    let raw = parse(
        "[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"http://localhost:8000/v1\"\napi_key_env = \"MY_KEY\"\n",
    )
    .unwrap();
    let cfg = Config::resolve(raw, &no_env).unwrap();
    let hint = cfg.provider_setup_hint(&ProviderId::new("openai"));
    assert!(hint.contains("MY_KEY"), "{hint}");
    let hint = cfg.provider_setup_hint(&ProviderId::new("anthropic"));
    assert!(hint.contains("add a [[providers]] entry"), "{hint}");
}

fn judge_error(section: &str) -> Error {
    let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    match parse(section) {
        Ok(raw) => Config::resolve(raw, &env).unwrap_err(),
        Err(e) => e,
    }
}

fn field_of(err: &Error) -> String {
    match err {
        Error::ConfigInvalid { field, .. } | Error::ConfigParse { field, .. } => field.clone(),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn judge_section_resolves_and_is_off_by_default() {
    let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    assert!(Config::resolve(parse("").unwrap(), &env)
        .unwrap()
        .judge
        .is_none());
    let raw = parse(
        "[judge]\nmodel = \"openai/gpt-4o\"\nsample_rate = 0.25\nrubric = \"pairwise\"\nreference_model = \"gpt-4o-mini\"\ndaily_budget_usd = 5\nconcurrency = 3\ntimeout = \"20s\"\n",
    )
    .unwrap();
    let j = Config::resolve(raw, &env).unwrap().judge.unwrap();
    assert_eq!(j.model.as_str(), "gpt-4o", "aliases resolve to catalog ids");
    assert_eq!(j.rubric, Rubric::Pairwise);
    assert_eq!(j.reference_model.unwrap().as_str(), "gpt-4o-mini");
    assert_eq!((j.concurrency, j.queue_capacity), (3, 256));
    assert_eq!(j.metric, "correct");
    assert_eq!(j.timeout, Duration::from_secs(20));
}

#[test]
fn judge_errors_name_the_field() {
    let base = "[judge]\nmodel = \"gpt-4o\"\ndaily_budget_usd = 1\n";
    for (extra, field) in [
        ("sample_rate = 1.5\n", "judge.sample_rate"),
        ("sample_rate = -0.1\n", "judge.sample_rate"),
        ("concurrency = 0\n", "judge.concurrency"),
        ("queue_capacity = 0\n", "judge.queue_capacity"),
        ("max_prompt_chars = 0\n", "judge.max_prompt_chars"),
        ("metric = \" \"\n", "judge.metric"),
        ("timeout = \"0s\"\n", "judge.timeout"),
        ("rubric = \"pairwise\"\n", "judge.reference_model"),
        (
            "reference_model = \"gpt-4o-mini\"\n",
            "judge.reference_model",
        ),
        ("rubric = \"vibes\"\n", "judge.rubric"),
        ("temperature = 0\n", "judge"),
    ] {
        let err = judge_error(&format!("{base}{extra}"));
        assert!(field_of(&err).starts_with(field), "{extra}: {err}");
    }
    let err = judge_error("[judge]\nmodel = \"gpt-4o\"\ndaily_budget_usd = -1\n");
    assert_eq!(field_of(&err), "judge.daily_budget_usd", "{err}");
    let err = judge_error("[judge]\nmodel = \"gpt-4o\"\n");
    assert!(err.to_string().contains("daily_budget_usd"), "{err}");
    let err = judge_error("[judge]\nmodel = \"no-such-model\"\ndaily_budget_usd = 1\n");
    assert_eq!(field_of(&err), "judge.model", "{err}");
    // Anthropic has no key in this environment: its models cannot judge.
    let err = judge_error("[judge]\nmodel = \"claude-sonnet-4.5\"\ndaily_budget_usd = 1\n");
    assert_eq!(field_of(&err), "judge.model", "{err}");
    assert!(err.to_string().contains("API key"), "{err}");
}

#[test]
fn retention_needs_a_day_and_an_archive_needs_a_retention() {
    let short = GatewayConfig {
        log: crate::config::LogConfig {
            retention_days: Some(0),
            ..Default::default()
        },
        ..GatewayConfig::default()
    };
    let err = Config::resolve(short, &no_env).unwrap_err();
    assert_eq!(field_of(&err), "log.retention_days");
    assert!(err.to_string().contains("at least 1"), "{err}");
    let orphan = GatewayConfig {
        log: crate::config::LogConfig {
            retention_archive: Some("old.jsonl".into()),
            ..Default::default()
        },
        ..GatewayConfig::default()
    };
    assert_eq!(
        field_of(&Config::resolve(orphan, &no_env).unwrap_err()),
        "log.retention_archive"
    );
    let ok = GatewayConfig {
        log: crate::config::LogConfig {
            retention_days: Some(7),
            ..Default::default()
        },
        ..GatewayConfig::default()
    };
    assert!(Config::resolve(ok, &no_env).is_ok());
    // A size cap: at least 16 MiB, and it is enough for an archive.
    let tiny = GatewayConfig {
        log: crate::config::LogConfig {
            retention_max_bytes: Some(1_000),
            ..Default::default()
        },
        ..GatewayConfig::default()
    };
    let err = Config::resolve(tiny, &no_env).unwrap_err();
    assert_eq!(field_of(&err), "log.retention_max_bytes");
    assert!(err.to_string().contains("16 MiB"), "{err}");
    let capped = GatewayConfig {
        log: crate::config::LogConfig {
            retention_max_bytes: Some(10 << 30),
            retention_archive: Some("old.jsonl".into()),
            ..Default::default()
        },
        ..GatewayConfig::default()
    };
    assert!(Config::resolve(capped, &no_env).is_ok());
}

#[test]
fn cache_section_parses_and_refuses_bad_values_by_field() {
    let raw = parse(
        "[cache]\nenabled = true\nttl = \"90s\"\nmax_entries = 10\nmax_bytes = 4096\ndeterministic_only = false\n",
    )
    .unwrap();
    let cache = Config::resolve(raw, &no_env).unwrap().cache;
    assert!(cache.enabled && !cache.deterministic_only);
    assert_eq!(
        (cache.ttl, cache.max_entries, cache.max_bytes),
        (Duration::from_secs(90), 10, 4096)
    );
    let defaults = Config::resolve(GatewayConfig::default(), &no_env)
        .unwrap()
        .cache;
    assert!(!defaults.enabled && defaults.deterministic_only && !defaults.semantic);
    assert_eq!(defaults.semantic_threshold, 0.85);
    assert_eq!(defaults.evict_below, 0.5);
    let semantic = Config::resolve(
        parse("[cache]\nenabled = true\nsemantic = true\nsemantic_threshold = 0.9\n").unwrap(),
        &no_env,
    )
    .unwrap()
    .cache;
    assert!(semantic.semantic && semantic.semantic_threshold == 0.9);

    for (src, field) in [
        ("[cache]\nttl = \"0s\"\n", "cache.ttl"),
        ("[cache]\nttl = \"400days\"\n", "cache.ttl"),
        ("[cache]\nmax_entries = 0\n", "cache.max_entries"),
        (
            "[cache]\nmax_entries = 100\nmax_bytes = 10\n",
            "cache.max_bytes",
        ),
        ("[cache]\nsemantic = true\n", "cache.semantic"),
        (
            "[cache]\nenabled = true\nsemantic_threshold = 0.0\n",
            "cache.semantic_threshold",
        ),
        (
            "[cache]\nenabled = true\nsemantic_threshold = 1.5\n",
            "cache.semantic_threshold",
        ),
        (
            "[cache]\nenabled = true\nsemantic_threshold = nan\n",
            "cache.semantic_threshold",
        ),
        ("[cache]\nevict_below = 1.5\n", "cache.evict_below"),
        ("[cache]\nevict_below = -0.1\n", "cache.evict_below"),
        ("[cache]\nevict_below = nan\n", "cache.evict_below"),
    ] {
        let err = Config::resolve(parse(src).unwrap(), &no_env).unwrap_err();
        assert!(
            matches!(&err, Error::ConfigInvalid { field: f, .. } if f == field),
            "{src}: {err}"
        );
    }
    for (src, field) in [
        ("[cache]\nttl = \"soon\"\n", "cache.ttl"),
        ("[cache]\nmax_bytes = -1\n", "cache.max_bytes"),
        ("[cache]\nenable = true\n", "cache"),
    ] {
        match parse(src).unwrap_err() {
            Error::ConfigParse {
                field: f, message, ..
            } => {
                assert!(f.starts_with(field), "{src}: {f} {message}")
            }
            other => panic!("{src}: unexpected {other}"),
        }
    }
}

#[test]
fn embeddings_models_default_to_openais_and_are_checked() {
    let src = include_str!("../../config/example.toml");
    let cfg = Config::resolve(parse(src).unwrap(), &no_env).unwrap();
    assert_eq!(cfg.embeddings.len(), 1);
    assert_eq!(cfg.embeddings[0].upstream_name, "text-embedding-3-small");
    assert!((cfg.embeddings[0].cost_usd(1_000_000) - 0.02).abs() < 1e-12);

    let providers = "[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                     [[providers]]\nname = \"anthropic\"\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9\"\n";
    let cfg = Config::resolve(parse(providers).unwrap(), &no_env).unwrap();
    let names: Vec<&str> = cfg.embeddings.iter().map(|e| e.model.as_str()).collect();
    assert!(names.contains(&"text-embedding-3-large"), "{names:?}");

    for (entry, field) in [
        (
            "model = \"e\"\nprovider = \"anthropic\"\ninput_usd_per_mtok = 0.1",
            "embeddings[0].provider",
        ),
        (
            "model = \"e\"\nprovider = \"nope\"\ninput_usd_per_mtok = 0.1",
            "embeddings[0].provider",
        ),
        (
            "model = \"auto\"\nprovider = \"openai\"\ninput_usd_per_mtok = 0.1",
            "embeddings[0].model",
        ),
        (
            "model = \"e\"\nprovider = \"openai\"\ninput_usd_per_mtok = -1.0",
            "embeddings[0].input_usd_per_mtok",
        ),
    ] {
        let src = format!("{providers}[[embeddings]]\n{entry}\n");
        let err = Config::resolve(parse(&src).unwrap(), &no_env).unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn http_threads_default_to_one_on_small_machines_and_follow_the_setting() {
    let mut server = ServerConfig::default();
    assert_eq!(server.http_threads(1), 1);
    assert_eq!(server.http_threads(2), 1);
    assert_eq!(server.http_threads(4), 4);
    assert_eq!(server.http_threads(16), 16);
    server.worker_threads = Some(0);
    assert_eq!(server.http_threads(2), 1, "0 means the default");
    server.worker_threads = Some(3);
    assert_eq!(server.http_threads(2), 3);
    let parsed = parse("[server]\nworker_threads = 2\n").unwrap();
    assert_eq!(parsed.server.worker_threads, Some(2));
}

/// A thread count no machine needs is a config error naming the field (100,000 aborted the
/// process while the runtime started its threads); the bound itself is accepted.
#[test]
fn worker_threads_beyond_the_bound_name_the_field() {
    let max = format!("[server]\nworker_threads = {MAX_WORKER_THREADS}\n");
    assert!(Config::resolve(parse(&max).unwrap(), &no_env).is_ok());
    for n in [MAX_WORKER_THREADS + 1, 100_000] {
        let src = format!("[server]\nworker_threads = {n}\n");
        let err = Config::resolve(parse(&src).unwrap(), &no_env).unwrap_err();
        assert!(
            matches!(&err, Error::ConfigInvalid { field, .. } if field == "server.worker_threads"),
            "{n}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&n.to_string()) && msg.contains("1024"),
            "{msg}"
        );
    }
}

/// A `[[providers]]` entry whose key variable is unset or empty is listed with the variable
/// and the models it leaves without a live provider; a live one, a keyless one and the
/// environment's default providers are not.
#[test]
fn providers_whose_key_variable_is_unset_are_listed_with_their_models() {
    let src = r#"
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
api_key_env = "ANTHROPIC_API_KEYY"

[[providers]]
name = "google"
kind = "gemini"
base_url = "https://generativelanguage.googleapis.com"
api_key_env = "GEMINI_API_KEY"
"#;
    let env = |k: &str| match k {
        "OPENAI_API_KEY" => Some("sk-test".to_owned()),
        "GEMINI_API_KEY" => Some(String::new()),
        _ => None,
    };
    let cfg = Config::resolve(parse(src).unwrap(), &env).unwrap();
    let listed = cfg.providers_without_key();
    let names: Vec<(usize, &str, &str)> = listed
        .iter()
        .map(|p| (p.index, p.name.as_str(), p.var))
        .collect();
    assert_eq!(
        names,
        [
            (1, "anthropic", "ANTHROPIC_API_KEYY"),
            (2, "google", "GEMINI_API_KEY")
        ]
    );
    let claude = cfg
        .catalog
        .entries()
        .filter(|e| e.spec.provider.as_str() == "anthropic")
        .map(|e| e.spec.id.clone())
        .collect::<Vec<_>>();
    assert!(!claude.is_empty());
    assert_eq!(listed[0].models, claude);
    let line = listed[0].to_string();
    assert!(
        line.starts_with("providers[1] (anthropic): $ANTHROPIC_API_KEYY is not set or empty"),
        "{line}"
    );
    assert!(line.contains(claude[0].as_str()), "{line}");

    // Without [[providers]], the vendors whose keys are unset are not warned about.
    let defaults = Config::resolve(GatewayConfig::default(), &env).unwrap();
    assert!(defaults.providers_without_key().is_empty());
}

#[test]
fn the_postgres_log_comes_from_the_file_or_the_environment_never_printed() {
    let from_env =
        |name: &str| (name == "PG_URL").then(|| "postgres://sy:pw@db:5432/log".to_owned());
    let raw: GatewayConfig = toml::from_str("[log]\npostgres_env = \"PG_URL\"").unwrap();
    let config = Config::resolve(raw, &from_env).unwrap();
    let location = config.log.location();
    assert_eq!(location.to_string(), "postgres://sy:***@db:5432/log");
    assert!(!format!("{:?}", config.log).contains("pw"));
    let unset: GatewayConfig = toml::from_str("[log]\npostgres_env = \"NOPE\"").unwrap();
    assert_eq!(
        field_of(&Config::resolve(unset, &from_env).unwrap_err()),
        "log.postgres_env"
    );
    let not_a_url = toml::from_str::<GatewayConfig>("[log]\npostgres = \"db:5432\"").unwrap_err();
    assert!(not_a_url.to_string().contains("postgres://"), "{not_a_url}");
    // A size cap applies to PostgreSQL too (its estimated live data), with the same floor.
    let capped: GatewayConfig =
        toml::from_str("[log]\npostgres = \"postgres://db/log\"\nretention_max_bytes = 1000000000")
            .unwrap();
    let capped = Config::resolve(capped, &no_env).unwrap();
    assert_eq!(capped.log.retention_max_bytes, Some(1_000_000_000));
    let tiny: GatewayConfig =
        toml::from_str("[log]\npostgres = \"postgres://db/log\"\nretention_max_bytes = 1000")
            .unwrap();
    assert_eq!(
        field_of(&Config::resolve(tiny, &no_env).unwrap_err()),
        "log.retention_max_bytes"
    );
}

#[test]
fn redis_section_defaults_and_checks_name_the_field() {
    let raw = parse("[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n").unwrap();
    let cfg = Config::resolve(raw, &no_env).unwrap();
    let redis = cfg.redis.unwrap();
    assert_eq!(redis.key_prefix, "switchyard:");
    assert_eq!(redis.timeout, Duration::from_millis(50));
    assert_eq!(redis.on_unavailable, OnUnavailable::Local);
    // The longest request (a 10-minute stream whose attempt may start up to the 5-minute
    // request deadline late) plus a minute.
    assert_eq!(redis.hold_for, Duration::from_secs(960));
    assert_eq!(format!("{:?}", redis.url), "*****");

    for (src, field) in [
        ("url = \"http://nope\"", "redis.url"),
        ("url = \"redis://h\"\nkey_prefix = \"\"", "redis.key_prefix"),
        ("url = \"redis://h\"\ntimeout = \"0s\"", "redis.timeout"),
        ("url = \"redis://h\"\ntimeout = \"1m\"", "redis.timeout"),
    ] {
        let raw = parse(&format!("[redis]\n{src}\n")).unwrap();
        let err = Config::resolve(raw, &no_env).unwrap_err();
        assert!(
            matches!(&err, Error::ConfigInvalid { field: f, .. } if f == field),
            "{src}: {err}"
        );
    }
    let err = parse("[redis]\nurl = \"redis://h\"\non_unavailable = \"maybe\"\n").unwrap_err();
    assert!(err.to_string().contains("redis.on_unavailable"), "{err}");
    assert!(Config::resolve(parse("").unwrap(), &no_env)
        .unwrap()
        .redis
        .is_none());
}

#[test]
fn a_shared_cache_needs_redis_and_the_cache() {
    let no_redis = parse("[cache]\nenabled = true\nshared = true\n").unwrap();
    assert_eq!(
        field_of(&Config::resolve(no_redis, &no_env).unwrap_err()),
        "cache.shared"
    );
    let off =
        parse("[cache]\nshared = true\n[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n").unwrap();
    assert_eq!(
        field_of(&Config::resolve(off, &no_env).unwrap_err()),
        "cache.shared"
    );
    let ok = parse(
        "[cache]\nenabled = true\nshared = true\n[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n",
    )
    .unwrap();
    assert!(Config::resolve(ok, &no_env).unwrap().cache.shared);
}

#[test]
fn encoder_weights_take_f32_or_int8_and_name_the_choices_otherwise() {
    let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    let resolve = |src: &str| Config::resolve(parse(src).unwrap(), &env).unwrap();
    let cfg = resolve("[router]\nencoder_weights = \"int8\"\n");
    assert_eq!(cfg.router.encoder_weights, EncoderWeights::Int8);
    let cfg = resolve("[router]\nencoder_weights = \"f32\"\n");
    assert_eq!(cfg.router.encoder_weights, EncoderWeights::F32);
    let msg = parse("[router]\nencoder_weights = \"int4\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("encoder_weights") || msg.contains("router"),
        "{msg}"
    );
    assert!(msg.contains("f32") && msg.contains("int8"), "{msg}");
}

/// Entries that could never match what clients send are refused, naming what to write.
#[test]
fn hosts_with_a_port_and_origins_browsers_never_send_are_refused() {
    for (toml, field, hint) in [
        (
            "[server]\nallowed_hosts = [\"gw.internal:18907\"]\n",
            "server.allowed_hosts[0]",
            "`gw.internal`",
        ),
        (
            "[server]\ncors_origins = [\"https://App.Example.com\"]\n",
            "server.cors_origins[0]",
            "`https://app.example.com`",
        ),
        (
            "[server]\ncors_origins = [\"https://ok.example\", \"https://app.example.com:443\"]\n",
            "server.cors_origins[1]",
            "`https://app.example.com`",
        ),
    ] {
        let raw = parse(toml).unwrap();
        let err = Config::resolve(raw, &no_env).unwrap_err();
        assert!(
            matches!(&err, Error::ConfigInvalid { field: f, .. } if f == field),
            "{err}"
        );
        assert!(err.to_string().contains(hint), "{err}");
    }
    let ok = "[server]\nallowed_hosts = [\"gw.internal\", \"[::1]\"]\ncors_origins = [\"http://localhost:3000\"]\n";
    assert!(Config::resolve(parse(ok).unwrap(), &no_env).is_ok(), "{ok}");
}

/// A zero routing deadline sent every `auto` request to the static fallback without a word,
/// and a huge one (or any huge timeout) panicked when added to the current instant.
#[test]
fn routing_deadline_and_timeouts_are_bounded() {
    for (src, field) in [
        (
            "[router]\nrouting_deadline = \"0s\"\n",
            "router.routing_deadline",
        ),
        (
            "[router]\nrouting_deadline = \"601s\"\n",
            "router.routing_deadline",
        ),
        (
            "[router]\nrouting_deadline = \"10000000000000000000s\"\n",
            "router.routing_deadline",
        ),
        (
            "[timeouts]\nrequest = \"10000000000000000000s\"\ntotal = \"10000000000000000000s\"\n",
            "timeouts.request",
        ),
        (
            "[server]\nidle_timeout = \"8days\"\n",
            "server.idle_timeout",
        ),
        (
            "[server]\nshutdown_grace = \"8days\"\n",
            "server.shutdown_grace",
        ),
    ] {
        let err = Config::resolve(parse(src).unwrap(), &no_env).unwrap_err();
        assert!(
            matches!(&err, Error::ConfigInvalid { field: f, .. } if f == field),
            "{src}: {err}"
        );
    }
    let ok = parse("[router]\nrouting_deadline = \"600s\"\n").unwrap();
    assert!(Config::resolve(ok, &no_env).is_ok());
}

#[test]
fn a_base_url_that_is_not_a_url_names_the_field() {
    let raw = parse(
        "[[providers]]\nname = \"local\"\nkind = \"openai\"\nbase_url = \"http://exa mple.com/v1\"\n",
    )
    .unwrap();
    let err = Config::resolve(raw, &no_env).unwrap_err();
    assert_eq!(field_of(&err), "providers[0].base_url");
    assert!(err.to_string().contains("is not a URL"), "{err}");
}
