//! OpenAI Embeddings: `POST /v1/embeddings`, answering deterministic vectors.
//!
//! Each input's vector depends only on its text (or token ids) and `dimensions` (default
//! [`DEFAULT_DIMENSIONS`]): an FNV-1a hash seeds a small generator, and the vector is L2
//! normalised, so equal inputs get equal vectors and tests can compare them. Usage counts one
//! token per whitespace-separated word (one per token id), at least one per input. Scripted
//! `Status` and `Unauthorized` scenarios play as for chat; every other scenario answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::openai::OpenAi;
use crate::record::{redact_headers, redact_query, RecordedRequest};
use crate::respond::{self, Vendor};
use crate::server::Shared;
use crate::{Scenario, Wire};

/// Vector length when the request names no `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 8;

/// Handler of `POST /v1/embeddings`.
pub(crate) async fn embeddings(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let model = json
        .as_ref()
        .and_then(|b| b["model"].as_str())
        .map(str::to_owned);
    let mut record = RecordedRequest {
        wire: Wire::OpenAi,
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: redact_query(uri.query()),
        headers: redact_headers(&headers),
        body: json.clone().unwrap_or(Value::Null),
        model: model.clone(),
        stream: false,
        scenario: None,
    };
    if let Err((status, message)) = OpenAi::check_credentials(&headers, None) {
        shared.script().record(record);
        return respond::error::<OpenAi>(status, &message);
    }
    let (Some(body), Some(model)) = (json, model) else {
        shared.script().record(record);
        return respond::error::<OpenAi>(
            StatusCode::BAD_REQUEST,
            "The body must be JSON with a 'model'.",
        );
    };
    let inputs = match inputs(&body["input"]) {
        Ok(inputs) => inputs,
        Err(message) => {
            shared.script().record(record);
            return respond::error::<OpenAi>(StatusCode::BAD_REQUEST, message);
        }
    };
    let scenario = {
        let mut script = shared.script();
        let scenario = script.next(&model);
        record.scenario = Some(scenario.kind());
        script.record(record);
        scenario
    };
    match scenario {
        Scenario::Status { code, .. } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return respond::error::<OpenAi>(status, "Request failed (scripted by testkit).");
        }
        Scenario::Unauthorized => {
            return respond::error::<OpenAi>(StatusCode::UNAUTHORIZED, "Incorrect API key.");
        }
        _ => {}
    }
    let dimensions = body["dimensions"]
        .as_u64()
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| *d > 0)
        .unwrap_or(DEFAULT_DIMENSIONS);
    // The official SDKs ask for base64 (little-endian f32) unless told otherwise.
    let base64 = body["encoding_format"] == "base64";
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (key, count))| {
            tokens += count;
            let v = vector(key, dimensions);
            let embedding = if base64 {
                Value::String(base64_f32(&v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// Each input as (the text its vector derives from, its token count).
fn inputs(input: &Value) -> Result<Vec<(String, u64)>, &'static str> {
    let words = |s: &str| (s.split_whitespace().count() as u64).max(1);
    let ids = |v: &[Value]| -> Result<(String, u64), &'static str> {
        if v.iter().all(Value::is_u64) {
            Ok((
                Value::Array(v.to_vec()).to_string(),
                (v.len() as u64).max(1),
            ))
        } else {
            Err("token-id inputs must be integers")
        }
    };
    match input {
        Value::String(s) => Ok(vec![(s.clone(), words(s))]),
        Value::Array(items) if items.is_empty() => Err("'input' must not be empty"),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| (s.to_owned(), words(s)))
            .collect()),
        Value::Array(items) if items.iter().all(Value::is_number) => Ok(vec![ids(items)?]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_array()
                    .ok_or("'input' items must all be strings or token lists")
            })
            .map(|i| i.and_then(|v| ids(v)))
            .collect(),
        _ => Err("'input' must be a string or a list"),
    }
}

/// `values` as little-endian f32 bytes in standard base64 (with padding).
fn base64_f32(values: &[f64]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // Sent as f32, like OpenAI's.
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|x| (*x as f32).to_le_bytes())
        .collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A unit vector of `dimensions` determined by `key`.
pub fn vector(key: &str, dimensions: usize) -> Vec<f64> {
    // FNV-1a, then xorshift64*: stable across runs and platforms.
    let mut state = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut v: Vec<f64> = (0..dimensions)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let x = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
            (x as f64 / (1_u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_length() {
        let a = vector("hello", 8);
        assert_eq!(a, vector("hello", 8));
        assert_ne!(a, vector("world", 8));
        let norm: f64 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-9);
        assert_eq!(inputs(&json!(["a b", "c"])).unwrap()[0].1, 2);
        assert!(inputs(&json!(42)).is_err());
        // 1.0f32 = 00 00 80 3f.
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 1.0]).len(), 12);
    }
}
