//! The packed forward pass against candle's `BertModel` (the previous implementation) on the
//! same weights: fp32 parity on varied texts, batching and threading that change nothing, and
//! bad ids that fail cleanly.

use classifier::reference::CandleEncoder;

use crate::parity::{cosine, encoder, encoder_dir};

fn texts() -> Vec<String> {
    let long_code = "fn main() { let x = vec![1, 2, 3]; println!(\"{:?}\", x); } ".repeat(40);
    vec![
        String::new(),
        "hi".into(),
        "What is the capital of France?".into(),
        "Écris un poème sur la mer, s'il te plaît — avec des rimes.".into(),
        "日本語のテキストを英語に翻訳してください。".into(),
        "emoji 🚀🔥 and math ∑ x² ≥ 0".into(),
        "Prove that there are infinitely many primes. ".repeat(12), // > 128 tokens
        long_code,                                                  // > 256 tokens: truncated
        "a ".repeat(300),
    ]
}

#[test]
fn packed_matches_candle_on_varied_texts() {
    let enc = encoder();
    let reference = CandleEncoder::load(&encoder_dir()).unwrap();
    let texts = texts();
    let ids: Vec<Vec<u32>> = texts.iter().map(|t| enc.token_ids(t).unwrap()).collect();
    assert!(ids.iter().any(|r| r.len() > 128));
    assert!(ids.iter().any(|r| r.len() == 256));
    let mut worst = 1.0f64;
    for row in &ids {
        let want = reference
            .forward(std::slice::from_ref(row))
            .unwrap()
            .remove(0);
        let got = enc.forward(std::slice::from_ref(row)).unwrap().remove(0);
        let cos = cosine(&got, &want);
        worst = worst.min(cos);
        assert!(cos >= 0.9999, "{} tokens: cosine {cos}", row.len());
    }
    // The whole ragged batch at once, against candle's padded batch.
    let got = enc.forward(&ids).unwrap();
    let want = reference.forward(&ids).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!(cosine(g, w) >= 0.9999);
    }
    eprintln!("worst single-text cosine to candle: {worst:.9}");
}

/// An encoder that uses as many threads as the pool it runs in has, up to `threads` (the shared
/// fixture takes the machine's count, which would test nothing on one core).
fn threaded(threads: usize) -> classifier::Encoder {
    classifier::Encoder::load(&encoder_dir(), classifier::EncoderConfig::default())
        .unwrap()
        .with_threads(threads)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// Each vector of `many` (several threads) within `tolerance` of its counterpart in `single`.
fn assert_close(many: &[Vec<f32>], single: &[Vec<f32>], tolerance: f32, what: &str) {
    assert_eq!(many.len(), single.len());
    for (a, b) in many.iter().zip(single) {
        assert_eq!(a.len(), b.len());
        let diff = max_abs_diff(a, b);
        assert!(diff <= tolerance, "threads changed {what} by {diff}");
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn thread_count_does_not_change_the_embedding() {
    let one = threaded(1);
    let wide = threaded(4);
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // On two threads the whole list is shared out as whole texts per thread; the three short
    // texts and the long one cannot be, so they run together, in row blocks per thread, as
    // does one long text alone; one short text alone splits each product. On four, two texts
    // of one length go one per group, each group on two threads in row blocks.
    let uneven = [refs[1], refs[2], refs[3], refs[7]];
    let pair = [refs[6], refs[6]];
    for (threads, batch) in [
        (2, &refs[..]),
        (2, &uneven[..]),
        (2, &refs[6..7]),
        (2, &refs[2..3]),
        (4, &pair[..]),
    ] {
        let pool = pool(threads);
        let many = pool.install(|| wide.encode(batch).unwrap());
        assert_close(&many, &one.encode(batch).unwrap(), 1e-5, "the embedding");
    }
}

#[test]
fn int8_passes_are_the_same_on_one_thread_and_two() {
    // A long text alone runs in row blocks per thread; the uneven batch together; the pair of
    // equal texts as whole texts per thread.
    let one = threaded(1).with_int8_weights();
    let two = threaded(2).with_int8_weights();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let pool = pool(2);
    let uneven = [refs[1], refs[2], refs[3], refs[7]];
    for batch in [&refs[6..7], &uneven[..], &[refs[6], refs[6]][..]] {
        let many = pool.install(|| two.encode_int8(batch).unwrap());
        assert_close(
            &many,
            &one.encode_int8(batch).unwrap(),
            1e-5,
            "the int8 embedding",
        );
    }
}

#[test]
fn token_states_are_the_same_on_one_thread_and_two() {
    let one = threaded(1);
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let pool = pool(2);
    // The whole list as whole texts per thread; one long text alone in row blocks.
    let two = pool.install(|| {
        let enc = threaded(2);
        let mut states = enc.token_states(&refs).unwrap();
        states.extend(enc.token_states(&refs[6..7]).unwrap());
        states
    });
    let mut single = one.token_states(&refs).unwrap();
    single.extend(one.token_states(&refs[6..7]).unwrap());
    assert_eq!(two.len(), refs.len() + 1);
    assert_close(&two, &single, 1e-4, "the token states");
}

#[test]
fn bad_ids_are_errors_not_panics() {
    // An id out of range fails the batch whether it runs whole texts per thread or not.
    let pool = pool(2);
    let two = threaded(2);
    let shared = pool.install(|| two.forward(&[vec![101, 2000, 102], vec![101, 999_999, 102]]));
    assert!(shared.is_err());
    let enc = encoder();
    assert!(enc.forward(&[vec![101, 999_999, 102]]).is_err());
    assert!(enc.forward(&[vec![101; 513]]).is_err());
    let empty = enc.forward(&[vec![], vec![101, 102]]).unwrap();
    assert!(empty[0].iter().all(|v| *v == 0.0));
    assert_eq!(empty[1].len(), 384);
    assert!(enc.forward(&[]).unwrap().is_empty());
}
