//! Which text should the router embed for a multi-turn request? Measured on MT-Bench's 80
//! two-turn questions (RouteLLM's copy with GPT-4 judge scores for gpt-4-1106-preview and
//! Mixtral-8x7B on each turn).
//!
//! For the second turn of every question (first user message, gpt-4's first answer, second
//! user message) each candidate text is embedded and scored two ways:
//! - task accuracy: the bundled task classifier's top task against the question's MT-Bench
//!   category (writing and roleplay → writing, stem and humanities → knowledge, extraction →
//!   classification, math, coding, reasoning as named), which is what the default task-aware
//!   priors route on;
//! - routing accuracy: leave-one-out k-nearest-neighbour prediction of which model scores
//!   higher on turn 2, over the other questions' embeddings of the same kind, counted on the
//!   questions where the two judge scores differ by at least 2 points.
//!
//! ```sh
//! cargo run --release -p classifier --example multiturn_text -- \
//!     ../shared/datasets/routellm/mt_bench .switchyard/encoder
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use classifier::predictors::TaskClassifier;
use classifier::{Encoder, EncoderConfig};
use router_core::Task;
use serde_json::Value;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Question {
    category: String,
    user1: String,
    user2: String,
    answer1: String,
    /// Turn-2 judge scores: (gpt-4-1106-preview, Mixtral).
    turn2: (f64, f64),
}

fn task_of(category: &str) -> Option<Task> {
    Some(match category {
        "writing" | "roleplay" => Task::Writing,
        "reasoning" => Task::Reasoning,
        "math" => Task::Math,
        "coding" => Task::Coding,
        "extraction" => Task::Classification,
        "stem" | "humanities" => Task::Knowledge,
        _ => return None,
    })
}

fn load(dir: &std::path::Path) -> BoxResult<Vec<Question>> {
    let mut turns: HashMap<u64, (String, String, String)> = HashMap::new();
    for line in std::fs::read_to_string(dir.join("question.jsonl"))?.lines() {
        let v: Value = serde_json::from_str(line)?;
        let id = v["question_id"].as_u64().ok_or("question_id")?;
        let t = v["turns"].as_array().ok_or("turns")?;
        turns.insert(
            id,
            (
                v["category"].as_str().unwrap_or("").to_owned(),
                t.first().and_then(Value::as_str).unwrap_or("").to_owned(),
                t.get(1).and_then(Value::as_str).unwrap_or("").to_owned(),
            ),
        );
    }
    let mut scores: HashMap<(u64, bool), f64> = HashMap::new();
    let mut answers: HashMap<u64, String> = HashMap::new();
    for line in std::fs::read_to_string(dir.join("judgements.jsonl"))?.lines() {
        let v: Value = serde_json::from_str(line)?;
        if v["turn"].as_u64() != Some(2) {
            continue;
        }
        let id = v["question_id"].as_u64().ok_or("question_id")?;
        let gpt4 = v["model"].as_str().unwrap_or("").starts_with("gpt-4");
        scores.insert((id, gpt4), v["score"].as_f64().unwrap_or(f64::NAN));
        if gpt4 {
            // The conversation as the judge saw it: the first answer sits between the first
            // "### Assistant A:" and the second "### User:".
            let prompt = v["user_prompt"].as_str().unwrap_or("");
            let answer = prompt
                .split("### Assistant A:")
                .nth(1)
                .and_then(|s| s.split("### User:").next())
                .unwrap_or("")
                .trim()
                .to_owned();
            answers.insert(id, answer);
        }
    }
    let mut out = Vec::new();
    let mut ids: Vec<_> = turns.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let (category, user1, user2) = turns[&id].clone();
        let (Some(&a), Some(&b), Some(answer1)) = (
            scores.get(&(id, true)),
            scores.get(&(id, false)),
            answers.get(&id),
        ) else {
            continue;
        };
        out.push(Question {
            category,
            user1,
            user2,
            answer1: answer1.clone(),
            turn2: (a, b),
        });
    }
    Ok(out)
}

/// The last `chars` characters of `text` (on a character boundary).
fn tail(text: &str, chars: usize) -> &str {
    let n = text.chars().count();
    if n <= chars {
        return text;
    }
    let start = text.char_indices().nth(n - chars).map_or(0, |(i, _)| i);
    &text[start..]
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn main() -> BoxResult<()> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(
        args.next()
            .ok_or("usage: multiturn_text MT_BENCH_DIR ENCODER_DIR")?,
    );
    let enc_dir = PathBuf::from(
        args.next()
            .ok_or("usage: multiturn_text MT_BENCH_DIR ENCODER_DIR")?,
    );
    let questions = load(&data)?;
    let encoder = Encoder::load(&enc_dir, EncoderConfig::default())?;
    let tasks =
        TaskClassifier::bundled_for(classifier::weights::MODEL_SHA256, classifier::EMBEDDING_DIM)?;

    type Variant = (&'static str, fn(&Question) -> String);
    let variants: [Variant; 5] = [
        ("last user message", |q| q.user2.clone()),
        ("user messages (first + last)", |q| {
            format!("{}\n\n{}", q.user1, q.user2)
        }),
        ("whole conversation, head + tail (today)", |q| {
            format!("{}\n\n{}\n\n{}", q.user1, q.answer1, q.user2)
        }),
        ("whole conversation, cut from the left", |q| {
            // About 254 tokens of English: the encoder's budget, newest text kept.
            tail(
                &format!("{}\n\n{}\n\n{}", q.user1, q.answer1, q.user2),
                1000,
            )
            .to_owned()
        }),
        ("turn 1 prompt (reference)", |q| q.user1.clone()),
    ];
    println!(
        "{} two-turn MT-Bench questions; routing accuracy counted where the turn-2 judge scores differ by ≥ 2.\n",
        questions.len()
    );
    println!(
        "| text embedded for turn 2 | task accuracy | routing accuracy (k = 7, leave one out) |"
    );
    println!("|---|---:|---:|");
    let decided: Vec<usize> = (0..questions.len())
        .filter(|&i| (questions[i].turn2.0 - questions[i].turn2.1).abs() >= 2.0)
        .collect();
    for (name, text_of) in variants {
        let texts: Vec<String> = questions.iter().map(text_of).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut embeddings = Vec::new();
        for chunk in refs.chunks(16) {
            embeddings.extend(encoder.encode(chunk)?);
        }
        let mut task_hits = 0;
        for (q, e) in questions.iter().zip(&embeddings) {
            if task_of(&q.category) == Some(tasks.try_predict(e)?.top()) {
                task_hits += 1;
            }
        }
        let mut route_hits = 0;
        for &i in &decided {
            let mut near: Vec<(f32, usize)> = (0..questions.len())
                .filter(|&j| j != i)
                .map(|j| (dot(&embeddings[i], &embeddings[j]), j))
                .collect();
            near.sort_by(|a, b| b.0.total_cmp(&a.0));
            let margin: f64 = near
                .iter()
                .take(7)
                .map(|&(_, j)| questions[j].turn2.0 - questions[j].turn2.1)
                .sum();
            let truth = questions[i].turn2.0 - questions[i].turn2.1;
            if (margin > 0.0) == (truth > 0.0) {
                route_hits += 1;
            }
        }
        println!(
            "| {name} | {task_hits}/{} ({:.0} %) | {route_hits}/{} ({:.0} %) |",
            questions.len(),
            100.0 * task_hits as f64 / questions.len() as f64,
            decided.len(),
            100.0 * route_hits as f64 / decided.len().max(1) as f64
        );
    }
    let gpt4_better = decided
        .iter()
        .filter(|&&i| questions[i].turn2.0 > questions[i].turn2.1)
        .count();
    println!(
        "\nAlways gpt-4: {gpt4_better}/{} ({:.0} %) of the decided turn-2 questions.",
        decided.len(),
        100.0 * gpt4_better as f64 / decided.len().max(1) as f64
    );
    Ok(())
}
