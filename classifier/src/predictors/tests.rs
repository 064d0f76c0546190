#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::{ModelId, QualityPredictor};
use serde_json::json;

use super::*;

/// Four prompts in 3-d, two models; model `b` has no token labels at all.
fn tiny() -> TrainingSet {
    let s = 0.5f32.sqrt();
    TrainingSet {
        models: vec![ModelId::new("a"), ModelId::new("b")],
        x: vec![
            vec![1.0, 0.0, 0.0],
            vec![s, s, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0],
        ],
        quality: vec![
            vec![Some(1.0), None],
            vec![Some(1.0), Some(0.0)],
            vec![Some(0.0), Some(0.0)],
            vec![None, Some(1.0)],
        ],
        output_tokens: vec![
            vec![Some(100.0), None],
            vec![Some(100.0), None],
            vec![Some(10.0), None],
            vec![None, None],
        ],
        tasks: Vec::new(),
    }
}

#[test]
fn priors_fall_back_per_model() {
    let p = ModelPriors::from_training_set(&tiny());
    assert!((p.quality[0] - 2.0 / 3.0).abs() < 1e-6);
    assert!((p.quality[1] - 1.0 / 3.0).abs() < 1e-6);
    assert_eq!(p.tokens_labelled, vec![true, false]);
    // Model b has no token labels: it borrows model a's mean.
    assert_eq!(p.log_tokens[1], p.log_tokens[0]);
}

#[test]
fn validate_names_field_and_row() {
    let mut set = tiny();
    set.quality[2][1] = Some(1.5);
    let err = set.validate().unwrap_err().to_string();
    assert!(err.contains("`quality` row 2"), "{err}");
}

#[test]
fn knn_uses_labelled_neighbours_only() {
    let knn = KnnPredictor::new(&tiny(), 1).unwrap();
    let est = knn.predict(&[1.0, 0.0, 0.0]);
    assert_eq!(est[0].quality, 1.0);
    // Row 0 has no label for b; its nearest labelled neighbour is row 1 (quality 0).
    assert_eq!(est[1].quality, 0.0);
    assert!((est[0].output_tokens - 100.0).abs() < 1e-3);
    // No token labels for b: the prior.
    let prior = ModelPriors::from_training_set(&tiny());
    assert!((est[1].output_tokens - f64::from(from_log_tokens(prior.log_tokens[1]))).abs() < 1e-3);
}

#[test]
fn wrong_dimension_falls_back_to_priors() {
    let knn = KnnPredictor::new(&tiny(), 2).unwrap();
    let prior = ModelPriors::from_training_set(&tiny()).estimates();
    assert_eq!(knn.predict(&[1.0, 0.0]), prior);
    assert!(matches!(
        knn.try_predict(&[1.0]),
        Err(PredictorError::EmbeddingDim {
            expected: 3,
            found: 1
        })
    ));
}

#[test]
fn knn_round_trips_and_errors_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut knn = KnnPredictor::new(&tiny(), 2).unwrap();
    knn.manifest_mut().encoder_sha256 = "abc".into();
    Artifact::from(knn.clone()).save(dir.path()).unwrap();
    let loaded = Artifact::load(dir.path()).unwrap();
    assert_eq!(loaded.manifest(), knn.manifest());
    for q in &tiny().x {
        assert_eq!(loaded.predict(q), knn.predict(q));
    }
    assert!(loaded.manifest().check_encoder("abc").is_ok());
    assert!(loaded.manifest().check_encoder("def").is_err());

    let path = dir.path().join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"format_version\": 1", "\"format_version\": \"one\""),
    )
    .unwrap();
    let err = load_artifact(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("format_version"),
        "{err}"
    );

    std::fs::write(
        &path,
        text.replace("\"kind\": \"knn\"", "\"kind\": \"linear\""),
    )
    .unwrap();
    let err = load_artifact(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("weights.safetensors") && err.contains("quality.weight"),
        "{err}"
    );
}

#[test]
fn mf_new_model_appends_and_round_trips() {
    let (m, d, k) = (2, 3, 2);
    let manifest = Manifest::new(
        PredictorKind::Mf,
        vec![ModelId::new("a"), ModelId::new("b")],
        d,
        String::new(),
        serde_json::json!({}),
    );
    let weights = MfWeights {
        latent_dim: k,
        projection: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        quality_emb: vec![2.0, 0.0, 0.0, 2.0],
        quality_bias: vec![0.0; m],
        tokens_emb: vec![0.0; m * k],
        tokens_bias: vec![0.0; m],
        difficulty: Vec::new(),
        discrimination: Vec::new(),
    };
    let mut mf =
        MfPredictor::from_weights(manifest, ModelPriors::from_training_set(&tiny()), weights)
            .unwrap();
    // The new model is good exactly when the first coordinate is large.
    let probes: Vec<(Vec<f32>, f32)> = (0..40)
        .map(|i| {
            let a = i as f32 / 40.0 * std::f32::consts::TAU;
            (
                vec![a.cos(), a.sin(), 0.0],
                if a.cos() > 0.0 { 1.0 } else { 0.0 },
            )
        })
        .collect();
    // A weak pull: this test checks the mechanics on a clean signal, not the default's bias.
    mf.fit_new_model_with(ModelId::new("c"), &probes, 1.0)
        .unwrap();
    assert_eq!(mf.models().len(), 3);
    let good = mf.predict(&[1.0, 0.0, 0.0])[2].quality;
    let bad = mf.predict(&[-1.0, 0.0, 0.0])[2].quality;
    assert!(good > 0.8 && bad < 0.2, "{good} {bad}");
    assert!(matches!(
        mf.fit_new_model(ModelId::new("c"), &probes),
        Err(PredictorError::ModelAlreadyKnown { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    Artifact::from(mf.clone()).save(dir.path()).unwrap();
    let loaded = load_artifact(dir.path()).unwrap();
    assert_eq!(loaded.models(), mf.models());
    assert_eq!(
        loaded.predict(&[0.3, 0.4, 0.5]),
        mf.predict(&[0.3, 0.4, 0.5])
    );
}

#[test]
fn knn_finds_sparse_labels_beyond_the_sorted_prefix() {
    // 600 prompts on a circle; model b is labelled on only the five rows farthest from the
    // query, so its neighbours lie outside the 256-row prefix that is sorted first.
    let n = 600;
    let x: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let a = i as f32 / n as f32 * std::f32::consts::TAU;
            vec![a.cos(), a.sin()]
        })
        .collect();
    let set = TrainingSet {
        models: vec![ModelId::new("a"), ModelId::new("b")],
        quality: (0..n)
            .map(|i| {
                vec![
                    Some((i % 2) as f32),
                    (298..303).contains(&i).then_some((i % 2) as f32),
                ]
            })
            .collect(),
        output_tokens: (0..n).map(|_| vec![Some(10.0), None]).collect(),
        x,
        tasks: Vec::new(),
    };
    let knn = KnnPredictor::new(&set, 3).unwrap();
    let est = knn.predict(&[1.0, 0.0]);
    // The reference: brute force over the labelled rows.
    let mut labelled: Vec<(f32, usize)> = (298..303).map(|i| (set.x[i][0], i)).collect();
    labelled.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let top: Vec<usize> = labelled.iter().take(3).map(|p| p.1).collect();
    let w: Vec<f32> = top.iter().map(|&i| set.x[i][0].max(0.0) + 1e-3).collect();
    let expected: f32 = top
        .iter()
        .zip(&w)
        .map(|(&i, w)| w * (i % 2) as f32)
        .sum::<f32>()
        / w.iter().sum::<f32>();
    assert!(
        (est[1].quality - f64::from(expected)).abs() < 1e-6,
        "{est:?} vs {expected}"
    );
}

/// A one-base stack over [`tiny`]'s models and dimension, its base a small ridge model.
fn tiny_stack() -> StackedPredictor {
    let set = tiny();
    let (m, d) = (set.models.len(), set.x[0].len());
    let manifest = |kind| Manifest::new(kind, set.models.clone(), d, String::new(), json!({}));
    let priors = ModelPriors::from_training_set(&set);
    let linear = LinearPredictor::from_weights(
        manifest(PredictorKind::Linear),
        priors.clone(),
        LinearWeights {
            quality_w: vec![0.1; m * d],
            quality_b: vec![0.5; m],
            tokens_w: vec![0.0; m * d],
            tokens_b: vec![3.0; m],
        },
    )
    .unwrap();
    StackedPredictor::from_parts_checked(
        manifest(PredictorKind::Stacked),
        priors,
        vec![Artifact::from(linear)],
        StackWeights {
            bases: 1,
            coef: vec![1.0; m],
            bias: vec![0.0; m],
            tokens: None,
        },
    )
    .unwrap()
}

/// A `task_priors` base predicts nothing per prompt; before, such a stack loaded and then
/// panicked indexing its empty estimates on every prompt.
#[test]
fn a_stack_refuses_a_base_without_per_prompt_estimates_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let stack = tiny_stack();
    Artifact::from(stack.clone()).save(dir.path()).unwrap();
    let loaded = Artifact::load(dir.path()).unwrap();
    assert_eq!(loaded.predict(&tiny().x[0]), stack.predict(&tiny().x[0]));

    let base = dir.path().join(base_dir_name(0));
    let path = base.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let swapped = text.replace("\"kind\": \"linear\"", "\"kind\": \"task_priors\"");
    assert_ne!(swapped, text);
    std::fs::write(&path, swapped).unwrap();
    // The base alone is a valid artifact; only as a stack's base is it wrong.
    assert_eq!(
        Artifact::load(&base).unwrap().manifest().kind,
        PredictorKind::TaskPriors
    );
    let err = Artifact::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("base-0") && err.contains("task_priors"),
        "{err}"
    );
}
