//! Turning a chat request into what the router needs: the text to embed, a prompt size, the
//! required capabilities, and the caller's routing knobs from the body's `router` object and
//! `x-switchyard-*` headers (the body wins where both are set).

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use router_core::{Capability, Constraints, ModelId, Objective, RequestShape};

use crate::http::error::ApiError;
use crate::openai::wire::{ChatCompletionRequest, ChatMessage, Role, RouterOptions};
use crate::routing::RoutingInput;
use crate::tokens;

/// Header prefix of routing knobs.
const PREFIX: &str = "x-switchyard-";

/// Every routing-knob header [`merged_options`] reads (CORS must allow each of them).
pub const KNOB_HEADERS: [&str; 6] = [
    "x-switchyard-max-cost-usd",
    "x-switchyard-min-quality",
    "x-switchyard-max-latency-ms",
    "x-switchyard-willingness-to-pay",
    "x-switchyard-candidates",
    "x-switchyard-exclude",
];

/// The text the encoder sees: every message's text, in order, separated by blank lines.
pub fn prompt_text(messages: &[ChatMessage]) -> String {
    messages
        .iter()
        .map(ChatMessage::text_content)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Capabilities the request needs.
pub fn required_capabilities(req: &ChatCompletionRequest) -> BTreeSet<Capability> {
    let mut caps = BTreeSet::new();
    if req.messages.iter().any(ChatMessage::has_image) {
        caps.insert(Capability::Vision);
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        caps.insert(Capability::Tools);
    }
    if let Some(format) = req.response_format.as_ref() {
        if format.schema().is_some() {
            caps.insert(Capability::StructuredOutputs);
        } else if format.wants_json() {
            caps.insert(Capability::JsonMode);
        }
    }
    caps
}

/// Shapes of the request that some models' APIs refuse ([`RequestShape`]).
pub fn request_shapes(req: &ChatCompletionRequest) -> BTreeSet<RequestShape> {
    let mut shapes = BTreeSet::new();
    if req
        .messages
        .last()
        .is_some_and(|m| m.role == Role::Assistant)
    {
        shapes.insert(RequestShape::AssistantPrefill);
    }
    let forced = req
        .tool_choice
        .as_ref()
        .is_some_and(crate::openai::tool_choice::forces_a_call);
    if forced && req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        shapes.insert(RequestShape::ForcedToolChoice);
    }
    if req.n.is_some_and(|n| n > 1) {
        shapes.insert(RequestShape::MultipleChoices);
    }
    if req
        .response_format
        .as_ref()
        .is_some_and(|f| f.kind == "json_schema")
    {
        shapes.insert(RequestShape::JsonSchema);
    }
    shapes
}

/// The catalog models whose APIs refuse one of `shapes`: `auto` never chooses them for the
/// request, which would fail with the provider's 400 (the client never chose the model).
fn refusing(catalog: &models::Catalog, shapes: &BTreeSet<RequestShape>) -> Vec<ModelId> {
    if shapes.is_empty() {
        return Vec::new();
    }
    catalog
        .entries()
        .filter(|e| !e.refuses.is_disjoint(shapes))
        .map(|e| e.spec.id.clone())
        .collect()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(format!("{PREFIX}{name}")) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::InvalidRequest(format!("header {PREFIX}{name} is not valid text"))
        }),
    }
}

fn header_f64(headers: &HeaderMap, name: &str) -> Result<Option<f64>, ApiError> {
    let Some(s) = header_str(headers, name)? else {
        return Ok(None);
    };
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .map(Some)
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!("header {PREFIX}{name} must be a number, got `{s}`"))
        })
}

fn header_list(headers: &HeaderMap, name: &str) -> Result<Option<Vec<ModelId>>, ApiError> {
    Ok(header_str(headers, name)?.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(ModelId::new)
            .collect()
    }))
}

/// Merges header knobs under the body's `router` object.
pub fn merged_options(
    body: Option<&RouterOptions>,
    headers: &HeaderMap,
) -> Result<RouterOptions, ApiError> {
    let body = body.cloned().unwrap_or_default();
    Ok(RouterOptions {
        max_cost_usd: body.max_cost_usd.or(header_f64(headers, "max-cost-usd")?),
        min_quality: body.min_quality.or(header_f64(headers, "min-quality")?),
        max_latency_ms: body
            .max_latency_ms
            .or(header_f64(headers, "max-latency-ms")?),
        willingness_to_pay: body
            .willingness_to_pay
            .or(header_f64(headers, "willingness-to-pay")?),
        candidates: body.candidates.or(header_list(headers, "candidates")?),
        exclude: body.exclude.or(header_list(headers, "exclude")?),
    })
}

/// Resolves names (ids or aliases) to catalog ids; unknown names are a 404 with a suggestion.
fn canonical(catalog: &models::Catalog, ids: Vec<ModelId>) -> Result<Vec<ModelId>, ApiError> {
    ids.into_iter()
        .map(|id| resolve_model(catalog, id.as_str()))
        .collect()
}

/// The catalog id of `name` (an id or alias).
pub fn resolve_model(catalog: &models::Catalog, name: &str) -> Result<ModelId, ApiError> {
    crate::http::validate::model_name("model", name)?;
    catalog
        .get(&ModelId::new(name))
        .map(|e| e.spec.id.clone())
        .map_err(|e| match e {
            models::Error::UnknownModel { suggestion, .. } => ApiError::UnknownModel {
                model: name.to_owned(),
                suggestion,
            },
            other => ApiError::Internal(other.to_string()),
        })
}

/// Builds the router's input from the request, its headers and the default objective.
pub fn routing_input(
    catalog: &models::Catalog,
    messages: &[ChatMessage],
    req_for_caps: &ChatCompletionRequest,
    options: RouterOptions,
    default_objective: Objective,
) -> Result<RoutingInput, ApiError> {
    crate::http::validate::router_options(&options)?;
    for (name, v) in [
        ("max_cost_usd", options.max_cost_usd),
        ("max_latency_ms", options.max_latency_ms),
    ] {
        if v.is_some_and(|x| x < 0.0) {
            return Err(ApiError::InvalidRequest(format!(
                "router.{name} must be >= 0"
            )));
        }
    }
    if options
        .min_quality
        .is_some_and(|q| !(0.0..=1.0).contains(&q))
    {
        return Err(ApiError::InvalidRequest(
            "router.min_quality must be in [0, 1]".to_owned(),
        ));
    }
    // The same rule as `switchyard route`: `min_quality` alone asks for the cheapest model
    // predicted to reach it.
    let objective = Objective::requested(
        options.willingness_to_pay,
        options.min_quality,
        default_objective,
    )
    .ok_or_else(|| {
        ApiError::InvalidRequest("router.willingness_to_pay must be a positive number".into())
    })?;
    let constraints = Constraints {
        max_cost_usd: options.max_cost_usd,
        min_quality: options.min_quality,
        max_latency_ms: options.max_latency_ms,
        required_capabilities: required_capabilities(req_for_caps),
        candidates: options
            .candidates
            .map(|c| canonical(catalog, c))
            .transpose()?,
        exclude: {
            let mut exclude = canonical(catalog, options.exclude.unwrap_or_default())?;
            exclude.extend(refusing(catalog, &request_shapes(req_for_caps)));
            exclude
        },
        // The request's own limits on what it is billed for: the cost and latency limits
        // judge the whole request, every answer of it.
        output_limit: req_for_caps.output_limit(),
        choices: req_for_caps.n.unwrap_or(1).max(1),
    };
    Ok(RoutingInput {
        text: prompt_text(messages),
        input_tokens: tokens::estimate_prompt(req_for_caps),
        constraints,
        objective,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::openai::wire::{ResponseFormat, Role};

    fn req() -> ChatCompletionRequest {
        ChatCompletionRequest {
            model: "auto".into(),
            messages: vec![
                ChatMessage::text(Role::System, "be brief"),
                ChatMessage::text(Role::User, "2+2?"),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn headers_fill_in_under_the_body() {
        let mut h = HeaderMap::new();
        h.insert("x-switchyard-max-cost-usd", "0.5".parse().unwrap());
        h.insert("x-switchyard-min-quality", "0.7".parse().unwrap());
        h.insert("x-switchyard-exclude", "gpt-4o, o3".parse().unwrap());
        let body = RouterOptions {
            min_quality: Some(0.9),
            ..Default::default()
        };
        let o = merged_options(Some(&body), &h).unwrap();
        assert_eq!(o.max_cost_usd, Some(0.5));
        assert_eq!(o.min_quality, Some(0.9));
        assert_eq!(o.exclude.unwrap().len(), 2);
        h.insert("x-switchyard-max-latency-ms", "fast".parse().unwrap());
        assert!(matches!(
            merged_options(None, &h),
            Err(ApiError::InvalidRequest(_))
        ));
    }

    #[test]
    fn knob_headers_lists_every_header_read() {
        // Each listed header is read (a non-text value is refused naming it), and no other
        // `x-switchyard-*` header is: CORS allows exactly this list.
        for name in KNOB_HEADERS {
            let mut h = HeaderMap::new();
            h.insert(name, axum::http::HeaderValue::from_bytes(b"\xff").unwrap());
            let err = merged_options(None, &h).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-switchyard-unknown",
            axum::http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert!(merged_options(None, &h).is_ok());
    }

    #[test]
    fn input_has_text_caps_and_canonical_ids() {
        let catalog = models::Catalog::embedded().unwrap();
        let mut r = req();
        r.response_format = Some(ResponseFormat {
            kind: "json_object".into(),
            json_schema: None,
        });
        let opts = RouterOptions {
            candidates: Some(vec![ModelId::new("gpt-4o")]),
            ..Default::default()
        };
        let input = routing_input(&catalog, &r.messages, &r, opts, Objective::default()).unwrap();
        assert_eq!(input.text, "be brief\n\n2+2?");
        assert!(input
            .constraints
            .required_capabilities
            .contains(&Capability::JsonMode));
        // A schema needs a model that enforces one; without a schema it is JSON mode.
        r.response_format = Some(ResponseFormat {
            kind: "json_schema".into(),
            json_schema: Some(serde_json::json!({"name": "x", "schema": {"type": "object"}})),
        });
        let caps = required_capabilities(&r);
        assert!(
            caps.contains(&Capability::StructuredOutputs) && !caps.contains(&Capability::JsonMode)
        );
        r.response_format = Some(ResponseFormat {
            kind: "json_schema".into(),
            json_schema: Some(serde_json::json!({"name": "x"})),
        });
        assert!(required_capabilities(&r).contains(&Capability::JsonMode));
        let bad = RouterOptions {
            exclude: Some(vec![ModelId::new("gpt-4o-mnii")]),
            ..Default::default()
        };
        let err = routing_input(&catalog, &r.messages, &r, bad, Objective::default()).unwrap_err();
        assert_eq!(err.status().as_u16(), 404);
        assert!(err.to_string().contains("gpt-4o-mini"), "{err}");
    }

    #[test]
    fn input_carries_the_objective_output_limit_and_choices() {
        let catalog = models::Catalog::embedded().unwrap();
        let mut r = req();
        let floor = RouterOptions {
            min_quality: Some(0.5),
            ..Default::default()
        };
        let input = routing_input(
            &catalog,
            &r.messages,
            &r,
            floor.clone(),
            Objective::default(),
        )
        .unwrap();
        assert_eq!(input.objective, Objective::Cheapest);
        assert_eq!(input.constraints.output_limit, None);
        assert_eq!(input.constraints.choices, 1);
        let paying = RouterOptions {
            willingness_to_pay: Some(0.5),
            ..floor
        };
        let input = routing_input(&catalog, &r.messages, &r, paying, Objective::default()).unwrap();
        assert_eq!(input.objective, Objective::Utility { lambda: 2.0 });
        r.n = Some(5);
        r.max_tokens = Some(64);
        r.max_completion_tokens = Some(16);
        let input = routing_input(
            &catalog,
            &r.messages,
            &r,
            RouterOptions::default(),
            Objective::default(),
        )
        .unwrap();
        assert_eq!(input.objective, Objective::default());
        assert_eq!(input.constraints.output_limit, Some(16));
        assert_eq!(input.constraints.choices, 5);
    }
}
