//! One round of traffic through a gateway's public API: `model: "auto"` chat completions, then
//! the recorded score of the answer as `POST /v1/feedback`, as a client with a grader would.

use router_core::ModelId;
use serde_json::json;

use super::{LoopData, Served};
use crate::Error;

/// A gateway as an OpenAI-compatible client sees it.
#[derive(Clone, Debug)]
pub struct LoopClient {
    http: reqwest::Client,
    base_url: String,
}

fn http_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Loop {
        reason: format!("{what}: {e}"),
    }
}

impl LoopClient {
    /// A client of the gateway at `base_url` (`http://127.0.0.1:8080`, no trailing `/v1`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.into(),
        }
    }

    /// The gateway's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `rows` one after the other (sequential keeps the exploration draws reproducible)
    /// and posts the recorded score of each answer whose `labelled` flag is set under `metric`.
    /// Failed requests are kept with `model: None`.
    pub async fn send_round(
        &self,
        data: &LoopData,
        rows: &[usize],
        held_out: &[bool],
        labelled: &[bool],
        metric: &str,
    ) -> Result<Vec<Served>, Error> {
        let mut served = Vec::with_capacity(rows.len());
        for ((&row, &held_out), &labelled) in rows.iter().zip(held_out).zip(labelled) {
            let text = &data.index.table().rows[row].text;
            let resp = self
                .http
                .post(format!("{}/v1/chat/completions", self.base_url))
                .json(&json!({"model": "auto", "messages": [{"role": "user", "content": text}]}))
                .send()
                .await
                .map_err(|e| http_error("calling the gateway", e))?;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let request_id = header("x-switchyard-request-id").unwrap_or_default();
            let model = header("x-switchyard-model").map(ModelId::new);
            let cost_usd = header("x-switchyard-cost-usd")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0.0);
            let status = resp.status();
            // Read the body so the connection is reused.
            let body = resp.bytes().await.unwrap_or_default();
            let model = if status.is_success() {
                model
            } else {
                tracing::warn!(
                    %status,
                    body = %String::from_utf8_lossy(&body),
                    "Loop request failed."
                );
                None
            };
            if let Some(score) = model
                .as_ref()
                .filter(|_| labelled)
                .and_then(|m| data.action(m))
                .and_then(|a| data.score(row, a))
            {
                let resp = self
                    .http
                    .post(format!("{}/v1/feedback", self.base_url))
                    .json(&json!({"request_id": request_id, "metric": metric, "score": score}))
                    .send()
                    .await
                    .map_err(|e| http_error("posting feedback", e))?;
                if !resp.status().is_success() {
                    return Err(Error::Loop {
                        reason: format!(
                            "feedback for {request_id} refused: {}",
                            resp.text().await.unwrap_or_default()
                        ),
                    });
                }
            }
            served.push(Served {
                row,
                request_id,
                model,
                cost_usd,
                held_out,
            });
        }
        Ok(served)
    }
}
