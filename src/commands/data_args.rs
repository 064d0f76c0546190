//! `--data` and its companions, shared by `train`, `eval`, `score` and `onboard`: the flags,
//! and loading them into a priced, embedded outcome table with progress on stderr. The work is
//! `training::experiment`'s; this file resolves flags and draws.

use std::path::PathBuf;

use anyhow::Context;
use classifier::RoutingAdapter;
use datasets::OutcomeTable;
use router_core::Embedder;
use training::embed_cache::DEFAULT_CACHE_DIR;
use training::experiment::{embed_table, import_priced, source_specs, CostBasis, ImportSpec};
use training::Progress;

use super::progress::{bar, draw};
use super::EncoderArgs;

/// Where the outcome data comes from and how it is embedded (shared with `eval`).
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Outcome data: a file or folder in any supported format (canonical JSONL; a long CSV
    /// with `prompt`, `model` and `score` columns, one row per prompt and model; the
    /// RouterBench, RouteLLM, LLMRouter, RouterDC and RouterArena layouts: datasets/README.md),
    /// or a dataset name (routerbench, routellm, routellm-gsm8k, routellm-mmlu, llmrouter,
    /// routerarena, routerdc) looked up in ../shared/datasets. Repeat to merge several.
    #[arg(long = "data", required_unless_present_any = ["from_log", "live"])]
    pub data: Vec<String>,
    /// Drop every prompt of this task or task family (repeatable), e.g. `gpqa`. A task that
    /// no --data source has is refused (a typo would keep the rows).
    #[arg(long = "exclude-task")]
    pub exclude_task: Vec<String>,
    /// Keep at most this many prompts of each --data source, drawn at random with
    /// --sample-seed (for slow machines).
    #[arg(long)]
    pub max_prompts: Option<usize>,
    /// Seed of the --max-prompts sample.
    #[arg(long, default_value_t = 0)]
    pub sample_seed: u64,
    /// Two ids of one model in different sources, `ALIAS=CANONICAL` (repeatable): ALIAS's
    /// column is renamed CANONICAL before sources are merged, so that they share it, e.g.
    /// `--same-model mistralai/mixtral-8x7b-chat=mistralai/Mixtral-8x7B-Instruct-v0.1`. An
    /// ALIAS that no --data source has is refused.
    #[arg(long = "same-model", value_parser = parse_same_model)]
    pub same_models: Vec<(String, String)>,
    /// Replace recorded costs with catalog prices × tokens (recorded or estimated from the
    /// response), so that merged sources share one cost basis; the routers predict cost the
    /// same way.
    #[arg(long)]
    pub reprice: bool,
    /// Folder of the embedding cache (one file per encoder and token budget).
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// Price a model the catalog does not know (or override the catalog's price), USD per 1M
    /// input and output tokens: `--price MODEL=IN,OUT` (repeatable). `--price '*=IN,OUT'`
    /// prices every model that neither another --price nor the catalog names (data that
    /// records no costs, e.g. open models of one size). Used to fill missing costs and to
    /// predict cost.
    #[arg(long = "price", value_parser = parse_price)]
    pub prices: Vec<(String, (f64, f64))>,
    /// Also mean-pool these earlier encoder layers into every embedding, comma-separated (0 =
    /// the embedding layer, 1-5 = transformer blocks; the last layer always comes first).
    /// Experimental (not adopted on validation); an artifact made with it is served with it.
    #[arg(long, value_parser = parse_extra_layers, default_value = "")]
    pub extra_layers: classifier::ExtraLayers,
    /// Append prompt statistics (length, lines, digits, code and maths symbols, non-ASCII
    /// share, questions; computed on the whole prompt) to every embedding, after any adapter.
    /// An artifact trained with them is served with them.
    #[arg(long)]
    pub prompt_features: bool,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// A routing adapter appended to every embedding (not a flag: `score` sets it from the
    /// artifact it scores).
    #[arg(skip)]
    pub adapter: Option<RoutingAdapter>,
}

impl DataArgs {
    /// Prices per model: `--price` first, then the embedded catalog, then `--price '*=…'`.
    pub fn prices(&self) -> anyhow::Result<impl Fn(&str) -> Option<(f64, f64)> + '_> {
        Ok(price_lookup(&self.prices, catalog_prices()?))
    }
}

/// Transformer blocks of all-MiniLM-L6-v2, the encoder `model fetch` installs (and the only
/// one its hash check accepts).
const ENCODER_LAYERS: usize = 6;

/// `--extra-layers`: checked against the encoder's depth here, so that a bad list is named as
/// the flag before any import, not later as a broken `config.json` of the weights.
fn parse_extra_layers(s: &str) -> Result<classifier::ExtraLayers, String> {
    let layers = classifier::ExtraLayers::parse(s)?;
    match layers.layers().last() {
        Some(&last) if last >= ENCODER_LAYERS => Err(format!(
            "layer {last}: use 0 (the embedding layer) to {} (transformer blocks); layer \
             {ENCODER_LAYERS} is the last and always pooled",
            ENCODER_LAYERS - 1
        )),
        _ => Ok(layers),
    }
}

/// The model any `--price` with this name prices (`*=IN,OUT`).
const EVERY_OTHER_MODEL: &str = "*";

/// A model's price: its own `--price`, else `catalog`'s, else the `*` one.
fn price_lookup<'a>(
    given: &'a [(String, (f64, f64))],
    catalog: impl Fn(&str) -> Option<(f64, f64)> + 'a,
) -> impl Fn(&str) -> Option<(f64, f64)> + 'a {
    let named = |name: &str| given.iter().find(|(m, _)| m == name).map(|(_, p)| *p);
    move |model: &str| {
        named(model)
            .or_else(|| catalog(model))
            .or_else(|| named(EVERY_OTHER_MODEL))
    }
}

/// A `--price` for a model no --data source has is most likely a typo: the model it meant
/// stays unpriced, or silently takes the `*` price. A warning, not an error, so that one list
/// of prices can serve several datasets.
fn unknown_prices_warning(given: &[(String, (f64, f64))], models: &[String]) -> Option<String> {
    let unknown: Vec<&str> = given
        .iter()
        .map(|(m, _)| m.as_str())
        .filter(|m| *m != EVERY_OTHER_MODEL && !models.iter().any(|d| d == m))
        .collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "warning: --price {}: no --data source has {} (a typo?); the data's models are: {}",
            unknown.join(", --price "),
            if unknown.len() == 1 {
                "that model"
            } else {
                "those models"
            },
            models.join(", ")
        )
    })
}

/// `ALIAS=CANONICAL`: two different, non-empty model ids.
fn parse_same_model(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && a.trim() != b.trim() => {
            Ok((a.trim().to_owned(), b.trim().to_owned()))
        }
        _ => Err(format!(
            "`{s}`: use ALIAS=CANONICAL with two different model ids, e.g. mistralai/mixtral-8x7b-chat=mistralai/Mixtral-8x7B-Instruct-v0.1"
        )),
    }
}

/// `MODEL=IN,OUT`: USD per 1M input and output tokens (the last `=` splits, so model names
/// may contain one).
fn parse_price(s: &str) -> Result<(String, (f64, f64)), String> {
    let usage =
        || format!("`{s}`: expected MODEL=IN,OUT in USD per 1M tokens, e.g. my-model=0.2,0.6");
    let (model, prices) = s.rsplit_once('=').ok_or_else(usage)?;
    let (input, output) = prices.split_once(',').ok_or_else(usage)?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .ok_or_else(usage)
    };
    if model.trim().is_empty() {
        return Err(usage());
    }
    Ok((model.trim().to_owned(), (parse(input)?, parse(output)?)))
}

/// The catalog's USD per 1M (input, output) tokens of a model, where the catalog knows it.
pub fn catalog_prices() -> anyhow::Result<impl Fn(&str) -> Option<(f64, f64)>> {
    let catalog = models::Catalog::embedded().context("loading the embedded catalog")?;
    Ok(move |model: &str| {
        catalog
            .get(&router_core::ModelId::new(model))
            .ok()
            .map(|e| (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok))
    })
}

/// Imports, merges and filters the data, fills missing costs from catalog prices, then embeds
/// every prompt through the cache. Returns the table, one embedding per row and the encoder's
/// fingerprint.
pub fn load(args: &DataArgs) -> anyhow::Result<(OutcomeTable, Vec<Vec<f32>>, String)> {
    load_with_sources(args).map(|(t, x, f, _)| (t, x, f))
}

/// The table, one embedding per row, the encoder's fingerprint, and each row's source.
type Loaded = (OutcomeTable, Vec<Vec<f32>>, String, Vec<String>);

/// [`load`], also returning each row's source: the `--data` argument it came from.
pub fn load_with_sources(args: &DataArgs) -> anyhow::Result<Loaded> {
    let spec = ImportSpec {
        sources: source_specs(&args.data)?,
        exclude_tasks: args.exclude_task.clone(),
        max_prompts: args.max_prompts,
        sample_seed: args.sample_seed,
        same_models: args.same_models.clone(),
    };
    let prices = args.prices()?;
    let costs = CostBasis {
        reprice: args.reprice,
        prices: &prices,
    };
    let (table, sources) = import_priced(&spec, &costs, &mut |line| eprintln!("{line}"))?;
    if let Some(warning) = unknown_prices_warning(&args.prices, &table.models) {
        eprintln!("{warning}");
    }
    let mut encoder = args.encoder.load_pooling(args.extra_layers)?;
    if let Some(adapter) = &args.adapter {
        encoder = encoder.with_adapter(adapter.clone());
    }
    if args.prompt_features {
        encoder = encoder.with_prompt_features();
        eprintln!(
            "appending {} prompt statistics to every embedding: {}",
            classifier::prompt_features::PROMPT_FEATURES,
            classifier::prompt_features::PROMPT_FEATURE_NAMES.join(", ")
        );
    }
    if args.extra_layers != classifier::ExtraLayers::NONE {
        eprintln!(
            "pooling layers {} besides the last: {} values per embedding",
            args.extra_layers.label(),
            encoder.dim()
        );
    }
    let fingerprint = encoder.fingerprint().to_owned();
    let bar = bar(table.len() as u64, "embedding");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let (x, cached, cache_path) = embed_table(
        &table,
        &encoder,
        &args.cache_dir,
        args.encoder.max_tokens,
        Some(&mut on_progress),
    )?;
    bar.finish_and_clear();
    eprintln!(
        "{} prompts embedded ({cached} cached vectors in {})",
        x.len(),
        cache_path.display()
    );
    Ok((table, x, fingerprint, sources))
}

#[cfg(test)]
mod layer_tests {
    use super::parse_extra_layers;

    #[test]
    fn extra_layers_past_the_encoders_depth_are_refused() {
        assert_eq!(parse_extra_layers("0,5").unwrap().label(), "0,5");
        assert_eq!(
            parse_extra_layers("").unwrap(),
            classifier::ExtraLayers::NONE
        );
        for bad in ["6", "2,7", "11", "x"] {
            assert!(parse_extra_layers(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod price_tests {
    use super::{parse_price, price_lookup, unknown_prices_warning};

    #[test]
    fn a_price_for_a_model_the_data_lacks_is_named() {
        let models = vec!["acme/llama-3-8b".to_owned(), "gpt-4o".to_owned()];
        let ok = vec![
            ("acme/llama-3-8b".to_owned(), (0.1, 0.2)),
            ("*".to_owned(), (1.0, 1.0)),
        ];
        assert_eq!(unknown_prices_warning(&ok, &models), None);
        let typo = vec![("acme/llama3-8b".to_owned(), (0.1, 0.2))];
        let err = unknown_prices_warning(&typo, &models).unwrap_or_default();
        assert!(
            err.contains("--price acme/llama3-8b") && err.contains("acme/llama-3-8b, gpt-4o"),
            "{err}"
        );
    }

    #[test]
    fn a_star_price_covers_only_what_nothing_else_prices() {
        let given = vec![
            ("*".to_owned(), (0.2, 0.2)),
            ("mine".to_owned(), (1.0, 2.0)),
        ];
        let catalog = |m: &str| (m == "known").then_some((3.0, 4.0));
        let price = price_lookup(&given, catalog);
        assert_eq!(price("mine"), Some((1.0, 2.0)));
        assert_eq!(price("known"), Some((3.0, 4.0)));
        assert_eq!(price("open-7b"), Some((0.2, 0.2)));
        let none = price_lookup(&[], catalog);
        assert_eq!(none("open-7b"), None);
        assert_eq!(parse_price("*=0.2,0.2"), Ok(("*".to_owned(), (0.2, 0.2))));
    }

    #[test]
    fn prices_parse_and_bad_ones_say_the_form() {
        assert_eq!(
            parse_price("org/model=v1=0.2, 0.6"),
            Ok(("org/model=v1".to_owned(), (0.2, 0.6)))
        );
        for bad in ["m", "m=0.2", "=0.1,0.2", "m=a,b", "m=-1,2", "m=NaN,1"] {
            let err = parse_price(bad).unwrap_err();
            assert!(err.contains("MODEL=IN,OUT"), "{bad}: {err}");
        }
    }
}
