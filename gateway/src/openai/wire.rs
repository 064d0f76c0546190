//! Serde types of OpenAI's chat completions API (`POST /v1/chat/completions`), as clients send
//! them to the gateway and as OpenAI-compatible upstreams answer.
//!
//! Fields the gateway does not interpret are kept in `extra` maps (`#[serde(flatten)]`) so that
//! they pass through to OpenAI-compatible upstreams unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use router_core::ModelId;

use crate::openai::content_parts::{self, AnswerContent};

/// A chat completion request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// `auto` to let the router choose, or a catalog model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Tool (function) definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `none`, `auto`, `required` or `{"type":"function","function":{"name":..}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Legacy output token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output token limit (newer name, includes reasoning tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// `{"type":"text"|"json_object"|"json_schema", ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Number of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// End-user identifier, forwarded as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Switchyard routing options; never sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<RouterOptions>,
    /// Every other field, passed through to OpenAI-compatible upstreams.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// Fields the client's own dialect repeats in its answer and chat has no place for (the
    /// Responses API's `instructions` and `metadata`). Never serialised: not sent upstream,
    /// not part of a cache key (so a replay echoes the asking request's values).
    #[serde(skip)]
    pub client_echo: Option<Map<String, Value>>,
    /// The client key the request came with (its id), under which the adapters keep and
    /// recall what a model attached to its tool calls (`call_memo`). Never serialised.
    #[serde(skip)]
    pub memo_scope: Option<String>,
}

impl ChatCompletionRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the client asked for a final usage chunk in a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The output token limit, from either field.
    pub fn output_limit(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

/// Switchyard's per-request routing knobs (`"router": {...}` in the body).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterOptions {
    /// Most the request may cost, in USD (predicted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// Least predicted quality in `[0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_quality: Option<f64>,
    /// Most predicted latency, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<f64>,
    /// USD the caller would pay for one full quality point (sets λ = 1 / w).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub willingness_to_pay: Option<f64>,
    /// Only these models are considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<ModelId>>,
    /// These models are never considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<ModelId>>,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System instructions.
    System,
    /// System instructions under OpenAI's newer name.
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The content; absent for assistant messages with only tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For `tool` messages: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    /// A plain text message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// A message of `role` with `content` and nothing else (no name, tool calls or extras).
    pub fn new(role: Role, content: Option<MessageContent>) -> ChatMessage {
        ChatMessage {
            role,
            content,
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: serde_json::Map::new(),
        }
    }

    /// The message's text parts joined by newlines (images and tool calls left out).
    pub fn text_content(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Whether the message holds an image.
    pub fn has_image(&self) -> bool {
        matches!(&self.content, Some(MessageContent::Parts(parts))
            if parts.iter().any(|p| matches!(p, ContentPart::ImageUrl { .. })))
    }
}

/// Message content: a string or an array of typed parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Text and image parts.
    Parts(Vec<ContentPart>),
}

/// One part of a multi-part message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// A text part.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or `data:` URI.
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
    },
}

/// An image reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `https://...` or `data:image/png;base64,...`.
    pub url: String,
    /// `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Stop sequences: one string or several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// `stream_options`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a final chunk carrying usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Other fields, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `response_format`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema for `json_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
}

impl ResponseFormat {
    /// Whether the format asks for JSON output (needs the `json_mode` capability).
    pub fn wants_json(&self) -> bool {
        self.kind == "json_object" || self.kind == "json_schema"
    }

    /// The JSON Schema a `json_schema` format holds the answer to (`json_schema.schema`, an
    /// object); `None` for other formats or without a schema (then it is JSON mode alone).
    pub fn schema(&self) -> Option<&Value> {
        let schema = self.json_schema.as_ref()?.get("schema")?;
        (self.kind == "json_schema" && schema.is_object()).then_some(schema)
    }
}

/// A tool definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDef,
}

/// A callable function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// The function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A tool call made by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id, echoed by the `tool` message answering it.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

/// A function call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function name.
    pub name: String,
    /// The arguments as a JSON string.
    pub arguments: String,
}

/// Why a choice stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end or stop sequence.
    Stop,
    /// Output token limit reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Filtered by the provider.
    ContentFilter,
    /// Legacy function call.
    FunctionCall,
    /// Anything else, kept verbatim.
    Other(String),
}

impl FinishReason {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
            FinishReason::Other(s) => s,
        }
    }
}

impl From<&str> for FinishReason {
    fn from(s: &str) -> Self {
        match s {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            "function_call" => FinishReason::FunctionCall,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(FinishReason::from(s.as_str()))
    }
}

/// Token counts of a completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u32,
    /// Output tokens.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
    /// Details (`prompt_tokens_details`, ...), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What OpenAI's usage details say of a count: the input tokens read from the prompt cache
/// (`prompt_tokens_details.cached_tokens`) and written to it
/// (`prompt_tokens_details.cache_write_tokens`, OpenRouter's name, which the Anthropic adapter
/// gives Anthropic's `cache_creation_input_tokens`), and the output tokens spent reasoning
/// (`completion_tokens_details.reasoning_tokens`); 0 where the upstream does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenDetails {
    /// Cached input tokens (part of `prompt_tokens`).
    pub cached: u32,
    /// Input tokens written to the prompt cache (part of `prompt_tokens`, not of `cached`).
    pub cache_write: u32,
    /// Reasoning output tokens (part of `completion_tokens`).
    pub reasoning: u32,
}

impl TokenDetails {
    /// What a call with `(input, output)` tokens and these details counts for its cost.
    pub fn counts(&self, (input, output): (u32, u32)) -> router_core::TokenCounts {
        router_core::TokenCounts {
            input: f64::from(input),
            cache_read: f64::from(self.cached),
            cache_write: f64::from(self.cache_write),
            output: f64::from(output),
        }
    }
}

impl Usage {
    /// The cached input and reasoning output counts among the details.
    pub fn details(&self) -> TokenDetails {
        let count = |outer: &str, inner: &str| {
            self.extra
                .get(outer)
                .and_then(|d| d.get(inner))
                .and_then(Value::as_u64)
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        let cached = count("prompt_tokens_details", "cached_tokens").min(self.prompt_tokens);
        TokenDetails {
            cached,
            cache_write: count("prompt_tokens_details", "cache_write_tokens")
                .min(self.prompt_tokens.saturating_sub(cached)),
            reasoning: count("completion_tokens_details", "reasoning_tokens")
                .min(self.completion_tokens),
        }
    }

    /// Usage with the total filled in.
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            extra: Map::new(),
        }
    }
}

/// A non-streamed chat completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    /// The upstream's completion id.
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "object_completion")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model name the upstream reported.
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn object_completion() -> String {
    "chat.completion".to_owned()
}

fn object_chunk() -> String {
    "chat.completion.chunk".to_owned()
}

/// One choice of a completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The answer.
    pub message: ResponseMessage,
    /// Why it stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Which stop sequence ended the choice, where that is known: the upstream named it
    /// (Anthropic's `stop_sequence`) or the gateway cut the answer itself. Chat Completions
    /// has no field for it (`finish_reason` is `stop` either way); `/v1/messages` reports it.
    #[serde(skip)]
    pub stop_sequence: Option<String>,
}

/// The assistant message of a choice. Read through [`ResponseMessageIn`]: `content` may come
/// as typed parts (Mistral's reasoning models), whose thinking is `reasoning_content`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ResponseMessageIn")]
pub struct ResponseMessage {
    /// Always `assistant`.
    pub role: Role,
    /// The text; `null` when the model only called tools.
    #[serde(default)]
    pub content: Option<String>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// A refusal message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The model's reasoning, as DeepSeek (and vLLM, Kimi) return it beside `content`. Passed
    /// through because DeepSeek's thinking mode refuses a later turn whose assistant tool-call
    /// message lacks it: the client can only send back what it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// Between two pieces of a model's reasoning text that came apart (Claude's thinking blocks,
/// the parts of OpenAI's reasoning summary) in one `reasoning_content`: a blank line.
pub const REASONING_SEPARATOR: &str = "\n\n";

/// Appends `text` to `reasoning`, [`REASONING_SEPARATOR`] after what it holds already.
pub fn push_reasoning(reasoning: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !reasoning.is_empty() {
        reasoning.push_str(REASONING_SEPARATOR);
    }
    reasoning.push_str(text);
}

/// [`ResponseMessage`] as an upstream sends it ([`crate::openai::content_parts`]).
#[derive(Deserialize)]
struct ResponseMessageIn {
    role: Role,
    #[serde(default)]
    content: Option<AnswerContent>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

impl From<ResponseMessageIn> for ResponseMessage {
    fn from(m: ResponseMessageIn) -> Self {
        let (content, reasoning_content) = content_parts::read(m.content, m.reasoning_content);
        ResponseMessage {
            role: m.role,
            content,
            tool_calls: m.tool_calls,
            refusal: m.refusal,
            reasoning_content,
        }
    }
}

/// One server-sent event of a streamed completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// The completion id, the same in every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "object_chunk")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model name the upstream reported.
    #[serde(default)]
    pub model: String,
    /// Deltas; empty in the final usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts (final chunk, with `include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

impl ChatCompletionChunk {
    /// A chunk that carries nothing: what a stream adapter yields for upstream bytes that add
    /// nothing to the answer (a ping, an SSE comment, a thinking delta), so that the relay
    /// knows the upstream is alive. It never reaches the client ([`Self::is_keepalive`]).
    pub fn keepalive() -> Self {
        ChatCompletionChunk {
            id: String::new(),
            object: object_chunk(),
            created: 0,
            model: String::new(),
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
        }
    }

    /// Whether this chunk carries nothing for the client: no usage, and no choice with a role,
    /// text, a tool call, a refusal, a finish, reasoning text or log probabilities. Besides the
    /// adapters' keep-alives, that is a reasoning delta in a field the chat wire lacks
    /// (OpenRouter's `reasoning`), which parses to an empty delta. A `reasoning_content` delta
    /// is not one: the client needs it to give DeepSeek its reasoning back.
    pub fn is_keepalive(&self) -> bool {
        self.usage.is_none()
            && self.choices.iter().all(|c| {
                c.delta.role.is_none()
                    && !c.carries_answer()
                    && !c.carries_reasoning()
                    && c.logprobs.is_none()
            })
    }

    /// Whether a choice of this chunk names its role (the first chunk of an answer).
    pub fn has_role(&self) -> bool {
        self.choices.iter().any(|c| c.delta.role.is_some())
    }

    /// Whether this chunk carries part of the answer: text, a refusal, a tool call, a finish
    /// reason or the usage. A stream is committed to its client at the first such chunk; the
    /// role-only chunks before it (sent when the upstream accepts the request, before a
    /// reasoning model has thought) are held until then, so a failure while the model thinks
    /// still fails over.
    pub fn carries_answer(&self) -> bool {
        self.usage.is_some() || self.choices.iter().any(ChunkChoice::carries_answer)
    }
}

#[cfg(test)]
impl ChunkChoice {
    /// Choice `index` adding `text`, finishing with `stop` when `finish` (tests).
    pub(crate) fn text_for_test(index: u32, text: &str, finish: bool) -> Self {
        ChunkChoice {
            index,
            delta: Delta {
                content: Some(text.to_owned()),
                ..Delta::default()
            },
            finish_reason: finish.then_some(FinishReason::Stop),
            logprobs: None,
            stop_sequence: None,
        }
    }
}

impl ChunkChoice {
    /// Whether this delta carries part of the answer (see
    /// [`ChatCompletionChunk::carries_answer`]); an empty `tool_calls` list does not (some
    /// servers send one in their role chunk).
    pub fn carries_answer(&self) -> bool {
        let d = &self.delta;
        self.finish_reason.is_some()
            || d.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
            || d.content.as_deref().is_some_and(|t| !t.is_empty())
            || d.refusal.as_deref().is_some_and(|t| !t.is_empty())
    }

    /// Whether this delta carries reasoning text (`reasoning_content`): the model at work, not
    /// yet the answer.
    pub fn carries_reasoning(&self) -> bool {
        self.delta
            .reasoning_content
            .as_deref()
            .is_some_and(|t| !t.is_empty())
    }
}

/// One choice's delta in a chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// With the finish: which stop sequence ended the choice, where known (see
    /// [`Choice::stop_sequence`]).
    #[serde(skip)]
    pub stop_sequence: Option<String>,
}

/// The increment of a streamed message. Read through [`DeltaIn`], as [`ResponseMessage`] is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "DeltaIn")]
pub struct Delta {
    /// Set in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Refusal text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text to append ([`ResponseMessage::reasoning_content`]). Not part of the
    /// answer: a delta carrying only this does not commit a stream
    /// ([`ChunkChoice::carries_answer`]), but it does reach the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// [`Delta`] as an upstream sends it.
#[derive(Deserialize)]
struct DeltaIn {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    content: Option<AnswerContent>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

impl From<DeltaIn> for Delta {
    fn from(d: DeltaIn) -> Self {
        let (content, reasoning_content) = content_parts::read(d.content, d.reasoning_content);
        Delta {
            role: d.role,
            content,
            tool_calls: d.tool_calls,
            refusal: d.refusal,
            reasoning_content,
        }
    }
}

/// A fragment of a streamed tool call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the message this extends.
    pub index: u32,
    /// Set in the call's first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, set in the first fragment.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and argument fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

#[cfg(test)]
impl ToolCallDelta {
    /// A fragment of call `index` (typed `function` where it has an id), for tests.
    pub(crate) fn for_test(
        index: u32,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Self {
        ToolCallDelta {
            index,
            id: id.map(Into::into),
            kind: id.map(|_| "function".into()),
            function: Some(FunctionCallDelta {
                name: name.map(Into::into),
                arguments: arguments.map(Into::into),
            }),
        }
    }
}

/// Adds a streamed call's `name` fragment to the name gathered so far. OpenAI sends the name
/// once, in the call's first fragment, and a split name is joined; some OpenAI-compatible
/// servers repeat the whole name in every fragment, which joining would double
/// (`get_weatherget_weather`): a fragment equal to the whole name so far is that repeat.
pub fn join_name_fragment(name: &mut String, fragment: &str) {
    if name != fragment {
        name.push_str(fragment);
    }
}

/// A fragment of a function call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    /// Set in the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_repeated_whole_name_is_not_doubled_and_a_split_one_is_joined() {
        let mut name = String::new();
        for f in ["get_weather", "get_weather", "get_weather"] {
            super::join_name_fragment(&mut name, f);
        }
        assert_eq!(name, "get_weather");
        let mut split = String::new();
        for f in ["get_", "weather"] {
            super::join_name_fragment(&mut split, f);
        }
        assert_eq!(split, "get_weather");
    }

    #[test]
    fn request_round_trips_parts_and_extra_fields() {
        let body = serde_json::json!({
            "model": "auto",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
                ]}
            ],
            "stop": ["\n"],
            "seed": 7,
            "router": {"max_cost_usd": 0.01, "exclude": ["gpt-4o"]}
        });
        let req: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.extra.get("seed"), Some(&serde_json::json!(7)));
        assert!(req.messages[1].has_image());
        assert_eq!(req.messages[1].text_content(), "what is this?");
        assert_eq!(req.router.as_ref().unwrap().max_cost_usd, Some(0.01));
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["seed"], 7);
        assert_eq!(back["stop"][0], "\n");
    }

    #[test]
    fn router_options_reject_unknown_fields() {
        let body = serde_json::json!({"model": "auto", "messages": [], "router": {"max_cost": 1}});
        assert!(serde_json::from_value::<ChatCompletionRequest>(body).is_err());
    }

    #[test]
    fn chunk_with_unknown_finish_reason_parses() {
        let chunk: ChatCompletionChunk = serde_json::from_str(
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
                "choices":[{"index":0,"delta":{},"finish_reason":"eos"}]}"#,
        )
        .unwrap();
        assert_eq!(
            chunk.choices[0].finish_reason,
            Some(FinishReason::Other("eos".into()))
        );
    }
}
