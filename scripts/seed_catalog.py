#!/usr/bin/env python3
"""Regenerates models/catalog.toml, the catalog embedded in the `models` crate.

Standard library only. Usage (from the repository root):

    python3 scripts/seed_catalog.py [--datasets ../shared/datasets] [--out models/catalog.toml]

Two groups of models are written:

1. A curated list of popular current models (CURATED below). Prices, context lengths and tool
   support come from the OpenRouter price snapshot in `<datasets>/prices/*.json` (or, for the
   few models missing from it, from RouterArena's `model_cost/cost.json`). Prompt-cache price
   multipliers (`cache_read`, `cache_write`): for every Claude model writes at 1.25 and reads
   at the snapshot's multiple (0.1 where it lacks the model); for OpenAI and Google models the
   snapshot's read multiple, or the vendor page's for models newer than it (`CITED_CACHE`);
   none otherwise (`cache_prices`). Vision and JSON-mode
   flags, latency priors and quality priors are hand-assigned per family here, because the price
   list does not carry them.
2. Every model that appears in a benchmark dataset, under the dataset's own column name, so that
   benchmark columns map 1:1 to catalog ids. Prices come from the dataset (LLMRouter's
   default_llm.json, RouterArena's cost.json) or, for RouterBench, from the RouterBench paper's
   price table (arXiv 2403.12031, list prices at the time of the benchmark). Their quality prior
   is the model's mean score over every dataset it appears in; their output-token prior is the
   mean recorded completion length (recorded token counts, or response characters / 4).

Latency priors (ttft_ms, tokens_per_s) are rough, published-ish medians from public
provider dashboards and benchmarks (Artificial Analysis style numbers, rounded); they only
seed the latency estimate until the gateway has logged real latencies.

Per-task scores (the task-aware priors) come from an item response fit over the cited public
results in models/evidence.toml and licence-clean recorded outcomes (scripts/task_scores.py):
`task_scores` where the model has a default-setting cited result of the task,
`derived_task_scores` (with a `derivation`) elsewhere. Each model's cited results are written
with it as `[[model.benchmark]]` (with their `setting` when not the default), its measured
completion lengths as `[[model.task_tokens]]`. A model with task scores gets their mean over
the seven tasks as its flat `quality_prior`. That includes RouterBench's eleven models, whose
priors must not come from RouterBench itself (a RouterBench model without any published result
gets the RouterBench cohort's mean ability). A curated model without scores gets its tier's
prior, where a tier's prior is the mean flat prior of the tier's scored models (the old fixed
tier value when fewer than two do), so that flat and task priors share one scale.
"""

import argparse
import csv
import glob
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import task_scores  # noqa: E402

csv.field_size_limit(1 << 30)

# Quality-prior tiers for curated models (no benchmark here knows them). Rough and documented:
# anchored so that gpt-4-1106-preview's measured benchmark mean (~0.83) sits between "strong"
# and "frontier", and 7B-class models (~0.5-0.6 measured) sit below "small".
TIER = {"frontier": 0.90, "strong": 0.85, "mid": 0.78, "small": 0.70, "tiny": 0.62}

# Latency priors per speed class: (ttft_ms, tokens_per_s).
SPEED = {
    "reasoning": (4000.0, 80.0),  # o-series / R1: long hidden thinking before the first token
    "frontier": (900.0, 60.0),
    "fast": (450.0, 120.0),
    "groq": (200.0, 400.0),  # Groq LPU serving
    "open": (500.0, 80.0),  # Together-style GPU serving of open weights
}

# (catalog id, openrouter id, provider, upstream name, tier, speed, vision, json_mode, out prior)
CURATED = [
    ("gpt-4o", "openai/gpt-4o", "openai", "gpt-4o", "strong", "frontier", True, True, 400),
    ("gpt-4o-mini", "openai/gpt-4o-mini", "openai", "gpt-4o-mini", "mid", "fast", True, True, 400),
    ("gpt-4.1", "openai/gpt-4.1", "openai", "gpt-4.1", "strong", "frontier", True, True, 450),
    ("gpt-4.1-mini", "openai/gpt-4.1-mini", "openai", "gpt-4.1-mini", "mid", "fast", True, True, 450),
    ("gpt-4.1-nano", "openai/gpt-4.1-nano", "openai", "gpt-4.1-nano", "small", "fast", True, True, 400),
    ("gpt-5", "openai/gpt-5", "openai", "gpt-5", "frontier", "reasoning", True, True, 1200),
    ("gpt-5-mini", "openai/gpt-5-mini", "openai", "gpt-5-mini", "strong", "reasoning", True, True, 1000),
    ("gpt-5-nano", "openai/gpt-5-nano", "openai", "gpt-5-nano", "mid", "reasoning", True, True, 900),
    ("o3", "openai/o3", "openai", "o3", "frontier", "reasoning", True, True, 1500),
    ("o3-mini", "openai/o3-mini", "openai", "o3-mini", "strong", "reasoning", False, True, 1500),
    ("o4-mini", "openai/o4-mini", "openai", "o4-mini", "strong", "reasoning", True, True, 1500),
    ("gpt-3.5-turbo", "openai/gpt-3.5-turbo", "openai", "gpt-3.5-turbo", "small", "fast", False, True, 300),
    ("claude-opus-4.1", "anthropic/claude-opus-4.1", "anthropic", "claude-opus-4-1", "frontier", "frontier", True, False, 500),
    ("claude-opus-4.5", "anthropic/claude-opus-4.5", "anthropic", "claude-opus-4-5", "frontier", "frontier", True, False, 500),
    ("claude-sonnet-4", "anthropic/claude-sonnet-4", "anthropic", "claude-sonnet-4-0", "strong", "frontier", True, False, 500),
    ("claude-sonnet-4.5", "anthropic/claude-sonnet-4.5", "anthropic", "claude-sonnet-4-5", "frontier", "frontier", True, False, 500),
    ("claude-haiku-4.5", "anthropic/claude-haiku-4.5", "anthropic", "claude-haiku-4-5", "strong", "fast", True, False, 450),
    ("claude-3.7-sonnet", "cost:claude-3-7-sonnet-20250219", "anthropic", "claude-3-7-sonnet-20250219", "strong", "frontier", True, False, 500),
    ("claude-3.5-sonnet", "cost:anthropic/claude-3.5-sonnet", "anthropic", "claude-3-5-sonnet-20241022", "strong", "frontier", True, False, 450),
    ("gemini-2.5-pro", "google/gemini-2.5-pro", "google", "gemini-2.5-pro", "frontier", "reasoning", True, True, 1200),
    ("gemini-2.5-flash", "google/gemini-2.5-flash", "google", "gemini-2.5-flash", "strong", "fast", True, True, 700),
    ("gemini-2.5-flash-lite", "google/gemini-2.5-flash-lite", "google", "gemini-2.5-flash-lite", "mid", "fast", True, True, 500),
    ("deepseek-chat", "deepseek/deepseek-chat-v3.1", "deepseek", "deepseek-chat", "strong", "open", False, True, 500),
    ("deepseek-reasoner", "deepseek/deepseek-r1-0528", "deepseek", "deepseek-reasoner", "strong", "reasoning", False, True, 2000),
    # Mistral's `-latest` names move to each new model, at its price: `mistral-medium-latest`
    # left Medium 3.1 ($0.40 / $2) for Medium 3.5 ($1.50 / $7.50) when Mistral deprecated
    # Medium 3 and 3.1 on 2026-05-22, `mistral-small-latest` left Small 3.2 for Small 4 (2603),
    # and `mistral-large-latest` left Large 3 for Large 4 (2026-11), whose price the sources
    # do not agree on. So each Mistral entry calls the snapshot it is priced and scored as
    # (Mistral's reasoning page names `mistral-small-2603` and `mistral-medium-3-5`; the
    # others are the dated ids of Mistral's model list). Retired on Mistral's API (its
    # deprecation batch of May 2026, mistralai/platform-docs-public#496, and its models
    # table): Medium 3.1 (`mistral-medium-2508`) on 2026-08-31, Small 3.2 and Nemo
    # (`open-mistral-nemo-2407`) on 2026-07-31. Their entries stay for their prices and
    # evidence, and Small 3.2's and Nemo's for open weights served elsewhere
    # (`[[deployments]]`); on Mistral's API model discovery leaves them out of `auto` and a
    # request naming one fails over.
    # Large 2.1 was retired on 2026-05-31, hence Large 3's price for `mistral-large`.
    ("mistral-large", "mistralai/mistral-large-2512", "mistral", "mistral-large-2512", "strong", "frontier", False, True, 450),
    ("mistral-medium-3.5", "mistralai/mistral-medium-3-5", "mistral", "mistral-medium-3-5", "strong", "fast", True, True, 450),
    ("mistral-medium-3.1", "mistralai/mistral-medium-3.1", "mistral", "mistral-medium-2508", "mid", "fast", True, True, 450),
    ("mistral-small-4", "mistralai/mistral-small-2603", "mistral", "mistral-small-2603", "mid", "fast", True, True, 400),
    ("mistral-small-3.2", "mistralai/mistral-small-3.2-24b-instruct", "mistral", "mistral-small-2506", "small", "fast", True, True, 400),
    ("codestral", "mistralai/codestral-2508", "mistral", "codestral-2508", "mid", "fast", False, True, 500),
    ("mistral-nemo", "mistralai/mistral-nemo", "mistral", "open-mistral-nemo-2407", "tiny", "fast", False, True, 350),
    ("ministral-8b", "mistralai/ministral-8b-2512", "mistral", "ministral-8b-2512", "tiny", "fast", False, True, 350),
    ("llama-3.3-70b-instruct", "meta-llama/llama-3.3-70b-instruct", "groq", "llama-3.3-70b-versatile", "mid", "groq", False, True, 400),
    ("gpt-oss-120b", "openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b", "strong", "groq", False, True, 900),
    ("gpt-oss-20b", "openai/gpt-oss-20b", "groq", "openai/gpt-oss-20b", "mid", "groq", False, True, 900),
    ("llama-4-maverick", "meta-llama/llama-4-maverick", "together", "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "mid", "open", True, True, 400),
    ("llama-4-scout", "meta-llama/llama-4-scout", "together", "meta-llama/Llama-4-Scout-17B-16E-Instruct", "small", "open", True, True, 400),
    ("qwen-2.5-72b-instruct", "qwen/qwen-2.5-72b-instruct", "together", "Qwen/Qwen2.5-72B-Instruct-Turbo", "mid", "open", False, True, 400),
    ("qwen3-235b-a22b-2507", "qwen/qwen3-235b-a22b-2507", "together", "Qwen/Qwen3-235B-A22B-Instruct-2507-tput", "strong", "open", False, True, 600),
    ("qwen3-coder", "qwen/qwen3-coder", "together", "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", "strong", "open", False, True, 700),
    ("gemma-3-27b-it", "google/gemma-3-27b-it", "together", "google/gemma-3-27b-it", "small", "open", True, False, 400),
    ("kimi-k2", "moonshotai/kimi-k2-0905", "openrouter", "moonshotai/kimi-k2-0905", "strong", "open", False, True, 600),
    ("glm-4.6", "z-ai/glm-4.6", "openrouter", "z-ai/glm-4.6", "strong", "open", False, True, 800),
    # The current generation (late 2026): OpenAI's GPT-6.x and 5.x successors to the models
    # its deprecations page retires on 2026-12-11 and 2027-01-14, Anthropic's 5.x and 4.6,
    # Google's Gemini 3.x, DeepSeek V3.2 (through OpenRouter: DeepSeek's own API names now
    # serve V4).
    ("gpt-6.2-astra", "price:gpt-6.2-astra", "openai", "gpt-6.2-astra", "frontier", "reasoning", True, True, 1200),
    ("gpt-6.2-sol", "price:gpt-6.2-sol", "openai", "gpt-6.2-sol", "frontier", "reasoning", True, True, 1200),
    ("gpt-6-astra", "openai/gpt-6-astra", "openai", "gpt-6-astra", "frontier", "reasoning", True, True, 1200),
    ("gpt-6.1-sol", "price:gpt-6.1-sol", "openai", "gpt-6.1-sol", "frontier", "reasoning", True, True, 1200),
    ("gpt-6.1-terra", "price:gpt-6.1-terra", "openai", "gpt-6.1-terra", "strong", "reasoning", True, True, 1000),
    ("gpt-6-luna", "price:gpt-6-luna", "openai", "gpt-6-luna", "strong", "reasoning", True, True, 1000),
    ("gpt-5.6-sol", "price:gpt-5.6-sol", "openai", "gpt-5.6-sol", "frontier", "reasoning", True, True, 1200),
    ("gpt-5.6-terra", "openai/gpt-5.6-terra", "openai", "gpt-5.6-terra", "frontier", "reasoning", True, True, 1100),
    ("gpt-5.6-luna", "openai/gpt-5.6-luna", "openai", "gpt-5.6-luna", "strong", "reasoning", True, True, 1000),
    ("gpt-5.5", "openai/gpt-5.5", "openai", "gpt-5.5", "frontier", "reasoning", True, True, 1200),
    ("gpt-5.4", "openai/gpt-5.4", "openai", "gpt-5.4", "strong", "frontier", True, True, 600),
    ("gpt-5.4-mini", "openai/gpt-5.4-mini", "openai", "gpt-5.4-mini", "mid", "fast", True, True, 500),
    ("gpt-5.4-nano", "openai/gpt-5.4-nano", "openai", "gpt-5.4-nano", "small", "fast", True, True, 450),
    ("claude-opus-5.5", "anthropic/claude-opus-5.5", "anthropic", "claude-opus-5-5", "frontier", "reasoning", True, False, 1200),
    ("claude-sonnet-5.5", "anthropic/claude-sonnet-5.5", "anthropic", "claude-sonnet-5-5", "frontier", "reasoning", True, False, 1100),
    ("claude-fable-5.1", "anthropic/claude-fable-5.1", "anthropic", "claude-fable-5-1", "frontier", "reasoning", True, False, 1200),
    # Thinks by default (adaptive, effort medium: its overview), so the thinking latency class.
    ("claude-haiku-5.5", "price:claude-haiku-5.5", "anthropic", "claude-haiku-5-5", "strong", "reasoning", True, False, 800),
    ("claude-opus-5", "anthropic/claude-opus-5", "anthropic", "claude-opus-5", "frontier", "reasoning", True, False, 1200),
    ("claude-sonnet-5", "anthropic/claude-sonnet-5", "anthropic", "claude-sonnet-5", "frontier", "reasoning", True, False, 1100),
    # Claude Fable 5 (2026-06-09) thinks on every request (adaptive only); Opus 4.7
    # (2026-04-16) and 4.8 (2026-05-28) think only when asked, as the 4.x models before them.
    ("claude-fable-5", "anthropic/claude-fable-5", "anthropic", "claude-fable-5", "frontier", "reasoning", True, False, 1200),
    ("claude-opus-4.8", "anthropic/claude-opus-4.8", "anthropic", "claude-opus-4-8", "frontier", "frontier", True, False, 500),
    ("claude-opus-4.7", "anthropic/claude-opus-4.7", "anthropic", "claude-opus-4-7", "frontier", "frontier", True, False, 500),
    ("claude-opus-4.6", "anthropic/claude-opus-4.6", "anthropic", "claude-opus-4-6", "frontier", "frontier", True, False, 500),
    ("claude-sonnet-4.6", "anthropic/claude-sonnet-4.6", "anthropic", "claude-sonnet-4-6", "frontier", "frontier", True, False, 500),
    ("gemini-3.1-pro-preview", "google/gemini-3.1-pro-preview", "google", "gemini-3.1-pro-preview", "frontier", "reasoning", True, True, 1200),
    # Gemini 4 (2026-09-30 to 2026-11-12), after the price snapshot: CITED_PRICES.
    ("gemini-4-argon", "price:gemini-4-argon", "google", "gemini-4-argon", "frontier", "reasoning", True, True, 1200),
    ("gemini-4-carbon", "price:gemini-4-carbon", "google", "gemini-4-carbon", "frontier", "reasoning", True, True, 1200),
    ("gemini-4-hydrogen", "price:gemini-4-hydrogen", "google", "gemini-4-hydrogen", "strong", "reasoning", True, True, 900),
    ("gemini-3.8-flash", "google/gemini-3.8-flash", "google", "gemini-3.8-flash", "strong", "reasoning", True, True, 900),
    ("gemini-3.7-flash", "google/gemini-3.7-flash", "google", "gemini-3.7-flash", "strong", "reasoning", True, True, 900),
    ("gemini-3.5-flash", "google/gemini-3.5-flash", "google", "gemini-3.5-flash", "strong", "reasoning", True, True, 900),
    ("gemini-3-flash-preview", "google/gemini-3-flash-preview", "google", "gemini-3-flash-preview", "strong", "reasoning", True, True, 900),
    ("gemini-3.5-flash-lite", "google/gemini-3.5-flash-lite", "google", "gemini-3.5-flash-lite", "mid", "fast", True, True, 500),
    ("gemini-3.1-flash-lite", "google/gemini-3.1-flash-lite", "google", "gemini-3.1-flash-lite", "mid", "fast", True, True, 500),
    ("deepseek-v3.2", "deepseek/deepseek-v3.2", "openrouter", "deepseek/deepseek-v3.2", "strong", "open", False, True, 600),
]

# Models newer than the price snapshot, or whose snapshot price disagrees with the vendor's
# own page: (input, output USD per 1M tokens, context window, tools over Chat Completions,
# source, as of).
CITED_PRICES = {
    "gpt-6.1-sol": (2.0, 10.0, 1050000, True, "https://developers.openai.com/api/docs/models/gpt-6.1-sol "
                    "(read via docs.litellm.ai/blog/gpt_6_1_sol and docs.laozhang.ai, 2026-10-13)", "2026-12-05"),
    "gpt-6-luna": (0.10, 0.50, 1050000, True, "https://developers.openai.com/api/docs/models/gpt-6-luna", "2026-12-05"),
    # Released after the price snapshot (GPT-6.1 Terra 2026-10-26, GPT-6.2 Astra and Sol
    # 2026-11-17).
    "gpt-6.2-sol": (2.0, 10.0, 1050000, True, "https://developers.openai.com/api/docs/models/gpt-6.2-sol", "2026-12-07"),
    "gpt-6.2-astra": (8.0, 40.0, 1050000, True, "https://developers.openai.com/api/docs/models/gpt-6.2-astra "
                      "(read via docs.laozhang.ai/en/announcements/gpt-6-2-2026-11 and apidog.com's "
                      "GPT-6.2 Astra API guide, both quoting OpenAI's page on 2026-11-18)", "2026-12-07"),
    "gpt-6.1-terra": (1.0, 5.0, 1050000, True, "https://developers.openai.com/api/docs/models/gpt-6.1-terra "
                      "(its zh-Hans page)", "2026-12-07"),
    # Anthropic's overview (released 2026-10-07): $0.10 / $0.50 for prompts up to 100,000
    # tokens, five times that above (CITED_TIERS).
    "claude-haiku-5.5": (0.10, 0.50, 1000000, True, "https://platform.claude.com/docs/en/models/haiku-5-5/overview",
                         "2026-12-07"),
    # The snapshot lists $2/$10; OpenAI launched Sol at $5/$30 and its page showed a $4/$20
    # promotion "at least until 2026-11-21": the list price is the safe assumption.
    "gpt-5.6-sol": (5.0, 30.0, 1050000, True, "https://developers.openai.com/api/docs/models/gpt-5.6-sol "
                    "(launch list price; a $4/$20 promotion ran at least until 2026-11-21)", "2026-12-05"),
    # Gemini 4: Argon's and Carbon's launch prices ($2 / $10) ran until 2026-11-30, and both
    # cost $4 / $20 from 2026-12-01 (Google's "latest model" page for Argon; LiteLLM's and
    # cedr's notes for both); Hydrogen $1.50 / $7.50. One price over the whole 1M window.
    "gemini-4-argon": (4.0, 20.0, 1048576, True, "https://ai.google.dev/gemini-api/docs/generate-content/latest-model "
                       "(its zh-CN version: $2 / $10 until 2026-11-30, $4 / $20 after; and "
                       "github.com/BerriAI/litellm/discussions/46238)", "2026-12-07"),
    "gemini-4-carbon": (4.0, 20.0, 1048576, True, "Google's Gemini API pricing for gemini-4-carbon, as "
                        "apidog.com's Carbon guide, docs.laozhang.ai's launch note and cedr v0.11.2's "
                        "release note quote it: $2 / $10 until 2026-11-30, $4 / $20 after", "2026-12-07"),
    "gemini-4-hydrogen": (1.5, 7.5, 1048576, True, "Google's Gemini API pricing for gemini-4-hydrogen, as "
                          "github.com/BerriAI/litellm/discussions/51436 and docs.laozhang.ai quote it",
                          "2026-12-07"),
}

# Long-prompt prices the snapshot does not carry, from the vendor's page: (above input tokens,
# input, output USD per 1M tokens), billed for the whole call once the prompt is longer.
# Models priced from the snapshot take its `context_tiers`; those priced from their pages take
# the snapshot's tiers only where its list price agrees with the page (GPT-6.1 Sol and GPT-6
# Luna do; GPT-5.6 Sol's does not, so its tiers are unknown). The GPT-6.2 and GPT-6.1 Terra
# pages were not read for long-prompt prices: none is set.
CITED_TIERS = {
    "claude-haiku-5.5": [(100000, 0.5, 2.5)],
}


def snapshot_tiers(p, inp, outp):
    """price_tiers from a snapshot entry's `context_tiers` (each tier priced up to its
    `up_to_tokens`), when its first tier is the list price: [(above, input, output)]."""
    tiers = (p or {}).get("context_tiers") or []
    if len(tiers) < 2 or abs(tiers[0]["input_per_mtok"] - inp) > 1e-9 \
            or abs(tiers[0]["output_per_mtok"] - outp) > 1e-9:
        return []
    return [(prev["up_to_tokens"], round(t["input_per_mtok"], 6), round(t["output_per_mtok"], 6))
            for prev, t in zip(tiers, tiers[1:])]


# Prompt-cache read multiples of OpenAI models priced from their pages above, which the
# snapshot lacks (GPT-6.2 Sol: $0.10 cached input against $2; GPT-6.1 Terra: $0.05 against
# $1). Their pages also price cache writes (1.25 times input for 30 minutes of retention), but
# OpenAI's usage reports no written count the gateway reads, so, as for the OpenAI models priced
# from the snapshot, no write price is set and writes count as ordinary input.
CITED_CACHE = {
    "gpt-6.2-sol": (0.05, None),
    "gpt-6.1-terra": (0.05, None),
    # Priced from their pages, which agree with the snapshot; its read multiples.
    "gpt-6.1-sol": (0.05, None),
    "gpt-6-luna": (0.1, None),
    # Gemini 4's cached input: $0.20 against $4 (Argon, Carbon), $0.075 against $1.50.
    "gemini-4-argon": (0.05, None),
    "gemini-4-carbon": (0.05, None),
    "gemini-4-hydrogen": (0.05, None),
}

# `reasoning_effort` values each OpenAI reasoning model takes over Chat Completions, and its
# default (OpenAI's model pages; GPT-6.1 Sol: low to xhigh over Chat Completions, `max` too
# through the Responses API, which the gateway calls it by). A client's other value is sent as
# the nearest of these.
_GPT5 = ["minimal", "low", "medium", "high"]
_O = ["low", "medium", "high"]
_TO_XHIGH = ["none", "low", "medium", "high", "xhigh"]
_TO_MAX = ["none", "low", "medium", "high", "xhigh", "max"]
_LOW_TO_MAX = ["low", "medium", "high", "xhigh", "max"]
EFFORTS = {
    "gpt-5": (_GPT5, "medium"), "gpt-5-mini": (_GPT5, "medium"), "gpt-5-nano": (_GPT5, "medium"),
    "o3": (_O, "medium"), "o3-mini": (_O, "medium"), "o4-mini": (_O, "medium"),
    "gpt-5.4": (_TO_XHIGH, "none"), "gpt-5.4-mini": (_TO_XHIGH, "none"), "gpt-5.4-nano": (_TO_XHIGH, "none"),
    "gpt-5.5": (_TO_XHIGH, "medium"),
    "gpt-5.6-sol": (_TO_MAX, "medium"), "gpt-5.6-terra": (_TO_MAX, "medium"), "gpt-5.6-luna": (_TO_MAX, "medium"),
    "gpt-6-luna": (_TO_MAX, "medium"), "gpt-6.1-terra": (_TO_MAX, "medium"),
    # OpenAI's GPT-6 guide: Astra takes no `none` (nor `minimal`), and neither do the GPT-6.2
    # models (their pages: "The API rejects requests that set reasoning effort to none"); no
    # page read gives their default, so the gateway sends them none unless the client asks.
    "gpt-6.1-sol": (_LOW_TO_MAX, "medium"),
    "gpt-6-astra": (_LOW_TO_MAX, None), "gpt-6.2-astra": (_LOW_TO_MAX, None), "gpt-6.2-sol": (_LOW_TO_MAX, None),
}

# `output_config.effort` levels each Claude model takes, and its default, from Anthropic's
# effort page (platform.claude.com/docs/en/build-with-claude/effort, read 2026-12-07: Opus 4.5
# low to high; `max` on Opus and Sonnet 4.6 and later; `xhigh` on Opus 4.7 and later and the
# 5.x models; Opus 5.5 and Haiku 5.5 default to medium, the others to high) and the models
# overview (platform.claude.com/docs/en/models: Haiku 4.5 takes no effort; Sonnet 4.5 and
# older are not among the effort page's supported models). The gateway sends a client's
# `reasoning_effort` (or a `/v1/messages` effort) to these as the nearest level they take;
# the other Claude models get none. Kept apart from EFFORTS: Claude 4.5 and 4.6 are not
# `reasoning` (they take sampling parameters).
_CLAUDE_TO_HIGH = ["low", "medium", "high"]
_CLAUDE_TO_MAX = ["low", "medium", "high", "max"]
_CLAUDE_ALL = ["low", "medium", "high", "xhigh", "max"]
CLAUDE_EFFORTS = {
    "claude-opus-4.5": (_CLAUDE_TO_HIGH, "high"),
    "claude-opus-4.6": (_CLAUDE_TO_MAX, "high"), "claude-sonnet-4.6": (_CLAUDE_TO_MAX, "high"),
    "claude-opus-5": (_CLAUDE_ALL, "high"), "claude-sonnet-5": (_CLAUDE_ALL, "high"),
    "claude-opus-4.7": (_CLAUDE_ALL, "high"), "claude-opus-4.8": (_CLAUDE_ALL, "high"),
    "claude-fable-5": (_CLAUDE_ALL, "high"),
    "claude-opus-5.5": (_CLAUDE_ALL, "medium"), "claude-sonnet-5.5": (_CLAUDE_ALL, "high"),
    "claude-haiku-5.5": (_CLAUDE_ALL, "medium"), "claude-fable-5.1": (_CLAUDE_ALL, "high"),
}

# Thinking levels each Gemini model takes, and its default, as the gateway's effort values
# (`reasoning_effort`, which the Gemini adapter sends as `generationConfig.thinkingConfig`).
# Gemini 3.x take a `thinkingLevel`: Google's thinking page and Gemini 3.5 Flash guide
# (docs.cloud.google.com/gemini-enterprise-agent-platform/models/thinking and
# .../models/guides/gemini-3-5-flash, read 2026-12-07) give 3.1 Pro `low` to `high` (default
# `high`), 3.5 Flash `minimal` to `high` (default `medium`), 3.1 and 3.5 Flash-Lite `minimal`
# to `high` (default `minimal`), and Gemini 3 models `high` when a request names none (3 Flash
# takes all four levels: .../vertex-ai/generative-ai/docs/models/gemini/3-flash). Gemini 2.5
# takes a `thinkingBudget`, which the adapter spends as Google's OpenAI-compatible endpoint
# does (ai.google.dev/gemini-api/docs/openai: low / medium / high as 1,024 / 8,192 / 24,576
# tokens, `none` as 0); 2.5 Pro cannot turn thinking off (its least budget, 128, is its
# `minimal`, and `none` is sent as that), 2.5 Flash-Lite does not think by default, and 2.5
# Flash thinks a dynamic amount by default, which no level names: no default
# (ai.google.dev/gemini-api/docs/thinking, "Set the thinking budget"). Gemini 2.0 has no
# thinking control: no efforts, and the gateway sends it none. Kept apart from EFFORTS:
# Gemini models are not `reasoning` (they take sampling parameters).
_GEMINI_3_FLASH = ["minimal", "low", "medium", "high"]
_GEMINI_25_OFF = ["none", "low", "medium", "high"]
GEMINI_EFFORTS = {
    "gemini-2.5-pro": (["minimal", "low", "medium", "high"], None),
    "gemini-2.5-flash": (_GEMINI_25_OFF, None), "gemini-2.5-flash-lite": (_GEMINI_25_OFF, "none"),
    "gemini-3.1-pro-preview": (["low", "medium", "high"], "high"),
    "gemini-3.5-flash": (_GEMINI_3_FLASH, "medium"), "gemini-3-flash-preview": (_GEMINI_3_FLASH, "high"),
    "gemini-3.5-flash-lite": (_GEMINI_3_FLASH, "minimal"), "gemini-3.1-flash-lite": (_GEMINI_3_FLASH, "minimal"),
    # Gemini 3.8 Flash (2026-09-02) and 3.7 Flash (2026-08-13): `low` to `high`, `minimal`
    # gone, `medium` by default (Google's developer guide to 3.8 Flash, its specification
    # table: .../models/guides/gemini-3-8-flash, read 2026-12-07 in its Japanese and Chinese
    # versions; adk-model 3.0.0's `ThinkingLevel` docs say the same of 3.8 Flash).
    "gemini-3.8-flash": (["low", "medium", "high"], "medium"),
    "gemini-3.7-flash": (["low", "medium", "high"], "medium"),
    # Gemini 4 takes no `minimal`. Argon and Carbon `low` to `high`, `medium` by default
    # (Google's "latest model" page for Argon; adk-model 3.0.0's `ThinkingLevel` docs for
    # both); Hydrogen `low` to `xhigh`, `high` by default (Google's developer guide to it:
    # .../models/guides/gemini-4-hydrogen, read in its Italian and Portuguese versions).
    "gemini-4-argon": (["low", "medium", "high"], "medium"),
    "gemini-4-carbon": (["low", "medium", "high"], "medium"),
    "gemini-4-hydrogen": (["low", "medium", "high", "xhigh"], "high"),
}

# `reasoning_effort` values of open reasoning models served by OpenAI-compatible servers:
# gpt-oss takes low, medium and high (default medium), as Groq serves it
# (console.groq.com/docs/reasoning, read 2026-12-07). The gateway sends these the nearest
# level they take; other models on such servers that are not `reasoning` get no effort
# (Groq answers 400 to it on models without reasoning). Not `reasoning`: they take sampling
# parameters. Mistral Small 4 and Medium 3.5 take `none` and `high` and reason only when
# asked (docs.mistral.ai/capabilities/reasoning/adjustable); their thinking comes as
# content parts, which the gateway reads as `reasoning_content` (gateway::openai::content_parts).
COMPAT_EFFORTS = {
    "gpt-oss-120b": (["low", "medium", "high"], "medium"),
    "gpt-oss-20b": (["low", "medium", "high"], "medium"),
    "mistral-small-4": (["none", "high"], "none"),
    "mistral-medium-3.5": (["none", "high"], "none"),
}

def effort_tables():
    """{model: (effort levels it takes, its default or None)} over every effort table."""
    out = {}
    for table in (EFFORTS, CLAUDE_EFFORTS, GEMINI_EFFORTS, COMPAT_EFFORTS):
        out.update(table)
    return out


# Reasoning models whose API refuses non-default sampling parameters (and, on OpenAI's,
# `max_tokens`): the gateway leaves those out of what it sends them (`reasoning = true`).
# OpenAI's are the models with an effort list above; Anthropic's from Opus 4.7 on, whose effort
# goes as `output_config.effort` (CLAUDE_EFFORTS), refuse non-default sampling too (Opus 4.7's
# migration notes: temperature, top_p and top_k removed; Fable 5's, per LiteLLM's day-0 notes).
REASONING_API = set(EFFORTS) | {"claude-opus-5.5", "claude-sonnet-5.5", "claude-haiku-5.5", "claude-fable-5.1",
                                 "claude-opus-5", "claude-sonnet-5", "claude-opus-4.7", "claude-opus-4.8",
                                 "claude-fable-5"}

# Request shapes a model's API refuses with a 400 (Anthropic's Claude 5.5 migration guide:
# assistant prefill and forced tool choice; Google's Gemini 3.5 Flash-Lite: a final turn in
# the model's role): `auto` leaves the model out of such requests (`refuses = [...]`).
# Anthropic's migration guide removed assistant prefill from the Claude 4.6 models on
# ("Prefilling assistant messages returns a 400 error on Sonnet 4.6", as agno-agi/agno#7015
# and others quote it; "This model does not support assistant message prefill").
_NO_PREFILL = ["assistant_prefill"]
REFUSES = {
    "claude-opus-4.6": _NO_PREFILL, "claude-sonnet-4.6": _NO_PREFILL,
    "claude-opus-4.7": _NO_PREFILL, "claude-opus-4.8": _NO_PREFILL,
    "claude-opus-5": _NO_PREFILL, "claude-sonnet-5": _NO_PREFILL,
    "claude-opus-5.5": ["assistant_prefill", "forced_tool_choice"],
    "claude-sonnet-5.5": ["assistant_prefill", "forced_tool_choice"],
    "gemini-3.5-flash-lite": ["assistant_prefill"],
    # Claude Haiku 5.5's migration guide: no prefill, no sampling parameters; forced tool use
    # stays (adaptive thinking takes it on every model but Opus and Sonnet 5.5 and the
    # Fable and Mythos models, per Anthropic's thinking-with-tools page).
    "claude-haiku-5.5": ["assistant_prefill"],
    # Claude Fable 5.1's overview: forced tool use returns an error.
    "claude-fable-5.1": ["assistant_prefill", "forced_tool_choice"],
    # Claude Fable 5: no assistant prefill (LiteLLM's day-0 notes on it, docs.litellm.ai/blog/
    # claude_fable_5, read 2026-12-07); always thinking, so no forced tool use either (the
    # thinking-with-tools rule above for the Fable and Mythos models).
    "claude-fable-5": ["assistant_prefill", "forced_tool_choice"],
}

# Models that hold an answer to a JSON Schema but have no schema-free JSON mode
# (`structured_outputs`; `json_mode` implies it): Claude from the 4.5 models on takes
# `output_config.format` (platform.claude.com, "Structured outputs": generally available for
# Haiku, Sonnet and Opus 4.5 and every later model; read 2026-12-06).
STRUCTURED_OUTPUTS = {
    "claude-opus-4.5", "claude-sonnet-4.5", "claude-haiku-4.5", "claude-opus-4.6",
    "claude-sonnet-4.6", "claude-opus-4.7", "claude-opus-4.8", "claude-fable-5",
    "claude-opus-5", "claude-sonnet-5", "claude-opus-5.5", "claude-sonnet-5.5", "claude-haiku-5.5",
    "claude-fable-5.1",
}

# JSON mode without a schema (`refuses = ["json_schema"]`): DeepSeek's API answers 400 "This
# response_format type is unavailable now" to a `json_schema` format (its JSON-output guide
# documents `json_object` only; llm-exe#662 and inspect_ai#4916 quote the error, 2026); OpenAI's
# Structured Outputs start at gpt-4o-2024-08-06, so the 3.5 and 4-turbo snapshots refuse it;
# Gemini 2.0 takes only the OpenAPI `responseSchema`, which the adapter does not send
# (docs/gateway.md), so a schema would not hold there. `auto` leaves them out of such requests.
for _m in ("deepseek-chat", "deepseek-reasoner", "gpt-3.5-turbo", "gpt-3.5-turbo-1106",
           "gpt-4-1106-preview", "gemini-2.0-flash-001"):
    REFUSES.setdefault(_m, [])
    REFUSES[_m] = REFUSES[_m] + ["json_schema"]

# Tokens a model's tokenizer counts per token of the gateway's four-characters estimate, where
# far from 1 (`token_ratio`): Anthropic's tokenizer from Opus 4.7 on counts about 30 % more
# tokens than Claude 4.6's for the same text (Claude 5.5 release notes, read 2026-12-05; Opus
# 4.7's migration notes give 1.0 to 1.35 times by content), so its predicted prompt cost would
# be 30 % low without it.
TOKEN_RATIO = {m: 1.3 for m in ("claude-opus-5.5", "claude-sonnet-5.5", "claude-haiku-5.5", "claude-fable-5.1",
                                 "claude-opus-5", "claude-sonnet-5", "claude-opus-4.7", "claude-opus-4.8",
                                 "claude-fable-5")}

# Models called through OpenAI's Responses API instead of Chat Completions (`responses_api`):
# OpenAI's GPT-5.6 and GPT-6 pages take function tools over Chat Completions only at effort
# `none` (GPT-6.1 Sol, which has no `none` there, not at all), and at their default effort
# only through Responses; GPT-6.1 Sol's `max` effort is there only too.
RESPONSES_API = {"gpt-6.1-sol", "gpt-6-luna", "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna",
                 # Tool calls only through Responses: GPT-6.1 Terra's page, GPT-6 Astra's (as
                 # apidog.com quotes it) and OpenAI's GPT-6.2 guide (as dev.to/aihubmix quotes it).
                 "gpt-6-astra", "gpt-6.1-terra", "gpt-6.2-astra", "gpt-6.2-sol"}
# Responses gives one answer per request: `auto` leaves them out of requests asking for several.
for _m in RESPONSES_API:
    REFUSES.setdefault(_m, [])
    REFUSES[_m] = REFUSES[_m] + ["multiple_choices"]

# RouterBench models: (id, provider, upstream, input, output USD/1M, context, caps, speed).
# Prices: RouterBench paper (arXiv 2403.12031) price table; gpt-* agree with RouterArena cost.json.
ROUTERBENCH = [
    ("gpt-4-1106-preview", "openai", "gpt-4-1106-preview", 10.0, 30.0, 128000, ["json_mode", "tools"], "frontier"),
    ("gpt-3.5-turbo-1106", "openai", "gpt-3.5-turbo-1106", 1.0, 2.0, 16385, ["json_mode", "tools"], "fast"),
    ("claude-instant-v1", "anthropic", "claude-instant-1.2", 0.8, 2.4, 100000, [], "fast"),
    ("claude-v1", "anthropic", "claude-1.3", 8.0, 24.0, 100000, [], "frontier"),
    ("claude-v2", "anthropic", "claude-2.1", 8.0, 24.0, 200000, [], "frontier"),
    ("WizardLM/WizardLM-13B-V1.2", "together", "WizardLM/WizardLM-13B-V1.2", 0.3, 0.3, 4096, [], "open"),
    ("meta/code-llama-instruct-34b-chat", "together", "codellama/CodeLlama-34b-Instruct-hf", 0.776, 0.776, 16384, [], "open"),
    ("meta/llama-2-70b-chat", "together", "meta-llama/Llama-2-70b-chat-hf", 0.9, 0.9, 4096, [], "open"),
    ("mistralai/mistral-7b-chat", "together", "mistralai/Mistral-7B-Instruct-v0.2", 0.2, 0.2, 32768, [], "open"),
    ("mistralai/mixtral-8x7b-chat", "together", "mistralai/Mixtral-8x7B-Instruct-v0.1", 0.6, 0.6, 32768, [], "open"),
    ("zero-one-ai/Yi-34B-Chat", "together", "zero-one-ai/Yi-34B-Chat", 0.8, 0.8, 4096, [], "open"),
]
# RouteLLM's weak model; its strong model gpt-4-1106-preview is shared with RouterBench.
# Price: RouterArena cost.json "open-mixtral-8x7b".
ROUTELLM = [
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "together", "mistralai/Mixtral-8x7B-Instruct-v0.1", 0.6, 0.6, 32768, ["json_mode"], "open"),
]
# LLMRouter candidates: prices from default_llm.json (served there by NVIDIA NIM; the
# upstream name is that file's `model` field). Context windows from the model cards.
LLMROUTER_CONTEXT = {
    "qwen2.5-7b-instruct": 32768,
    "codegemma-7b": 8192,
    "gemma-2-9b-it": 8192,
    "llama-3.1-8b-instruct": 131072,
    "llama3-chatqa-1.5-8b": 8192,
    "llama3-chatqa-1.5-70b": 8192,
    "mistral-7b-instruct-v0.3": 32768,
    "llama-3.3-nemotron-super-49b-v1": 131072,
    "llama-3.1-nemotron-51b-instruct": 131072,
}
# RouterArena models: (id, provider, upstream, context, caps, speed, aliases).
ROUTERARENA = [
    ("claude-3-haiku-20240307", "anthropic", "claude-3-haiku-20240307", 200000, ["tools", "vision"], "fast", ["claude-3-haiku"]),
    ("gemini-2.0-flash-001", "google", "gemini-2.0-flash-001", 1048576, ["json_mode", "tools", "vision"], "fast", ["gemini-2.0-flash"]),
]

# Anthropic's Messages API has no `n`, and Gemini 3 answers 400 to `candidateCount` above 1
# (googleapis/js-genai #1609): the adapters refuse several choices, so `auto` leaves every
# Claude and Gemini model out of such requests.
for _id, _provider in [(r[0], r[2]) for r in CURATED] + [(r[0], r[1]) for r in ROUTERBENCH + ROUTERARENA]:
    if _provider in ("anthropic", "google"):
        REFUSES.setdefault(_id, [])
        REFUSES[_id] = REFUSES[_id] + ["multiple_choices"]

DEFAULT_OUTPUT_TOKENS = 300.0


class Stats:
    """Running sums of scores and completion lengths per model over all datasets."""

    def __init__(self):
        self.score = {}
        self.tokens = {}

    def add_score(self, model, value):
        if value is None:
            return
        s = self.score.setdefault(model, [0.0, 0])
        s[0] += min(1.0, max(0.0, value))
        s[1] += 1

    def add_tokens(self, model, value):
        s = self.tokens.setdefault(model, [0.0, 0])
        s[0] += value
        s[1] += 1

    def mean_score(self, model):
        s = self.score.get(model)
        return round(s[0] / s[1], 3) if s and s[1] else None

    def mean_tokens(self, model):
        s = self.tokens.get(model)
        return round(s[0] / s[1]) if s and s[1] else DEFAULT_OUTPUT_TOKENS


def parse_float(cell):
    cell = cell.strip()
    if cell in ("", "nan", "NaN", "None"):
        return None
    if cell in ("True", "False"):
        return 1.0 if cell == "True" else 0.0
    return float(cell)


def scan_routellm(root, stats):
    contaminated = set()
    for sub in ("mmlu", "gsm8k"):
        with open(os.path.join(root, "routellm", sub, "contaminated_prompts.jsonl"), encoding="utf-8") as f:
            contaminated.update(json.loads(line)["eval_prompt"] for line in f if line.strip())
    files = sorted(glob.glob(os.path.join(root, "routellm", "mmlu", "responses", "*.csv")))
    files.append(os.path.join(root, "routellm", "gsm8k", "gsm8k_responses.csv"))
    for path in files:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["prompt"] in contaminated:
                    continue
                for model in ("gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"):
                    stats.add_score(model, parse_float(row[model]))
                    resp = row.get(model + "_response")
                    if resp is not None:
                        stats.add_tokens(model, len(resp) / 4.0)


def scan_llmrouter(root, stats):
    for split in ("train", "test"):
        path = os.path.join(root, "llmrouter", "data", "dcrouter_preprocessed", split + ".json")
        with open(path, encoding="utf-8") as f:
            for row in json.load(f):
                for model, score in row["scores"].items():
                    stats.add_score(model, float(score))


def scan_routerarena(root, stats):
    for model, *_ in ROUTERARENA:
        path = os.path.join(root, "routerarena", "cached_results", model + ".jsonl")
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                stats.add_score(model, float(rec["evaluation_result"]["score"]))
                stats.add_tokens(model, float(rec["token_usage"]["output_tokens"]))


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


# Claude's cache prices: a 5-minute cache write costs 1.25 times the input price on every
# Claude model, and a read 0.1 times, except where the price snapshot gives another read
# multiple (Opus 5.5: 0.05, its overview's $0.20 against $4; Fable 5.1: 0.025, a quarter of
# Fable 5's). The gateway marks breakpoints on every Claude request, RouterArena-priced Claude
# 3.x included, so these apply whatever the model's price source.
ANTHROPIC_CACHE = (0.1, 1.25)


def cache_prices(provider, cache):
    """(cache_read, cache_write) multiples for a model of `provider` priced with the snapshot's
    `cache` entry (None: not from the snapshot; `{"cited": (read, write)}`: from the vendor's
    page, CITED_CACHE). Anthropic: the rule above. OpenAI and
    Google: the snapshot's read multiple, and no write price (Gemini's implicit caching bills no
    writes, and the snapshot's Gemini `write_multiplier` is its storage price; OpenAI prices
    GPT-6.x cache writes, but its usage reports no written count the gateway reads). Other
    providers: none, since the snapshot's figure is OpenRouter's mix of hosts, not what the
    vendor's own API bills; their cached tokens are priced as ordinary input (an overestimate).
    """
    if cache and "cited" in cache:
        return cache["cited"]
    if provider == "anthropic":
        read = cache.get("read_multiplier") if cache else None
        return (float(read) if read is not None else ANTHROPIC_CACHE[0]), ANTHROPIC_CACHE[1]
    if provider in ("openai", "google") and cache and cache.get("read_multiplier") is not None:
        return float(cache["read_multiplier"]), None
    return None, None


def entry(out, *, id, provider, upstream, inp, outp, ctx, caps, speed, quality, out_tokens, aliases, note,
          scores=None, derivation=None, cited=(), tokens=(), reasoning=False, refuses=(), efforts=None,
          responses_api=False, token_ratio=None, cache=None, tiers=()):
    ttft, tps = SPEED[speed]
    out.append(f"# {note}")
    out.append("[[model]]")
    out.append(f"id = {toml_str(id)}")
    out.append(f"provider = {toml_str(provider)}")
    if upstream != id:
        out.append(f"upstream_name = {toml_str(upstream)}")
    out.append(f"input_usd_per_mtok = {float(inp)!r}")
    out.append(f"output_usd_per_mtok = {float(outp)!r}")
    # Prompt-cache prices as multiples of the input price (see cache_prices).
    read, write = cache_prices(provider, cache)
    if read is not None:
        out.append(f"cache_read = {read!r}")
    if write is not None:
        out.append(f"cache_write = {write!r}")
    if tiers:
        out.append("price_tiers = [" + ", ".join(
            f"{{ above_input_tokens = {int(a)}, input_usd_per_mtok = {float(i)!r}, output_usd_per_mtok = {float(o)!r} }}"
            for a, i, o in tiers) + "]")
    out.append(f"context_window = {int(ctx)}")
    out.append("capabilities = [" + ", ".join(toml_str(c) for c in sorted(caps)) + "]")
    out.append(f"ttft_ms = {ttft!r}")
    out.append(f"tokens_per_s = {tps!r}")
    out.append(f"quality_prior = {float(quality)!r}")
    out.append(f"output_tokens_prior = {float(out_tokens)!r}")
    if aliases:
        out.append("aliases = [" + ", ".join(toml_str(a) for a in aliases) + "]")
    if reasoning:
        out.append("reasoning = true")
    if refuses:
        out.append("refuses = [" + ", ".join(toml_str(r) for r in refuses) + "]")
    if efforts:
        values, default = efforts
        out.append("efforts = [" + ", ".join(toml_str(e) for e in values) + "]")
        if default is not None:
            out.append(f"default_effort = {toml_str(default)}")
    if responses_api:
        out.append("responses_api = true")
    if token_ratio:
        out.append(f"token_ratio = {float(token_ratio)!r}")
    if scores:
        cited_scores = {t: s for t, (s, c) in scores.items() if c}
        derived = {t: s for t, (s, c) in scores.items() if not c}
        if cited_scores:
            out.append("task_scores = { " + ", ".join(f"{t} = {v!r}" for t, v in cited_scores.items()) + " }")
        if derived:
            out.append("derived_task_scores = { " + ", ".join(f"{t} = {v!r}" for t, v in derived.items()) + " }")
            out.append(f"derivation = {toml_str(derivation)}")
    for r in cited:
        out.append("")
        out.append("[[model.benchmark]]")
        out.append(f"name = {toml_str(r['benchmark'])}")
        out.append(f"score = {float(r['score'])!r}")
        out.append(f"source = {toml_str(r['source'])}")
        out.append(f"as_of = {toml_str(r['as_of'])}")
        if r.get("setting", task_scores.DEFAULT_SETTING) != task_scores.DEFAULT_SETTING:
            out.append(f"setting = {toml_str(r['setting'])}")
        if r.get("note"):
            out.append(f"note = {toml_str(r['note'])}")
    for t in tokens:
        out.append("")
        out.append("[[model.task_tokens]]")
        out.append(f"task = {toml_str(t['task'])}")
        out.append(f"tokens = {float(t['tokens'])!r}")
        out.append(f"source = {toml_str(t['source'])}")
        out.append(f"as_of = {toml_str(t['as_of'])}")
        if t.get("note"):
            out.append(f"note = {toml_str(t['note'])}")
    out.append("")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=os.path.join(repo, "..", "shared", "datasets"))
    ap.add_argument("--out", default=os.path.join(repo, "models", "catalog.toml"))
    args = ap.parse_args()
    root = args.datasets

    price_files = sorted(glob.glob(os.path.join(root, "prices", "*.json")))
    if not price_files:
        sys.exit(f"no price list under {root}/prices")
    with open(price_files[-1], encoding="utf-8") as f:
        snapshot = json.load(f)
    prices = {m["model_id"]: m for m in snapshot["models"]}
    with open(os.path.join(root, "routerarena", "model_cost", "cost.json"), encoding="utf-8") as f:
        arena_cost = json.load(f)
    with open(os.path.join(root, "llmrouter", "data", "example_data", "llm_candidates", "default_llm.json"), encoding="utf-8") as f:
        llmrouter = json.load(f)

    results, token_results = task_scores.load(os.path.join(repo, "models", "evidence.toml"))
    cells = task_scores.dataset_cells(root)
    fit = task_scores.fit_all(results, cells)
    scores, cohort_theta, linked = task_scores.scores(fit, results)
    brackets = {}
    efforts_by_model = effort_tables()
    for m, (sc, b) in task_scores.effort_scores(fit, results, efforts_by_model).items():
        if m not in scores:
            scores[m], brackets[m] = sc, b

    def evidence(cid):
        """The model's task scores {task: (score, cited)}, how the derived ones were derived,
        the cited results behind them (models that share weights share them) and its
        measured completion lengths."""
        sc = scores.get(cid, {})
        same = {m for m in {r["model"] for r in results}
                if task_scores.latent(m) == task_scores.latent(cid)}
        cited = [r for r in results if r["model"] in same]
        tokens = [t for t in token_results if t["model"] == cid]
        n_default = sum(1 for r in cited if r["setting"] == task_scores.DEFAULT_SETTING)
        if not sc:
            return sc, None, cited, tokens
        if cid in brackets:
            theta, lo, t_lo, hi, t_hi = brackets[cid]
            derivation = (f"no default-setting result: ability {theta:.2f} interpolated between its "
                          f"cited {lo}-effort ({t_lo:.2f}) and {hi}-effort ({t_hi:.2f}) results' "
                          f"abilities, linear in effort level, for its default effort "
                          f"(docs/task-priors.md, \"Models measured only at other efforts\"); each "
                          "task's score is that ability against the task's item difficulties and "
                          "ceilings")
        elif n_default:
            theta = linked.get(cid, fit.theta.get(task_scores.latent(cid)))
            derivation = (f"item response fit (docs/task-priors.md): ability {theta:.2f} from the "
                          f"{n_default} default-setting results cited below"
                          + (", placed on the item scale fitted without them (a linked model)"
                             if cid in linked else "")
                          + (" and licence-clean recorded outcomes" if task_scores.latent(cid) in
                             {task_scores.latent(m) for m, *_ in cells} else "")
                          + "; a derived task's score is that ability against the task's item "
                          "difficulties and ceilings, fitted on "
                          + ("the other models' results" if cid in linked else "every model's results"))
        else:
            derivation = (f"no published result found: the RouterBench cohort's mean ability "
                          f"({cohort_theta:.2f}) against each task's item difficulties "
                          "(docs/task-priors.md); never fitted on RouterBench")
        return sc, derivation, cited, tokens

    known_ids = {c[0] for c in CURATED} | {c[0] for c in ROUTERBENCH} | {c[0] for c in ROUTELLM} \
        | set(LLMROUTER_CONTEXT) | {c[0] for c in ROUTERARENA}
    for r in results + token_results:
        if r["model"] not in known_ids:
            sys.exit(f"evidence.toml cites unknown model {r['model']}")
    # Tier priors on the task-score scale: the mean flat prior of the tier's scored models.
    # Tiers with fewer than two scored models follow the least-squares line through the
    # calibrated ones (old tier value -> new), so that the tier order is kept.
    tier_prior = {}
    for tier in TIER:
        means = [task_scores.flat_prior(scores[c[0]]) for c in CURATED
                 if c[4] == tier and scores.get(c[0])]
        if len(means) >= 2:
            tier_prior[tier] = round(statistics.fmean(means), 3)
    if len(tier_prior) >= 2:
        line = statistics.linear_regression([TIER[t] for t in tier_prior], list(tier_prior.values()))
        for tier, old in TIER.items():
            if tier not in tier_prior:
                tier_prior[tier] = round(min(0.95, max(0.3, line.intercept + line.slope * old)), 3)
    else:
        tier_prior = dict(TIER)

    stats = Stats()
    clean_stats = Stats()
    scan_routellm(root, clean_stats)
    scan_routellm(root, stats)
    scan_llmrouter(root, stats)
    scan_routerarena(root, stats)

    out = [
        "# Switchyard's embedded model catalog. GENERATED by scripts/seed_catalog.py: edit the",
        "# script, not this file. Prices are USD per 1M tokens. Latency priors are rough",
        "# published-ish medians per speed class; quality priors are benchmark means for benchmark",
        "# models, the mean task score for models with cited task scores, and calibrated tiers",
        "# otherwise (see the script). task_scores come from models/evidence.toml (each cited",
        "# result follows its model as [[model.benchmark]]); see docs/task-priors.md.",
        f"# Price snapshot: {os.path.basename(price_files[-1])} (as of {snapshot.get('as_of')}).",
        "",
    ]
    seen = set()

    def claim(name):
        if name in seen:
            sys.exit(f"duplicate id or alias {name}")
        seen.add(name)

    for cid, src, provider, upstream, tier, speed, vision, json_mode, out_tokens in CURATED:
        cache = None
        tiers = []
        if src.startswith("price:"):
            inp, outp, ctx, tools, price_source, price_as_of = CITED_PRICES[src[6:]]
            if src[6:] in CITED_CACHE:
                cache = {"cited": CITED_CACHE[src[6:]]}
            else:
                # The snapshot's read multiple where it lists the model, even at another list
                # price (GPT-5.6 Sol): a multiple of the input price, whichever that is.
                cache = (prices.get(f"{provider}/{cid}") or {}).get("cache")
            aliases = [f"{provider}/{cid}"] if provider in ("openai", "anthropic") else []
            tiers = CITED_TIERS.get(cid) or snapshot_tiers(prices.get(f"{provider}/{cid}"), inp, outp)
            note = f"curated; price from {price_source} as of {price_as_of}; quality tier {tier}"
        elif src.startswith("cost:"):
            c = arena_cost[src[5:]]
            inp, outp = c["input_token_price_per_million"], c["output_token_price_per_million"]
            ctx, tools = 200000, True
            aliases = [src[5:]] if src[5:] != cid else []
            note = f"curated; price from RouterArena cost.json {src[5:]}"
        else:
            p = prices[src]
            inp, outp, ctx, tools = p["input_per_mtok"], p["output_per_mtok"], p["context_length"], p["supports_tools"]
            cache = p.get("cache")
            tiers = snapshot_tiers(p, inp, outp)
            aliases = [src]
            note = f"curated; price from OpenRouter {src}; quality tier {tier}"
        caps = (["tools"] if tools else []) + (["vision"] if vision else []) + (["json_mode"] if json_mode else [])
        caps += ["structured_outputs"] if cid in STRUCTURED_OUTPUTS else []
        claim(cid)
        for a in aliases:
            claim(a)
        sc, derivation, cited, tokens = evidence(cid)
        if sc:
            quality = task_scores.flat_prior(sc)
            note += "; quality prior = mean of its seven task scores"
        else:
            quality = tier_prior[tier]
        entry(out, id=cid, provider=provider, upstream=upstream, inp=inp, outp=outp, ctx=ctx, caps=caps,
              speed=speed, quality=quality, out_tokens=out_tokens, aliases=aliases, note=note,
              scores=sc, derivation=derivation, cited=cited, tokens=tokens, reasoning=cid in REASONING_API,
              refuses=REFUSES.get(cid, ()),
              efforts=efforts_by_model.get(cid),
              responses_api=cid in RESPONSES_API, token_ratio=TOKEN_RATIO.get(cid), cache=cache,
              tiers=tiers)

    def bench(cid, provider, upstream, inp, outp, ctx, caps, speed, aliases, note, out_tokens=None):
        claim(cid)
        for a in aliases:
            claim(a)
        sc, derivation, cited, tokens = evidence(cid)
        if sc:
            q = task_scores.flat_prior(sc)
            note += "; quality prior = mean of its seven task scores"
        else:
            q = stats.mean_score(cid)
            if q is None:
                sys.exit(f"benchmark model {cid} has no scores")
            note += "; quality prior = its mean score over the dataset"
        entry(out, id=cid, provider=provider, upstream=upstream, inp=inp, outp=outp, ctx=ctx, caps=caps,
              speed=speed, quality=q, out_tokens=out_tokens or stats.mean_tokens(cid), aliases=aliases,
              note=note, scores=sc, derivation=derivation, cited=cited, tokens=tokens,
              refuses=REFUSES.get(cid, ()))

    # RouterBench models' priors must not come from RouterBench (a cold start on replayed
    # RouterBench would otherwise start from the answers): completion lengths come from the
    # licence-clean RouteLLM responses where the same model has them, else the mean recorded
    # length over every model of the licence-clean sets.
    pooled = round(statistics.fmean(stats.mean_tokens(m) for m in stats.tokens))
    for cid, provider, upstream, inp, outp, ctx, caps, speed in ROUTERBENCH:
        same = task_scores.latent(cid)
        length = clean_stats.mean_tokens(same) if same in clean_stats.tokens else pooled
        bench(cid, provider, upstream, inp, outp, ctx, caps, speed, [], "benchmark: RouterBench",
              out_tokens=length)
    for cid, provider, upstream, inp, outp, ctx, caps, speed in ROUTELLM:
        bench(cid, provider, upstream, inp, outp, ctx, caps, speed, [], "benchmark: RouteLLM")
    # default_llm.json lists more candidates than the dataset scores; keep the scored ones.
    for cid in sorted(LLMROUTER_CONTEXT):
        c = llmrouter[cid]
        bench(cid, "together", c["model"], c["input_price"], c["output_price"], LLMROUTER_CONTEXT[cid], [],
              "open", [], "benchmark: LLMRouter (price from default_llm.json)")
    for cid, provider, upstream, ctx, caps, speed, aliases in ROUTERARENA:
        c = arena_cost[cid]
        bench(cid, provider, upstream, c["input_token_price_per_million"], c["output_token_price_per_million"],
              ctx, caps, speed, aliases, "benchmark: RouterArena (price from cost.json)")

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"wrote {len(seen)} names to {args.out}")


if __name__ == "__main__":
    main()
