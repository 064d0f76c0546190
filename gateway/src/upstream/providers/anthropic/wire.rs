//! Serde types of Anthropic's Messages API (`POST /v1/messages`): the request the adapter
//! sends, the response and the stream events it reads. Only the fields the gateway uses are
//! modelled; unknown response fields and event types are ignored. The request types also
//! deserialize, for the gateway's own `POST /v1/messages` ingress (`crate::http::messages`):
//! `system` and message `content` accept a string or text blocks there, as Anthropic's do.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The `anthropic-version` header value this adapter speaks.
pub const API_VERSION: &str = "2023-06-01";

/// A Messages request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    /// The upstream model name.
    pub model: String,
    /// Output token limit (required by Anthropic).
    pub max_tokens: u32,
    /// The conversation, alternating `user` and `assistant`.
    pub messages: Vec<Message>,
    /// System instructions (OpenAI `system`/`developer` messages joined).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "system_text"
    )]
    pub system: Option<String>,
    /// Sampling temperature in `[0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Whether to stream server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Tool definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    /// How the model may use tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Request metadata (the end-user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Output settings: the JSON Schema the answer must follow, the effort level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    /// Extended thinking, as a client of the `/v1/messages` ingress (Claude Code) asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
}

/// `thinking`: extended thinking on with a token budget, off, or left to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    /// Think, with at most this many tokens (at least 1,024, below `max_tokens`).
    Enabled {
        /// The thinking budget.
        budget_tokens: u32,
        /// Whether the thinking text comes back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<ThinkingDisplay>,
    },
    /// No extended thinking.
    Disabled,
    /// The model decides how much to think (Claude 4.6 and later).
    Adaptive {
        /// Whether the thinking text comes back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<ThinkingDisplay>,
    },
}

/// `thinking.display`: whether Claude returns its thinking text (summarised) or only the
/// signed blocks with the text left empty. Claude 4.6 and earlier default to `summarized`,
/// Opus 4.7 and later (the 5.x models, Fable) to `omitted`, for a faster first token; Claude
/// Code asks for `summarized` to show the thinking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThinkingDisplay {
    /// The thinking text, summarised.
    Summarized,
    /// Empty thinking text; the signature still comes.
    Omitted,
}

impl Thinking {
    /// The nearest OpenAI-style effort, for models of other vendors (the chat form's
    /// `reasoning_effort`): a budget under 4,096 tokens is `low`, under 16,384 `medium`, more
    /// `high` (Gemini 2.5's budgets for those levels are 1,024, 8,192 and 24,576); off is
    /// `none`; adaptive is the model's default (none sent).
    pub fn effort(self) -> Option<&'static str> {
        match self {
            Thinking::Enabled { budget_tokens, .. } if budget_tokens < 4096 => Some("low"),
            Thinking::Enabled { budget_tokens, .. } if budget_tokens < 16_384 => Some("medium"),
            Thinking::Enabled { .. } => Some("high"),
            Thinking::Disabled => Some("none"),
            Thinking::Adaptive { .. } => None,
        }
    }

    /// The `display` the client asked for.
    pub fn display(self) -> Option<ThinkingDisplay> {
        match self {
            Thinking::Enabled { display, .. } | Thinking::Adaptive { display } => display,
            Thinking::Disabled => None,
        }
    }

    /// The same setting with `display` instead.
    pub fn with_display(self, display: Option<ThinkingDisplay>) -> Thinking {
        match self {
            Thinking::Enabled { budget_tokens, .. } => Thinking::Enabled {
                budget_tokens,
                display,
            },
            Thinking::Adaptive { .. } => Thinking::Adaptive { display },
            Thinking::Disabled => Thinking::Disabled,
        }
    }
}

/// `output_config` (its `format` and `effort`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputConfig {
    /// Structured outputs: `{"type": "json_schema", "schema": {…}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<OutputFormat>,
    /// How many tokens the model may spend: `low`, `medium`, `high`, `xhigh` or `max`
    /// (`super::effort`). Kept as text: the `/v1/messages` ingress names the levels it
    /// takes in its own 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// `output_config.format`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputFormat {
    /// `json_schema`, the one kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The JSON Schema.
    pub schema: Value,
}

/// `metadata`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// An opaque end-user identifier; Anthropic's API takes `null` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Who wrote a message (Anthropic has no system or tool role).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// The user (and tool results).
    User,
    /// The model.
    Assistant,
}

/// One message: a role and its content blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: MessageRole,
    /// The blocks (a plain string deserializes as one text block).
    #[serde(deserialize_with = "blocks")]
    pub content: Vec<ContentBlock>,
}

/// A request content block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// Where the image comes from.
        source: ImageSource,
    },
    /// A tool call the assistant made earlier in the conversation.
    ToolUse {
        /// The call id.
        id: String,
        /// The tool name.
        name: String,
        /// The arguments object.
        input: Value,
    },
    /// The model's thinking before a tool call it made, given back unchanged in the tool-use
    /// loop (its text may be empty: Claude 5.x omits it by default; the signature is checked).
    Thinking {
        /// The thinking text, as returned.
        thinking: String,
        /// Anthropic's signature over it.
        signature: String,
    },
    /// Thinking returned encrypted.
    RedactedThinking {
        /// The encrypted thinking.
        data: String,
    },
    /// The result of a tool call.
    ToolResult {
        /// The call this answers.
        tool_use_id: String,
        /// The result text (text blocks deserialize joined).
        #[serde(default, deserialize_with = "result_text")]
        content: String,
        /// Whether the tool failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
}

/// An image source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// Inline bytes.
    Base64 {
        /// Such as `image/png`.
        media_type: String,
        /// Base64 data.
        data: String,
    },
    /// A public URL.
    Url {
        /// The URL.
        url: String,
    },
}

/// A tool definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// The tool name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input object.
    pub input_schema: Value,
}

/// `tool_choice`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// At most one tool call per answer (OpenAI's `parallel_tool_calls: false`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        /// As for `Auto`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call this tool.
    Tool {
        /// The tool name.
        name: String,
        /// As for `Auto`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must not call tools.
    None,
}

impl ToolChoice {
    /// Whether the choice asks for at most one tool call per answer.
    pub fn one_call_at_a_time(&self) -> bool {
        match self {
            ToolChoice::Auto {
                disable_parallel_tool_use,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use,
                ..
            } => *disable_parallel_tool_use == Some(true),
            ToolChoice::None => false,
        }
    }
}

/// A non-streamed Messages response.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MessagesResponse {
    /// The message id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// Content blocks.
    #[serde(default)]
    pub content: Vec<ResponseBlock>,
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Which of the request's stop sequences ended it (with `stop_reason: "stop_sequence"`).
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token counts.
    #[serde(default)]
    pub usage: AnthropicUsage,
}

/// A response content block.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    /// Text.
    Text {
        /// The text (empty in a stream's `content_block_start`).
        #[serde(default)]
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// The call id.
        id: String,
        /// The tool name.
        name: String,
        /// The arguments object (empty in a stream's `content_block_start`).
        #[serde(default)]
        input: Value,
    },
    /// Thinking (its text empty in a stream's `content_block_start`): not forwarded to the
    /// client, kept to be given back with the tool calls it preceded.
    Thinking {
        /// The text (empty where the model omits it).
        #[serde(default)]
        thinking: String,
        /// The signature (empty in a stream's `content_block_start`).
        #[serde(default)]
        signature: String,
    },
    /// Encrypted thinking: likewise.
    RedactedThinking {
        /// The encrypted thinking.
        #[serde(default)]
        data: String,
    },
    /// Server tools and future block types: not forwarded.
    #[serde(other)]
    Other,
}

/// Anthropic token counts. `input_tokens` excludes cached prompt tokens, which are reported
/// separately. A count that is `null` reads as 0, like one left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct AnthropicUsage {
    /// Uncached input tokens.
    #[serde(default, deserialize_with = "count")]
    pub input_tokens: u32,
    /// Output tokens.
    #[serde(default, deserialize_with = "count")]
    pub output_tokens: u32,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u32>,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u32>,
}

/// `message_delta.usage` (`MessageDeltaUsage` in Anthropic's schema): cumulative counts,
/// each of which may be left out or `null` (Anthropic's schema makes the input and cache
/// counts nullable, and compatible proxies send `null` for counts they do not know). An
/// absent or `null` count changes nothing of what `message_start` said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct MessageDeltaUsage {
    /// Uncached input tokens.
    #[serde(default)]
    pub input_tokens: Option<u32>,
    /// Output tokens so far.
    #[serde(default)]
    pub output_tokens: Option<u32>,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u32>,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u32>,
}

impl AnthropicUsage {
    /// All prompt tokens, cached or not: what OpenAI calls `prompt_tokens`.
    pub fn prompt_tokens(&self) -> u32 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
            .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
    }
}

/// One server-sent event of a streamed response, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message skeleton with input usage.
    MessageStart {
        /// The skeleton.
        message: MessageStart,
    },
    /// A content block begins.
    ContentBlockStart {
        /// Block position.
        index: u32,
        /// The empty block (text, or tool_use with id and name).
        content_block: ResponseBlock,
    },
    /// A block grows.
    ContentBlockDelta {
        /// Block position.
        index: u32,
        /// The increment.
        delta: BlockDelta,
    },
    /// A block ends.
    ContentBlockStop {
        /// Block position.
        index: u32,
    },
    /// Top-level changes: stop reason and cumulative output usage.
    MessageDelta {
        /// The changes.
        delta: MessageDeltaBody,
        /// Cumulative usage.
        #[serde(default)]
        usage: Option<MessageDeltaUsage>,
    },
    /// The stream's terminal event.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// An error after the stream began (such as `overloaded_error`).
    Error {
        /// The error.
        error: ErrorBody,
    },
    /// Event types added after this adapter was written.
    #[serde(other)]
    Unknown,
}

/// `message_start.message`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MessageStart {
    /// The message id.
    pub id: String,
    /// The model that answers.
    pub model: String,
    /// Input usage.
    #[serde(default)]
    pub usage: AnthropicUsage,
}

/// A content block increment.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// Text to append.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A fragment of a tool call's JSON input.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
    /// Thinking text to append (kept, not forwarded).
    ThinkingDelta {
        /// The text.
        thinking: String,
    },
    /// A thinking block's signature (kept, not forwarded).
    SignatureDelta {
        /// The signature.
        signature: String,
    },
    /// Future delta types: not forwarded.
    #[serde(other)]
    Other,
}

/// `message_delta.delta`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MessageDeltaBody {
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Which of the request's stop sequences ended it (with `stop_reason: "stop_sequence"`).
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// An error object (`{"type": "error", "error": {...}}` bodies and stream `error` events).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ErrorBody {
    /// Such as `overloaded_error` or `rate_limit_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable description.
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// The HTTP status Anthropic uses for this error type, for errors that arrive inside a
    /// stream after a 200.
    pub fn status(&self) -> u16 {
        match self.kind.as_str() {
            "invalid_request_error" => 400,
            "authentication_error" => 401,
            "permission_error" => 403,
            "not_found_error" => 404,
            "billing_error" => 402,
            "request_too_large" => 413,
            "rate_limit_error" => 429,
            "timeout_error" => 504,
            "overloaded_error" => 529,
            _ => 500,
        }
    }
}

/// A string, or an array of text blocks (`[{"type":"text","text":...}]`) joined by newlines;
/// any other block type is refused by name.
fn text_or_blocks<E: serde::de::Error>(value: Value, field: &str) -> Result<String, E> {
    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum TextBlock {
        Text { text: String },
    }
    match value {
        Value::Null => Ok(String::new()),
        Value::String(text) => Ok(text),
        other => {
            let blocks: Vec<TextBlock> = serde_json::from_value(other)
                .map_err(|e| E::custom(format!("`{field}` takes a string or text blocks: {e}")))?;
            Ok(blocks
                .into_iter()
                .map(|TextBlock::Text { text }| text)
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

/// A token count that may be `null`, read as 0.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(0))
}

/// `system`: a string or text blocks, joined.
fn system_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(v) => text_or_blocks(v, "system").map(Some),
    }
}

/// `tool_result.content`: a string or text blocks, joined.
fn result_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text_or_blocks(Value::deserialize(d)?, "tool_result.content")
}

/// Message `content`: a string (one text block) or blocks.
fn blocks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ContentBlock>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(text) => Ok(vec![ContentBlock::Text { text }]),
        other => serde_json::from_value(other)
            .map_err(|e| serde::de::Error::custom(format!("message `content`: {e}"))),
    }
}
