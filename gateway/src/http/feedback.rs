//! `POST /v1/feedback`: a label for a past request.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use router_core::Feedback;
use serde::Deserialize;
use serde_json::json;

use super::body_bytes;
use crate::http::error::ApiError;
use crate::state::AppState;

/// A score given as a number in `[0, 1]` or a boolean.
#[derive(Deserialize)]
#[serde(untagged)]
enum Score {
    Number(f64),
    Bool(bool),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    request_id: String,
    metric: String,
    score: Score,
}

pub(super) async fn feedback(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = body_bytes(&state, body)?;
    let fb: FeedbackBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let score = match fb.score {
        Score::Bool(b) => f64::from(u8::from(b)),
        Score::Number(x) if (0.0..=1.0).contains(&x) => x,
        Score::Number(_) => {
            return Err(ApiError::InvalidRequest(
                "score must be in [0, 1] or a boolean".to_owned(),
            ))
        }
    };
    if fb.request_id.trim().is_empty() || fb.metric.trim().is_empty() {
        return Err(ApiError::InvalidRequest(
            "request_id and metric must not be empty".to_owned(),
        ));
    }
    let accepted = state.log.feedback(
        fb.request_id,
        Feedback {
            metric: fb.metric,
            score,
        },
    );
    if !accepted {
        return Err(ApiError::Internal("outcome log is full".to_owned()));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))))
}
