//! Reading a Chat Completions `tool_choice`, in particular OpenAI's `allowed_tools` form:
//! `{"type": "allowed_tools", "allowed_tools": {"mode": "auto" | "required", "tools":
//! [{"type": "function", "function": {"name": …}}, …]}}`, which limits the model to some of
//! the request's tools while the `tools` list itself stays the same (so a prompt cache keyed on
//! it keeps hitting). Only OpenAI's own API takes it; the gateway gives every other upstream the
//! same limit as a shorter `tools` list and a plain mode (`upstream::fit`).

use serde_json::{json, Value};

/// An `allowed_tools` choice, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedTools {
    /// `mode: "required"`: the model must call one of them; `"auto"`: it may.
    pub required: bool,
    /// The functions the model may call, by name.
    pub names: Vec<String>,
}

impl AllowedTools {
    /// The plain `tool_choice` that carries the same mode.
    pub fn mode(&self) -> Value {
        Value::from(if self.required { "required" } else { "auto" })
    }
}

/// The choice's `allowed_tools`, `Ok(None)` for any other choice, or an error naming the
/// malformed field (as a path under `tool_choice`) and what it must be.
pub fn allowed_tools(choice: &Value) -> Result<Option<AllowedTools>, (String, &'static str)> {
    if choice.get("type").and_then(Value::as_str) != Some("allowed_tools") {
        return Ok(None);
    }
    let allowed = &choice["allowed_tools"];
    let required = match allowed["mode"].as_str() {
        Some("required") => true,
        Some("auto") => false,
        _ => {
            return Err((
                "tool_choice.allowed_tools.mode".to_owned(),
                "must be \"auto\" or \"required\"",
            ))
        }
    };
    let Some(tools) = allowed["tools"].as_array().filter(|t| !t.is_empty()) else {
        return Err((
            "tool_choice.allowed_tools.tools".to_owned(),
            "must be a non-empty list of {\"type\": \"function\", \"function\": {\"name\": …}}",
        ));
    };
    let names = tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            tool["function"]["name"]
                .as_str()
                .filter(|_| tool["type"] == "function")
                .map(str::to_owned)
                .ok_or((
                    format!("tool_choice.allowed_tools.tools[{i}]"),
                    "must be {\"type\": \"function\", \"function\": {\"name\": …}}",
                ))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(AllowedTools { required, names }))
}

/// Whether the choice makes the model call a tool: `required`, a named function, or
/// `allowed_tools` in `required` mode (Anthropic then refuses extended thinking, and some
/// models refuse forced calls altogether).
pub fn forces_a_call(choice: &Value) -> bool {
    match choice {
        Value::String(mode) => mode == "required",
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("allowed_tools") => choice["allowed_tools"]["mode"] == "required",
            Some("function") => true,
            _ => o.contains_key("function"),
        },
        _ => false,
    }
}

/// Chat's `tool_choice` in Responses' shape: a forced function is named beside `type`, not
/// under `function`, and an `allowed_tools` list is flat (`mode` and `{type, name}` tools
/// beside `type`). `none`, `auto` and `required` are the same words.
pub fn in_responses_shape(choice: &Value) -> Value {
    if choice["type"] == "allowed_tools" {
        let allowed = &choice["allowed_tools"];
        let tools: Vec<Value> = allowed["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| match t["function"]["name"].as_str() {
                Some(name) => json!({"type": "function", "name": name}),
                None => t.clone(),
            })
            .collect();
        return json!({"type": "allowed_tools", "mode": allowed["mode"], "tools": tools});
    }
    match choice["function"]["name"].as_str() {
        Some(name) => json!({"type": "function", "name": name}),
        None => choice.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn choice(mode: &str, names: &[&str]) -> Value {
        let tools: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "function", "function": {"name": n}}))
            .collect();
        json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}})
    }

    #[test]
    fn allowed_tools_are_read_with_their_mode() {
        let read = allowed_tools(&choice("required", &["look", "list"]))
            .unwrap()
            .unwrap();
        assert!(read.required);
        assert_eq!(read.names, ["look", "list"]);
        assert_eq!(read.mode(), json!("required"));
        let read = allowed_tools(&choice("auto", &["look"])).unwrap().unwrap();
        assert!(!read.required);
        assert_eq!(read.mode(), json!("auto"));
        for other in [
            json!("auto"),
            json!({"type": "function", "function": {"name": "x"}}),
        ] {
            assert_eq!(allowed_tools(&other).unwrap(), None, "{other}");
        }
    }

    #[test]
    fn a_malformed_allowed_tools_names_its_field() {
        let field = |c: Value| allowed_tools(&c).unwrap_err().0;
        assert_eq!(
            field(choice("any", &["x"])),
            "tool_choice.allowed_tools.mode"
        );
        assert_eq!(
            field(json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto"}})),
            "tool_choice.allowed_tools.tools"
        );
        // None allowed: a required call would reach the upstream with no tool to call.
        assert_eq!(
            field(choice("required", &[])),
            "tool_choice.allowed_tools.tools"
        );
        let mut bad = choice("auto", &["x", "y"]);
        bad["allowed_tools"]["tools"][1] = json!({"type": "function", "name": "y"});
        assert_eq!(field(bad), "tool_choice.allowed_tools.tools[1]");
    }

    #[test]
    fn forced_calls_are_told_apart() {
        assert!(forces_a_call(&json!("required")));
        assert!(forces_a_call(
            &json!({"type": "function", "function": {"name": "x"}})
        ));
        assert!(forces_a_call(&choice("required", &["x"])));
        assert!(!forces_a_call(&choice("auto", &["x"])));
        assert!(!forces_a_call(&json!("auto")));
        assert!(!forces_a_call(&json!("none")));
    }
}
