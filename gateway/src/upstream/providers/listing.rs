//! What models an upstream offers: each dialect's "list models" endpoint, read into one shape.
//!
//! Used at start-up ([`crate::upstream::discovery`]) so that `auto` never routes to a model
//! the provider has shut down or the key cannot call. Only ids (and OpenAI's `shutdown_date`)
//! are read; everything else in the listings is ignored. Lists show model ids, not every name a
//! provider accepts (Anthropic lists `claude-haiku-4-5-20251001`, not the alias
//! `claude-haiku-4-5`), so a name missing from a list is looked up on its own ([`openai_one`],
//! [`anthropic_one`], [`gemini_one`]: `GET …/models/{name}`, which resolves aliases) before
//! anything is concluded.

use serde::Deserialize;

use super::{read_capped, send_checked};
use crate::upstream::error::UpstreamError;

/// One model an upstream lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedModel {
    /// The id the upstream takes as the request's model (Gemini's `models/` prefix removed).
    pub id: String,
    /// The announced shutdown date (`YYYY-MM-DD`), where the upstream reports one (OpenAI's
    /// `GET /v1/models` carries `shutdown_date` for deprecated models).
    pub shutdown_date: Option<String>,
}

/// Most pages followed for one listing (Anthropic and Gemini page their lists).
const MAX_PAGES: usize = 20;
/// Largest listing page read, in bytes.
const LIST_LIMIT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct OpenAiList {
    data: Vec<OpenAiModel>,
}

#[derive(Deserialize)]
struct OpenAiModel {
    id: String,
    #[serde(default)]
    shutdown_date: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicList {
    data: Vec<AnthropicModel>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicModel {
    id: String,
}

#[derive(Deserialize)]
struct GeminiList {
    #[serde(default)]
    models: Vec<GeminiModel>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct GeminiModel {
    name: String,
}

/// `GET url` for one model: `Ok(None)` when the provider answers 404 (no such model).
async fn get_one<T: serde::de::DeserializeOwned>(
    builder: reqwest::RequestBuilder,
) -> Result<Option<T>, UpstreamError> {
    match get_json(builder, "model").await {
        Ok(model) => Ok(Some(model)),
        Err(e) if e.status == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    builder: reqwest::RequestBuilder,
    what: &str,
) -> Result<T, UpstreamError> {
    let response = send_checked(builder, LIST_LIMIT_BYTES, UpstreamError::from_status).await?;
    let bytes = read_capped(response, LIST_LIMIT_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|e| UpstreamError::decode(format!("{what}: {e}")))
}

/// `GET {base}/models` of an OpenAI-compatible server (`base` with its version prefix).
pub(crate) async fn openai(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
) -> Result<Vec<OfferedModel>, UpstreamError> {
    let mut builder = client.get(format!("{}/models", base.trim_end_matches('/')));
    if let Some(key) = key {
        builder = builder.bearer_auth(key);
    }
    let list: OpenAiList = get_json(builder, "model list").await?;
    Ok(list.data.into_iter().map(OfferedModel::from).collect())
}

/// `GET {base}/models/{name}` of an OpenAI-compatible server.
pub(crate) async fn openai_one(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    name: &str,
) -> Result<Option<OfferedModel>, UpstreamError> {
    let mut builder = client.get(format!("{}/models/{name}", base.trim_end_matches('/')));
    if let Some(key) = key {
        builder = builder.bearer_auth(key);
    }
    let model: Option<OpenAiModel> = get_one(builder).await?;
    Ok(model.map(OfferedModel::from))
}

/// `GET {root}/v1/models/{name}` of the Anthropic API (an alias resolves to its model).
pub(crate) async fn anthropic_one(
    client: &reqwest::Client,
    root: &str,
    version: &str,
    key: Option<&str>,
    name: &str,
) -> Result<Option<OfferedModel>, UpstreamError> {
    let mut builder = client
        .get(format!("{}/v1/models/{name}", root.trim_end_matches('/')))
        .header("anthropic-version", version);
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    let model: Option<AnthropicModel> = get_one(builder).await?;
    Ok(model.map(OfferedModel::from))
}

/// `GET {root}/v1beta/models/{name}` of the Gemini API.
pub(crate) async fn gemini_one(
    client: &reqwest::Client,
    root: &str,
    key: Option<&str>,
    name: &str,
) -> Result<Option<OfferedModel>, UpstreamError> {
    let name = name.strip_prefix("models/").unwrap_or(name);
    let mut builder = client.get(format!(
        "{}/v1beta/models/{name}",
        root.trim_end_matches('/')
    ));
    if let Some(key) = key {
        builder = builder.header("x-goog-api-key", key);
    }
    let model: Option<GeminiModel> = get_one(builder).await?;
    Ok(model.map(OfferedModel::from))
}

/// `GET {root}/v1/models` of the Anthropic API, page by page.
pub(crate) async fn anthropic(
    client: &reqwest::Client,
    root: &str,
    version: &str,
    key: Option<&str>,
) -> Result<Vec<OfferedModel>, UpstreamError> {
    let url = format!("{}/v1/models", root.trim_end_matches('/'));
    let mut offered = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut builder = client
            .get(&url)
            .header("anthropic-version", version)
            .query(&[("limit", "1000")]);
        if let Some(after) = &after {
            builder = builder.query(&[("after_id", after.as_str())]);
        }
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        let page: AnthropicList = get_json(builder, "model list").await?;
        offered.extend(page.data.into_iter().map(OfferedModel::from));
        match (page.has_more, page.last_id) {
            (true, Some(last)) => after = Some(last),
            _ => break,
        }
    }
    Ok(offered)
}

/// `GET {root}/v1beta/models` of the Gemini API, page by page.
pub(crate) async fn gemini(
    client: &reqwest::Client,
    root: &str,
    key: Option<&str>,
) -> Result<Vec<OfferedModel>, UpstreamError> {
    let url = format!("{}/v1beta/models", root.trim_end_matches('/'));
    let mut offered = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut builder = client.get(&url).query(&[("pageSize", "1000")]);
        if let Some(token) = &token {
            builder = builder.query(&[("pageToken", token.as_str())]);
        }
        if let Some(key) = key {
            builder = builder.header("x-goog-api-key", key);
        }
        let page: GeminiList = get_json(builder, "model list").await?;
        offered.extend(page.models.into_iter().map(OfferedModel::from));
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(offered)
}

impl From<OpenAiModel> for OfferedModel {
    fn from(m: OpenAiModel) -> Self {
        OfferedModel {
            id: m.id,
            shutdown_date: m.shutdown_date.filter(|d| !d.is_empty()),
        }
    }
}

impl From<AnthropicModel> for OfferedModel {
    fn from(m: AnthropicModel) -> Self {
        OfferedModel {
            id: m.id,
            shutdown_date: None,
        }
    }
}

impl From<GeminiModel> for OfferedModel {
    /// The id requests use: the resource name without `models/`.
    fn from(m: GeminiModel) -> Self {
        let id = match m.name.strip_prefix("models/") {
            Some(id) => id.to_owned(),
            None => m.name,
        };
        OfferedModel {
            id,
            shutdown_date: None,
        }
    }
}
