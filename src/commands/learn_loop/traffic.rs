//! One round of traffic through the gateway's public API: `model: "auto"` chat completions, then
//! the recorded score of the answer as `POST /v1/feedback`, as a client with a grader would.

use anyhow::Context;
use router_core::ModelId;
use serde_json::json;
use training::learning_loop::{LoopData, Served};

/// The gateway as a client sees it.
pub struct Client {
    pub http: reqwest::Client,
    pub base_url: String,
    pub admin_token: String,
}

impl Client {
    /// Sends `rows` one after the other (sequential keeps the exploration draws reproducible)
    /// and posts each answer's recorded score. Failed requests are kept with `model: None`.
    pub async fn send_round(
        &self,
        data: &LoopData,
        rows: &[usize],
        held_out: &[bool],
        metric: &str,
    ) -> anyhow::Result<Vec<Served>> {
        let mut served = Vec::with_capacity(rows.len());
        for (&row, &held_out) in rows.iter().zip(held_out) {
            let text = &data.index.table().rows[row].text;
            let resp = self
                .http
                .post(format!("{}/v1/chat/completions", self.base_url))
                .json(&json!({"model": "auto", "messages": [{"role": "user", "content": text}]}))
                .send()
                .await
                .context("calling the gateway")?;
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
                .and_then(|m| data.action(m))
                .and_then(|a| data.score(row, a))
            {
                let resp = self
                    .http
                    .post(format!("{}/v1/feedback", self.base_url))
                    .json(&json!({"request_id": request_id, "metric": metric, "score": score}))
                    .send()
                    .await
                    .context("posting feedback")?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "feedback for {request_id} refused: {}",
                    resp.text().await.unwrap_or_default()
                );
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

    /// Swaps the gateway's router through the authenticated admin endpoint.
    pub async fn reload(&self, artifact: &std::path::Path) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}/admin/reload", self.base_url))
            .bearer_auth(&self.admin_token)
            .json(&json!({"artifact": artifact}))
            .send()
            .await
            .context("calling /admin/reload")?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        anyhow::ensure!(
            status.is_success(),
            "the gateway refused {}: {status} {body}",
            artifact.display()
        );
        Ok(())
    }
}
