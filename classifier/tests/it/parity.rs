use std::path::PathBuf;
use std::sync::OnceLock;

use classifier::{Encoder, EncoderConfig};

pub fn encoder_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_ENCODER_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(classifier::weights::DEFAULT_ENCODER_DIR)
        },
        PathBuf::from,
    )
}

pub fn encoder() -> &'static Encoder {
    static ENCODER: OnceLock<Encoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        Encoder::load(&encoder_dir(), EncoderConfig::default())
            .expect("encoder weights: run `cargo run --release -- model fetch` first")
    })
}

struct Case {
    id: String,
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/parity.json")).unwrap();
    assert_eq!(raw["max_tokens"], 256);
    raw["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = match c.get("text") {
                Some(t) => t.as_str().unwrap().to_owned(),
                None => {
                    let unit = c["repeat"]["unit"].as_str().unwrap();
                    let chars = c["repeat"]["chars"].as_u64().unwrap() as usize;
                    unit.repeat(chars / unit.len() + 1)
                        .chars()
                        .take(chars)
                        .collect()
                }
            };
            Case {
                id: c["id"].as_str().unwrap().to_owned(),
                text,
                tokens: c["tokens"].as_u64().unwrap() as usize,
                embedding: c["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect(),
            }
        })
        .collect()
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn every_fixture_text_matches_the_reference() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let enc = encoder();
    let mut worst = (1.0f64, String::new());
    for case in &cases {
        assert_eq!(
            enc.token_ids(&case.text).unwrap().len(),
            case.tokens,
            "{}: token count",
            case.id
        );
        let got = enc.encode(&[&case.text]).unwrap().remove(0);
        assert_eq!(got.len(), 384);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{}: norm {norm}", case.id);
        let cos = cosine(&got, &case.embedding);
        if cos < worst.0 {
            worst = (cos, case.id.clone());
        }
        assert!(cos >= 0.9999, "{}: cosine {cos}", case.id);
    }
    eprintln!("worst cosine {:.7} ({})", worst.0, worst.1);
}

#[test]
fn a_batch_equals_single_encodes() {
    let cases = cases();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let enc = encoder();
    let batched = enc.encode(&texts).unwrap();
    for (case, row) in cases.iter().zip(&batched) {
        let single = enc.encode(&[&case.text]).unwrap().remove(0);
        let max_diff = row
            .iter()
            .zip(&single)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            max_diff <= 1e-5,
            "{}: batched differs by {max_diff}",
            case.id
        );
    }
}

#[test]
fn truncation_budget_is_configurable_and_explicit() {
    let dir = encoder_dir();
    let short = Encoder::load(
        &dir,
        EncoderConfig {
            max_tokens: 16,
            ..Default::default()
        },
    )
    .unwrap();
    let text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen";
    let ids = short.token_ids(text).unwrap();
    assert_eq!(ids.len(), 16);
    // Head and tail survive: the first and last words are both still there.
    let full = encoder().token_ids(text).unwrap();
    assert_eq!(ids[1], full[1]);
    assert_eq!(ids[14], full[full.len() - 2]);
    // The shipped tokenizer.json pads to 128: that must not leak into our ids.
    assert!(encoder().token_ids("hi").unwrap().len() < 128);
    assert!(Encoder::load(
        &dir,
        EncoderConfig {
            max_tokens: 513,
            ..Default::default()
        }
    )
    .is_err());
}

/// A long text of runs the tokenizer cannot split (base64, hashes: one `[UNK]` per word over
/// 100 characters) still fills the budget from both ends, as the token cut of the whole text
/// would: the character precut takes more characters where 24 per token were not enough, and
/// never cuts a word into pieces the text does not have.
#[test]
fn a_text_of_unsplittable_runs_still_fills_the_budget() {
    let enc = encoder();
    let blob = vec!["x".repeat(150); 400].join(" ");
    let ids = enc.token_ids(&blob).unwrap();
    let budget = enc.config().max_tokens;
    assert_eq!(ids.len(), budget);
    let word = enc.token_ids(&"x".repeat(150)).unwrap()[1];
    let unks = ids.iter().filter(|&&id| id == word).count();
    assert!(
        ids[1..budget - 1].iter().all(|&id| id == word),
        "{unks} of {budget}: {ids:?}"
    );
    // Ordinary words near a cut are kept whole at both ends.
    let words = vec!["routing"; 20_000].join(" ");
    let ids = enc.token_ids(&words).unwrap();
    let routing = enc.token_ids("routing").unwrap()[1..].to_vec();
    assert_eq!(ids.len(), budget);
    assert!(ids[1..budget - 1].iter().all(|id| routing.contains(id)));
}

#[test]
fn the_encoder_is_shared_across_threads() {
    let enc = encoder();
    let expected = enc.encode(&["shared across threads"]).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| enc.encode(&["shared across threads"]).unwrap()))
            .collect();
        for h in handles {
            let got = h.join().unwrap();
            let diff = got[0]
                .iter()
                .zip(&expected[0])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff <= 1e-6);
        }
    });
}

#[test]
fn extra_layers_append_unit_blocks_after_the_standard_embedding() {
    use classifier::{ExtraLayers, EMBEDDING_DIM};
    let extra = ExtraLayers::parse("0,3").unwrap();
    let pooled = Encoder::load(
        &encoder_dir(),
        EncoderConfig {
            extra_layers: extra,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(pooled.dim(), 3 * EMBEDDING_DIM);
    assert_ne!(
        router_core::Embedder::fingerprint(&pooled),
        router_core::Embedder::fingerprint(encoder())
    );
    let texts = ["What is 17 times 23?", "Write a haiku about routers."];
    let plain = encoder().encode(&texts).unwrap();
    let got = pooled.encode(&texts).unwrap();
    for (g, p) in got.iter().zip(&plain) {
        assert_eq!(g.len(), 3 * EMBEDDING_DIM);
        // The first block is the model's own embedding, unchanged.
        let diff = g[..EMBEDDING_DIM]
            .iter()
            .zip(p)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-6, "first block differs by {diff}");
        // Every extra block is a unit vector, and a different one from the last layer's.
        for block in g.chunks_exact(EMBEDDING_DIM).skip(1) {
            let norm = block.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
            let cos: f32 = block.iter().zip(p).map(|(a, b)| a * b).sum();
            assert!(
                cos < 0.999,
                "an extra block repeats the last layer (cos {cos})"
            );
        }
    }
    // Layer 6 is the last one (always pooled); beyond the model's layers is refused.
    let too_deep = ExtraLayers::parse("6").unwrap();
    let err = Encoder::load(
        &encoder_dir(),
        EncoderConfig {
            extra_layers: too_deep,
            ..Default::default()
        },
    )
    .err()
    .expect("layer 6 is the last layer");
    assert!(err.to_string().contains("extra layer 6"), "{err}");
}

#[test]
fn extra_layer_lists_parse_and_name_their_mistakes() {
    use classifier::ExtraLayers;
    assert_eq!(ExtraLayers::parse("").unwrap(), ExtraLayers::NONE);
    let l = ExtraLayers::parse(" 4, 2 ,2").unwrap();
    assert_eq!(l.layers(), vec![2, 4]);
    assert_eq!(l.label(), "2,4");
    assert_eq!(ExtraLayers::parse(&l.label()).unwrap(), l);
    assert!(ExtraLayers::parse("two").unwrap_err().contains("`two`"));
    assert!(ExtraLayers::parse("40").unwrap_err().contains("40"));
    let fingerprint = classifier::fingerprint_of(l);
    assert_eq!(fingerprint.len(), 64);
    assert_ne!(
        fingerprint,
        classifier::fingerprint_of(ExtraLayers::parse("2").unwrap())
    );
    assert_eq!(
        classifier::fingerprint_of(ExtraLayers::NONE),
        classifier::weights::MODEL_SHA256
    );
}

#[test]
fn prompt_features_come_last_and_leave_the_embedding_unchanged() {
    use classifier::prompt_features::{prompt_features, PROMPT_FEATURES};
    let plain = Encoder::load(&encoder_dir(), EncoderConfig::default()).unwrap();
    let base_fingerprint = router_core::Embedder::fingerprint(&plain).to_owned();
    let featured = Encoder::load(&encoder_dir(), EncoderConfig::default())
        .unwrap()
        .with_prompt_features();
    assert_eq!(featured.dim(), classifier::EMBEDDING_DIM + PROMPT_FEATURES);
    assert_eq!(
        router_core::Embedder::fingerprint(&featured),
        classifier::featured_fingerprint(&base_fingerprint)
    );
    let texts = ["What is 2 + 2?", "fn main() {\n    println!(\"hi\");\n}"];
    let a = plain.encode(&texts).unwrap();
    let b = featured.encode(&texts).unwrap();
    for ((a, b), text) in a.iter().zip(&b).zip(texts) {
        assert_eq!(b.len(), featured.dim());
        assert_eq!(&b[..a.len()], &a[..], "the pooled values are untouched");
        assert_eq!(&b[a.len()..], &prompt_features(text)[..]);
    }
}
