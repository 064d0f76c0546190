//! Serde types of Google's Gemini API (`models/{model}:generateContent` and
//! `:streamGenerateContent`). Gemini uses camelCase JSON; a `Part` is a union expressed as
//! optional fields, exactly one of which is set.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `generateContent` request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// The conversation (`user` and `model` turns).
    pub contents: Vec<Content>,
    /// System instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Function declarations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolGroup>>,
    /// How the model may call functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling and output settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

/// One turn (or the system instruction, which has no role).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// `user` or `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part of a turn: text, inline bytes, a file reference, a function call or a function
/// response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inline bytes (images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// A file by URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A function call by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The result of a function call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// Set on thought-summary parts of thinking models; those are not forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Gemini 3's opaque signature of the reasoning behind a function call: sent back with
    /// the call on later turns ([`super::signatures`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }
}

/// Inline bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// Such as `image/png`.
    pub mime_type: String,
    /// Base64 data.
    pub data: String,
}

/// A file reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// Such as `image/jpeg`.
    pub mime_type: String,
    /// The file URI.
    pub file_uri: String,
}

/// A function call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The call's id, where the model gives one (Gemini 3.5 and later; `super::call_ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function name.
    pub name: String,
    /// The arguments object.
    #[serde(default)]
    pub args: Value,
}

/// A function's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse {
    /// The id of the call it answers (`super::call_ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function name.
    pub name: String,
    /// The result object.
    pub response: Value,
}

/// A group of function declarations.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolGroup {
    /// The functions.
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// A callable function.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionDeclaration {
    /// The function name.
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (`parametersJsonSchema`, exclusive with `parameters`).
    #[serde(
        rename = "parametersJsonSchema",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters_json_schema: Option<Value>,
}

/// `toolConfig`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// Function-calling mode.
    pub function_calling_config: FunctionCallingConfig,
}

/// `functionCallingConfig`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub mode: String,
    /// With `ANY`: the functions allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Output token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// `application/json` for JSON mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// The JSON Schema the answer must follow (`response_format: json_schema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// How much the model thinks (`reasoning_effort`, [`super::thinking`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

/// `thinkingConfig`: a level (Gemini 3 and later) or a budget (Gemini 2.5), never both, as
/// Google answers 400 to the pair ([`super::thinking::config`] builds it), and whether the
/// answer includes the thoughts' summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// `minimal`, `low`, `medium` or `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<&'static str>,
    /// Thinking tokens, 0 for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i32>,
    /// Summaries of the thoughts come back as parts marked `thought`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub include_thoughts: bool,
}

/// A `generateContent` response, and each chunk of a stream.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The candidates (one unless `candidateCount` was set).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Token counts (cumulative in streams).
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    #[serde(default)]
    pub model_version: Option<String>,
    /// The response id.
    #[serde(default)]
    pub response_id: Option<String>,
    /// Set when the prompt itself was blocked.
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
}

/// One candidate answer.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The content (absent when blocked).
    #[serde(default)]
    pub content: Option<Content>,
    /// Set on the candidate's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// Token counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_token_count: u32,
    /// Prompt tokens read from the context cache (part of `prompt_token_count`).
    #[serde(default)]
    pub cached_content_token_count: Option<u32>,
    /// Answer tokens.
    #[serde(default)]
    pub candidates_token_count: u32,
    /// Thinking tokens (billed as output).
    #[serde(default)]
    pub thoughts_token_count: u32,
    /// The total.
    #[serde(default)]
    pub total_token_count: u32,
}

impl UsageMetadata {
    /// Output tokens as billed: answer plus thinking.
    pub fn output_tokens(&self) -> u32 {
        self.candidates_token_count
            .saturating_add(self.thoughts_token_count)
    }
}

/// `promptFeedback`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Why the prompt was blocked.
    #[serde(default)]
    pub block_reason: Option<String>,
}
