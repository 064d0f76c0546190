//! What the fake does with one request: the typed [`Scenario`] enum and its [`ScenarioKind`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A gate that holds [`Scenario::Held`] answers until the test opens it: a slow upstream
/// without sleeping, since the test decides exactly when the answer comes.
#[derive(Clone, Debug, Default)]
pub struct Release(Arc<CancellationToken>);

impl Release {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets every held answer (and every later one) through.
    pub fn open(&self) {
        self.0.cancel();
    }

    /// Waits until the gate is open.
    pub(crate) async fn opened(&self) {
        self.0.cancelled().await;
    }
}

impl PartialEq for Release {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Token counts the fake reports for a successful answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub input_tokens: u32,
    /// Completion (output) tokens.
    pub output_tokens: u32,
}

impl Usage {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u32 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// How the fake answers one request. Scripted per model with
/// [`FakeProvider::script`](crate::FakeProvider::script); when a model's script is empty the
/// fake answers [`Scenario::echo`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Scenario {
    /// A successful answer, streamed from the `.jsonl` fixtures when the request asks for a
    /// stream.
    Ok {
        /// The reply text; `None` echoes the model name and the last prompt text.
        reply: Option<String>,
        /// The usage to report; `None` counts whitespace-separated words of prompt and reply.
        usage: Option<Usage>,
    },
    /// A successful answer that calls one tool (OpenAI `tool_calls`, Anthropic `tool_use`,
    /// Gemini `functionCall`), with the vendor's tool-call finish reason. An OpenAI stream
    /// sends the arguments in pieces of at most 8 bytes, as OpenAI does a few characters at a
    /// time.
    ToolCall {
        /// The function name.
        name: String,
        /// The JSON arguments object.
        arguments: Value,
    },
    /// Waits this long, then answers like [`Scenario::echo`].
    Delay(Duration),
    /// Answers with this HTTP status before any stream starts.
    Status {
        /// The HTTP status code, such as 429, 500 or 529.
        code: u16,
        /// Sent as a `Retry-After` header in whole seconds, rounded up.
        retry_after: Option<Duration>,
        /// The raw body; `None` sends the vendor's error JSON shape for this status.
        body: Option<String>,
    },
    /// Streams send their events up to the first token of the answer (the role or message
    /// start before it, then the first text) and then hang until the client gives up (or the
    /// fake shuts down); non-streaming requests hang before any byte of the response.
    StallAfterFirstChunk,
    /// Streams send their events up to the first token, then a chunk whose data is not valid
    /// JSON, then the normal end of stream; non-streaming requests get a 200 whose body is not
    /// valid JSON.
    MalformedChunk,
    /// Streams send their events up to the first token and then drop the connection;
    /// non-streaming requests have their connection dropped before a complete response.
    Disconnect,
    /// A model that thinks before it answers. Streams send what comes before the answer (the
    /// role, Anthropic's `message_start`, Responses' `response.created`), then nothing of the
    /// answer for `think`: a keep-alive every `keepalive` (Anthropic's `ping` event; on the
    /// OpenAI chat wire a `reasoning` delta, as OpenRouter and vLLM stream a reasoning model's
    /// thinking; an SSE comment elsewhere) or, with `None`, silence (OpenAI's Chat Completions
    /// while a model reasons). Then they answer like [`Scenario::echo`], or with
    /// `then_drop` drop the connection instead. Non-streaming requests wait `think`, then
    /// answer (or are dropped). With `after_first_token` the pause comes after the answer's
    /// first token instead (a model thinking again between its text and a tool call).
    Thinks {
        /// How long the model thinks.
        think: Duration,
        /// Think after the first token of the answer rather than before it.
        after_first_token: bool,
        /// The gap between keep-alives while it thinks; `None`: silence.
        keepalive: Option<Duration>,
        /// Drop the connection when the thinking is over instead of answering.
        then_drop: bool,
    },
    /// A 401 in the vendor's error shape, as for a revoked key.
    Unauthorized,
    /// Exactly this status, these headers and this body, unchecked: for hostile upstream
    /// answers such as `Retry-After: 1e30` or `Retry-After: NaN`.
    Raw {
        /// The HTTP status code.
        code: u16,
        /// Header names and values, sent as given (invalid ones are skipped).
        headers: Vec<(String, String)>,
        /// The raw body.
        body: String,
    },
    /// A successful answer whose text is `bytes` bytes long, generated while it is sent (the
    /// fake never holds it whole): one JSON body, or a stream of 16 KiB content chunks.
    Huge {
        /// Length of the reply text.
        bytes: usize,
    },
    /// Answers by the prompt: the reply stored under the last prompt text (exactly), else
    /// `otherwise`; word-count usage. Scripts a model's quality per prompt (a quiz whose
    /// answers the test knows).
    Keyed {
        /// Replies by last prompt text.
        replies: std::sync::Arc<std::collections::HashMap<String, String>>,
        /// The reply to any other prompt.
        otherwise: String,
    },
    /// Waits `delay`, then answers as `then` does: a slow error, a 429 that comes late (so
    /// that several requests can be in flight when it does).
    Late {
        /// How long before answering.
        delay: Duration,
        /// The answer.
        then: Box<Scenario>,
    },
    /// Waits until `release` is opened (or the fake shuts down), then answers `reply`.
    Held {
        /// The gate.
        release: Release,
        /// The reply text, with word-count usage.
        reply: String,
    },
}

impl Scenario {
    /// The default: a successful answer echoing the prompt, with word-count usage.
    pub fn echo() -> Self {
        Scenario::Ok {
            reply: None,
            usage: None,
        }
    }

    /// A successful answer with this reply text and word-count usage.
    pub fn reply(text: impl Into<String>) -> Self {
        Scenario::Ok {
            reply: Some(text.into()),
            usage: None,
        }
    }

    /// A successful answer with this reply text and these token counts.
    pub fn reply_with_usage(text: impl Into<String>, usage: Usage) -> Self {
        Scenario::Ok {
            reply: Some(text.into()),
            usage: Some(usage),
        }
    }

    /// An error status with the vendor's error body and no `Retry-After`.
    pub fn status(code: u16) -> Self {
        Scenario::Status {
            code,
            retry_after: None,
            body: None,
        }
    }

    /// `reply`, once `release` is opened.
    pub fn held(release: &Release, reply: impl Into<String>) -> Self {
        Scenario::Held {
            release: release.clone(),
            reply: reply.into(),
        }
    }

    /// [`Scenario::Keyed`]: `replies` by last prompt text, else `otherwise`.
    pub fn keyed(
        replies: std::collections::HashMap<String, String>,
        otherwise: impl Into<String>,
    ) -> Self {
        Scenario::Keyed {
            replies: std::sync::Arc::new(replies),
            otherwise: otherwise.into(),
        }
    }

    /// A 429 with a `Retry-After` header.
    pub fn rate_limited(retry_after: Duration) -> Self {
        Scenario::Status {
            code: 429,
            retry_after: Some(retry_after),
            body: None,
        }
    }

    /// The field-less kind of this scenario, used for call counts.
    pub fn kind(&self) -> ScenarioKind {
        match self {
            Scenario::Ok { .. } | Scenario::Keyed { .. } => ScenarioKind::Ok,
            Scenario::ToolCall { .. } => ScenarioKind::ToolCall,
            Scenario::Delay(_) => ScenarioKind::Delay,
            Scenario::Late { .. } => ScenarioKind::Late,
            Scenario::Status { .. } => ScenarioKind::Status,
            Scenario::StallAfterFirstChunk => ScenarioKind::StallAfterFirstChunk,
            Scenario::MalformedChunk => ScenarioKind::MalformedChunk,
            Scenario::Disconnect => ScenarioKind::Disconnect,
            Scenario::Unauthorized => ScenarioKind::Unauthorized,
            Scenario::Raw { .. } => ScenarioKind::Raw,
            Scenario::Huge { .. } => ScenarioKind::Huge,
            Scenario::Held { .. } => ScenarioKind::Held,
            Scenario::Thinks { .. } => ScenarioKind::Thinks,
        }
    }
}

/// The variant of a [`Scenario`] without its data, for counting calls per scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ScenarioKind {
    /// [`Scenario::Ok`].
    Ok,
    /// [`Scenario::ToolCall`].
    ToolCall,
    /// [`Scenario::Delay`].
    Delay,
    /// [`Scenario::Late`].
    Late,
    /// [`Scenario::Status`].
    Status,
    /// [`Scenario::StallAfterFirstChunk`].
    StallAfterFirstChunk,
    /// [`Scenario::MalformedChunk`].
    MalformedChunk,
    /// [`Scenario::Disconnect`].
    Disconnect,
    /// [`Scenario::Unauthorized`].
    Unauthorized,
    /// [`Scenario::Raw`].
    Raw,
    /// [`Scenario::Huge`].
    Huge,
    /// [`Scenario::Held`].
    Held,
    /// [`Scenario::Thinks`].
    Thinks,
}
