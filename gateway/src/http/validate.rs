//! Bounds on everything a client sends besides the prompt: model names and lists, numbers,
//! and the explanation of a request that no allowed model can serve.
//!
//! Every check answers a 400 naming the field before any costly work: a name is measured
//! before it is looked up (the "did you mean" search is linear in its length), a list before
//! its names are resolved, a number before it reaches the policy (λ = 1 / willingness to pay
//! must stay finite, or the logged row cannot be read back).

use router_core::{Capability, Constraints, ModelId};

use crate::http::chat::Dialect;
use crate::http::error::ApiError;
use crate::openai::wire::{ChatCompletionRequest, RouterOptions};
use crate::outcome::record::truncated;

/// Longest model name or alias accepted (catalog ids are far shorter).
pub const MAX_MODEL_NAME_BYTES: usize = 256;
/// Most names in `router.candidates` or `router.exclude`.
pub const MAX_MODEL_LIST: usize = 128;
/// Bounds of `router.willingness_to_pay` in USD per quality point, so that λ = 1 / w stays
/// within [1e-6, 1e6].
pub const WILLINGNESS_TO_PAY_RANGE: (f64, f64) = (1e-6, 1e6);
/// Largest `router.max_cost_usd`.
pub const MAX_COST_USD: f64 = 1e6;
/// Largest `router.max_latency_ms` (about 11 days).
pub const MAX_LATENCY_MS: f64 = 1e9;
/// Most choices (`n`) per request.
pub const MAX_CHOICES: u32 = 128;
/// Most stop sequences, and the longest: the gateway matches them itself for models that
/// refuse `stop` (`http::stop_cut`), against every chunk of a stream (OpenAI takes 4).
pub const MAX_STOPS: usize = 16;
/// Longest stop sequence, in bytes.
pub const MAX_STOP_BYTES: usize = 256;

/// How much of a refused name an error repeats.
const ECHO_BYTES: usize = 64;

fn echo(name: &str) -> String {
    let cut = truncated(name, ECHO_BYTES);
    if cut.len() < name.len() {
        format!("{cut}…")
    } else {
        cut.to_owned()
    }
}

/// Refuses a model name that is too long to be one.
pub fn model_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.len() > MAX_MODEL_NAME_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "{field} is {} bytes long; model names are at most {MAX_MODEL_NAME_BYTES} bytes (got `{}`)",
            name.len(),
            echo(name)
        )));
    }
    Ok(())
}

fn model_list(field: &str, list: Option<&Vec<ModelId>>) -> Result<(), ApiError> {
    let Some(list) = list else { return Ok(()) };
    if list.len() > MAX_MODEL_LIST {
        return Err(ApiError::InvalidRequest(format!(
            "{field} has {} names; at most {MAX_MODEL_LIST} are accepted",
            list.len()
        )));
    }
    for (i, id) in list.iter().enumerate() {
        model_name(&format!("{field}[{i}]"), id.as_str())?;
    }
    Ok(())
}

fn in_range(field: &str, value: Option<f64>, lo: f64, hi: f64, unit: &str) -> Result<(), ApiError> {
    match value {
        Some(x) if !(x.is_finite() && (lo..=hi).contains(&x)) => Err(ApiError::InvalidRequest(
            format!("{field} must be a number between {lo} and {hi}{unit}, got {x}"),
        )),
        _ => Ok(()),
    }
}

/// Checks the routing knobs (body `router` object and headers, merged).
pub fn router_options(o: &RouterOptions) -> Result<(), ApiError> {
    model_list("router.candidates", o.candidates.as_ref())?;
    model_list("router.exclude", o.exclude.as_ref())?;
    in_range(
        "router.max_cost_usd",
        o.max_cost_usd,
        0.0,
        MAX_COST_USD,
        " USD",
    )?;
    in_range("router.min_quality", o.min_quality, 0.0, 1.0, "")?;
    in_range(
        "router.max_latency_ms",
        o.max_latency_ms,
        0.0,
        MAX_LATENCY_MS,
        " ms",
    )?;
    let (lo, hi) = WILLINGNESS_TO_PAY_RANGE;
    in_range(
        "router.willingness_to_pay",
        o.willingness_to_pay,
        lo,
        hi,
        " USD per quality point",
    )
}

/// Checks the OpenAI sampling fields the gateway reads or forwards; errors name each field as
/// the client's `dialect` calls it.
pub fn sampling(req: &ChatCompletionRequest, dialect: Dialect) -> Result<(), ApiError> {
    model_name("model", &req.model)?;
    in_range("temperature", req.temperature, 0.0, 2.0, "")?;
    in_range("top_p", req.top_p, 0.0, 1.0, "")?;
    for (field, v) in [
        ("max_tokens", req.max_tokens),
        ("max_completion_tokens", req.max_completion_tokens),
    ] {
        if v == Some(0) {
            return Err(ApiError::InvalidRequest(format!(
                "{} must be at least 1",
                dialect.field(field)
            )));
        }
    }
    if req.n.is_some_and(|n| n == 0 || n > MAX_CHOICES) {
        return Err(ApiError::InvalidRequest(format!(
            "n must be between 1 and {MAX_CHOICES}"
        )));
    }
    let stops = req.stop.as_ref().map(crate::openai::wire::Stop::to_vec);
    let stops = stops.unwrap_or_default();
    if stops.len() > MAX_STOPS || stops.iter().any(|s| s.len() > MAX_STOP_BYTES) {
        return Err(ApiError::InvalidRequest(format!(
            "{} takes at most {MAX_STOPS} sequences of at most {MAX_STOP_BYTES} bytes each",
            dialect.field("stop")
        )));
    }
    for (field, key) in [
        ("presence_penalty", "presence_penalty"),
        ("frequency_penalty", "frequency_penalty"),
    ] {
        // `null` is OpenAI's "unset" (SDKs send it for a `None` argument).
        if let Some(v) = req.extra.get(key).filter(|v| !v.is_null()) {
            in_range(field, v.as_f64().or(Some(f64::NAN)), -2.0, 2.0, "")?;
        }
    }
    Ok(())
}

/// Checks an `allowed_tools` choice (`openai::tool_choice`): its mode, its shape, and that each
/// function it allows is one of the request's `tools`. An unknown name would otherwise vanish
/// where the gateway cuts `tools` to the allowed ones (for every upstream but OpenAI's own), and
/// a model required to call a tool could be left with none.
pub fn tool_choice(req: &ChatCompletionRequest, dialect: Dialect) -> Result<(), ApiError> {
    let Some(choice) = &req.tool_choice else {
        return Ok(());
    };
    let allowed = crate::openai::tool_choice::allowed_tools(choice)
        .map_err(|(field, what)| ApiError::InvalidRequest(format!("{field} {what}")))?;
    let Some(allowed) = allowed else {
        return Ok(());
    };
    let defined = |name: &String| req.tools.iter().flatten().any(|t| &t.function.name == name);
    if let Some((i, name)) = allowed.names.iter().enumerate().find(|(_, n)| !defined(n)) {
        // `/v1/responses` lists the allowed tools right under `tool_choice`.
        let list = match dialect {
            Dialect::Responses => "tool_choice.tools",
            _ => "tool_choice.allowed_tools.tools",
        };
        return Err(ApiError::InvalidRequest(format!(
            "{list}[{i}]: `{}` is not one of the request's tools",
            echo(name)
        )));
    }
    Ok(())
}

/// A model the client named must have every capability the request needs (images need
/// `vision`, `tools` need `tools`, a JSON `response_format` needs `json_mode`): a 400 naming
/// what is missing, instead of an upstream call that its provider refuses.
pub fn named_model_capabilities(
    catalog: &models::Catalog,
    model: &ModelId,
    constraints: &Constraints,
) -> Result<(), ApiError> {
    let Ok(entry) = catalog.get(model) else {
        return Ok(());
    };
    let missing: Vec<&str> = constraints
        .required_capabilities
        .difference(&entry.spec.capabilities)
        .map(|c| c.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::Unservable {
        code: "capability_unavailable",
        message: format!(
            "the request needs {} and `{model}` does not support it; name a model that does, or use `auto`",
            missing.join(" + ")
        ),
    })
}

/// Why no model in `pool` can serve a request with these constraints and this prompt size:
/// a 400 naming the limit, so that clients fix the request instead of retrying it.
pub fn unservable(
    catalog: &models::Catalog,
    pool: &[ModelId],
    constraints: &Constraints,
    input_tokens: u32,
) -> ApiError {
    let allowed: Vec<&router_core::ModelSpec> = pool
        .iter()
        .filter(|m| constraints.allows(m))
        .filter_map(|m| catalog.get(m).ok().map(|e| &e.spec))
        .collect();
    if allowed.is_empty() {
        return ApiError::Unservable {
            code: "no_model_allowed",
            message: format!(
                "router.candidates and router.exclude leave none of the {} available models; allow at least one",
                pool.len()
            ),
        };
    }
    let capable: Vec<&&router_core::ModelSpec> = allowed
        .iter()
        .filter(|s| s.supports(&constraints.required_capabilities))
        .collect();
    if capable.is_empty() {
        let needs: Vec<&str> = constraints
            .required_capabilities
            .iter()
            .map(|c: &Capability| c.as_str())
            .collect();
        return ApiError::Unservable {
            code: "capability_unavailable",
            message: format!(
                "the request needs {} and none of the {} allowed models supports all of it",
                needs.join(" + "),
                allowed.len()
            ),
        };
    }
    let Some(largest) = capable.iter().max_by_key(|s| s.context_window) else {
        return ApiError::Unservable {
            code: "context_length_exceeded",
            message: format!("the prompt is about {input_tokens} tokens"),
        };
    };
    let window = largest.context_window;
    // In that model's own tokens, where its tokenizer counts more than the estimate.
    let own = largest.prompt_tokens(f64::from(input_tokens)).ceil();
    let counted = if own > f64::from(input_tokens) {
        format!(" ({own} in the tokens of `{}`)", largest.id)
    } else {
        String::new()
    };
    ApiError::Unservable {
        code: "context_length_exceeded",
        message: format!(
            "the prompt is about {input_tokens} tokens{counted}; the largest context window among the allowed models is {window} tokens"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn issue_11_long_names_are_refused_and_echoed_short() {
        let huge = "m".repeat(1 << 20);
        let err = model_name("model", &huge).unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
        assert!(err.to_string().len() < 300, "{err}");
        let list = RouterOptions {
            exclude: Some(vec![ModelId::new("x"); MAX_MODEL_LIST + 1]),
            ..Default::default()
        };
        assert!(router_options(&list)
            .unwrap_err()
            .to_string()
            .contains("router.exclude"));
    }

    #[test]
    fn issue_11_numbers_out_of_range_name_their_field() {
        let cases = [
            (
                RouterOptions {
                    willingness_to_pay: Some(5e-324),
                    ..Default::default()
                },
                "router.willingness_to_pay",
            ),
            (
                RouterOptions {
                    max_cost_usd: Some(-1.0),
                    ..Default::default()
                },
                "router.max_cost_usd",
            ),
            (
                RouterOptions {
                    min_quality: Some(f64::NAN),
                    ..Default::default()
                },
                "router.min_quality",
            ),
        ];
        for (o, field) in cases {
            let err = router_options(&o).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let req = ChatCompletionRequest {
            temperature: Some(9.0),
            ..Default::default()
        };
        assert!(sampling(&req, Dialect::OpenAi)
            .unwrap_err()
            .to_string()
            .contains("temperature"));
    }

    /// `null` penalties are OpenAI's "unset" (SDKs send them for `None`); a string is not.
    #[test]
    fn null_penalties_are_unset_and_other_non_numbers_are_refused() {
        let with = |v: serde_json::Value| {
            let mut req = ChatCompletionRequest::default();
            req.extra.insert("presence_penalty".to_owned(), v.clone());
            req.extra.insert("frequency_penalty".to_owned(), v);
            sampling(&req, Dialect::OpenAi)
        };
        assert!(with(serde_json::Value::Null).is_ok());
        assert!(with(serde_json::json!(0.5)).is_ok());
        assert!(with(serde_json::json!("high")).is_err());
    }
}
