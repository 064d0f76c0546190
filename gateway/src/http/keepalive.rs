//! Streams that wait long for their first token (`[server] stream_keepalive`).
//!
//! A stream is committed to its client at its first token (`upstream::failover`), and a model
//! that thinks first may take minutes to write it. Until then the client gets no byte, and a
//! proxy or load balancer in front of the gateway closes a connection idle for 60 s (nginx's
//! `proxy_read_timeout`, AWS ALB's idle timeout). So a streamed request still waiting after
//! `stream_keepalive` gets its `200` and the SSE headers, then a comment (`: keep-alive`, which
//! every SSE client skips) at that interval, and the answer's events once they start. The
//! request itself runs unchanged in a task of its own (routing, failover, its outcome row),
//! and what it answers is relayed: the stream it committed, or, when every candidate failed,
//! its error as one error event in the client's dialect (an HTTP status can no longer be
//! sent; for `/v1/responses` the whole sequence of a failed response, which OpenAI's SDKs
//! require to start with `response.created`). A request that answers sooner keeps its status
//! and headers; a late one gets `x-switchyard-request-id` (known before routing; the key
//! `/v1/feedback` takes), not the headers that only routing and the answer decide (model,
//! routing time).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_util::sync::DropGuard;

use crate::http::chat::Dialect;
use crate::http::responses::StreamEncoder;
use crate::openai::wire::ChatCompletionRequest;
use crate::outcome::record::RequestRecord;
use crate::state::AppState;

/// The comment sent while waiting.
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// Largest error body read to turn it into an event (errors are small).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Serves a streamed request as `chat::answer` does, sending keep-alives after `every`.
pub(crate) async fn serve(
    state: AppState,
    req: ChatCompletionRequest,
    headers: HeaderMap,
    record: RequestRecord,
    dialect: Dialect,
    every: Duration,
) -> Response {
    let (tx, mut rx) = oneshot::channel::<Response>();
    let request_id = record.request_id.clone();
    // A Responses stream that fails before its answer starts echoes the request's parameters
    // in its `response.created` and `response.failed`.
    let shape = match dialect {
        Dialect::Responses => ErrorShape::Responses(Box::new(StreamEncoder::new(&req))),
        other => ErrorShape::Dialect(other),
    };
    let task_state = state.clone();
    // The request's departure signal (`crate::departure`) goes with it into its own task;
    // once the keep-alives have started, the late body below fires it if the client leaves
    // before the answer does.
    let departed = crate::departure::current();
    let work = crate::departure::watch(departed.clone(), async move {
        // Run to the end even when the client is gone, as every request handler is
        // (`http::tracked`): its outcome row, its budget charge and its cached answer.
        let mut record = record;
        let response =
            match crate::http::chat::serve(&task_state, &req, &headers, &mut record, dialect).await
            {
                Ok(response) => response,
                Err(failure) => {
                    crate::http::chat::failed(&task_state, record, dialect.endpoint(), failure)
                        .await
                }
            };
        let _ = tx.send(response);
    });
    state.tracker.spawn(work);
    tokio::select! {
        answered = &mut rx => return answered.unwrap_or_else(|_| lost()),
        () = tokio::time::sleep(every) => {}
    }
    let gone = departed.drop_guard();
    let mut response =
        crate::http::relay::sse_response(Body::from_stream(late(rx, every, shape, gone)));
    crate::http::chat::set_header(
        response.headers_mut(),
        crate::http::chat::HEADER_REQUEST_ID,
        &request_id,
    );
    response
}

/// How the error event of a stream that failed before its answer started is written.
enum ErrorShape {
    /// One error event of this dialect (chat completions, Messages).
    Dialect(Dialect),
    /// A failed response's event sequence, from the encoder of the request's stream.
    Responses(Box<StreamEncoder>),
}

/// The body of a stream whose answer had not started after the first interval. `gone` fires
/// the request's departure signal when this body is dropped (the client left) before the
/// answer came.
fn late(
    rx: oneshot::Receiver<Response>,
    every: Duration,
    shape: ErrorShape,
    gone: DropGuard,
) -> impl futures::Stream<Item = Result<Bytes, axum::Error>> {
    enum State {
        /// The headers just went: a first comment at once, so that a proxy sees a byte.
        Switched(oneshot::Receiver<Response>, DropGuard, ErrorShape),
        Waiting(oneshot::Receiver<Response>, DropGuard, ErrorShape),
        Relaying(axum::body::BodyDataStream),
        Done,
    }
    futures::stream::unfold(State::Switched(rx, gone, shape), move |state| async move {
        match state {
            State::Switched(rx, gone, shape) => Some((
                Ok(Bytes::from_static(KEEPALIVE)),
                State::Waiting(rx, gone, shape),
            )),
            State::Waiting(mut rx, gone, shape) => {
                let answered = tokio::select! {
                    answered = &mut rx => answered,
                    () = tokio::time::sleep(every) => {
                        return Some((
                            Ok(Bytes::from_static(KEEPALIVE)),
                            State::Waiting(rx, gone, shape),
                        ));
                    }
                };
                // The answer (or its error) is here: from now on the relay sees the client go.
                let _ = gone.disarm();
                match answered {
                    Ok(response) if response.status().is_success() => {
                        let mut body = response.into_body().into_data_stream();
                        body.next().await.map(|item| (item, State::Relaying(body)))
                    }
                    Ok(response) => Some((Ok(error_event(response, shape).await), State::Done)),
                    Err(_) => Some((Ok(event_of(shape, 500, &Value::Null)), State::Done)),
                }
            }
            State::Relaying(mut body) => {
                body.next().await.map(|item| (item, State::Relaying(body)))
            }
            State::Done => None,
        }
    })
}

/// The error response of a request that failed, as one error event of `dialect`. Its server
/// error detail is logged here: the middleware that logs it sees only the stream's 200.
async fn error_event(response: Response, shape: ErrorShape) -> Bytes {
    let status = response.status().as_u16();
    if let Some(crate::http::error::ErrorDetail(detail)) = response.extensions().get() {
        tracing::warn!(status, detail = %detail, "Request failed after its stream began.");
    }
    let body = axum::body::to_bytes(response.into_body(), ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    event_of(shape, status, &value["error"])
}

/// The error event of `shape` for an OpenAI-shaped `error` object answered with `status`.
fn event_of(shape: ErrorShape, status: u16, error: &Value) -> Bytes {
    let message = error["message"]
        .as_str()
        .unwrap_or("the request failed before its answer started");
    let code = error["code"].as_str().unwrap_or("upstream_error");
    let dialect = match shape {
        // Nothing was sent before it: `response.created` first, then the error.
        ErrorShape::Responses(mut encoder) => return encoder.failed(status, code, message),
        ErrorShape::Dialect(dialect) => dialect,
    };
    match dialect {
        Dialect::OpenAi => {
            let kind = error["type"].as_str().unwrap_or("server_error");
            let body =
                json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
            Bytes::from(format!("data: {body}\n\n"))
        }
        Dialect::Anthropic => {
            let status = axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            crate::http::messages::error_event(crate::http::messages::error_type(status), message)
        }
        // Not reached (`ErrorShape::Responses` above); the same sequence, without the echo.
        Dialect::Responses => {
            StreamEncoder::new(&ChatCompletionRequest::default()).failed(status, code, message)
        }
    }
}

/// The answer of a request whose task ended without one (it panicked).
fn lost() -> Response {
    use axum::response::IntoResponse;
    crate::http::error::ApiError::Internal("the request ended without an answer".to_owned())
        .into_response()
}
