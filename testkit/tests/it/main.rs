//! Integration tests: real HTTP requests with reqwest against the fake on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod failures;
mod gemini;
mod openai;

use serde_json::Value;

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The `event:` name, if any.
    pub event: Option<String>,
    /// The `data:` payload.
    pub data: String,
}

impl Event {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Splits an SSE body into events (the fake writes one `data:` line per event).
pub fn sse_events(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            Event { event, data }
        })
        .collect()
}

/// A fresh HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}
