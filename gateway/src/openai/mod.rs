//! OpenAI's chat completions API as the gateway speaks it to clients.

pub mod content_parts;
pub mod tool_calls;
pub mod tool_choice;
pub mod wire;
