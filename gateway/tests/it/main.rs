//! The gateway's integration tests: `router` drives `app()` with `oneshot` (no network);
//! `e2e` runs the real server on 127.0.0.1:0 against the testkit fake provider.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod allowed_tools;
mod anthropic_prompt_cache;
mod cache;
mod cache_feedback;
mod common;
mod dashboard;
mod deployments;
mod discovery;
mod e2e;
mod e2e_api;
mod e2e_encoder;
mod e2e_failover;
mod e2e_harness;
mod e2e_providers;
mod e2e_unavailable;
mod experiment;
mod feedback_keys;
mod fuzz_http;
mod gemini_call_ids;
mod gemini_thoughts;
mod guardrails;
mod guardrails_keys;
mod issue_11;
mod issue_11_leftovers;
mod judge;
mod keys;
mod keys_reload;
mod loop_exploration;
mod loop_reload;
mod messages;
mod mistral_reasoning;
mod one_gateway_per_log;
mod prompt_cache_cost;
mod provider_fixes;
mod reasoning_params;
mod redis_shared;
mod responses;
mod responses_upstream;
mod router;
mod rules;
mod semantic_cache;
mod thinking_streams;
mod tool_loops;
