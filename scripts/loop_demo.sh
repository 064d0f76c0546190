#!/usr/bin/env bash
# The learning loop on this machine, end to end, with real prompts and real recorded answers:
#
#   1. `switchyard replay-provider` serves RouteLLM GSM8K's recorded answers of gpt-4-1106-preview
#      and Mixtral-8x7B (Apache-2.0 data) as an OpenAI-compatible provider;
#   2. `switchyard serve` routes N prompts between the two with epsilon-greedy exploration,
#      logging each choice and its propensity;
#   3. each answer's recorded score is posted back as feedback (`POST /v1/feedback`);
#   4. `switchyard train --from-log` refits a router on the log;
#   5. `switchyard eval --from-log --router` estimates the new router off-policy (IPS, SNIPS, DR).
#
# Usage: scripts/loop_demo.sh [N=200] [EPSILON=0.5]. Needs `cargo build` and ../shared/datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
EPS=${2:-0.5}
BIN=target/debug/switchyard
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

wait_url() { # file pattern
  for _ in $(seq 300); do
    url=$(grep -m1 -oE "http://[0-9.:]+" "$1" 2>/dev/null || true)
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.2
  done
  echo "timed out waiting for $1" >&2; cat "$1" >&2; return 1
}

"$BIN" replay-provider --data routellm-gsm8k --latency-scale 0 >"$WORK/replay.out" 2>"$WORK/replay.err" &
PIDS+=($!)
REPLAY=$(wait_url "$WORK/replay.out")

cat >"$WORK/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "$REPLAY/v1"

[[providers]]
name = "together"
kind = "openai"
base_url = "$REPLAY/v1"

[router]
candidates = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"]
fallback_model = "mistralai/Mixtral-8x7B-Instruct-v0.1"
routing_deadline = "5s"
exploration = { kind = "epsilon_greedy", epsilon = $EPS, top_k = 2 }
exploration_seed = 7

[log]
sqlite = "$WORK/outcomes.sqlite"
privacy = "full"
TOML

"$BIN" serve --config "$WORK/gateway.toml" >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
GATEWAY=$(wait_url "$WORK/serve.out")
echo "replay provider $REPLAY, gateway $GATEWAY"

python3 - "$GATEWAY" "$REPLAY" "$N" <<'PY'
import csv, json, sys, urllib.request
gateway, replay, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
csv.field_size_limit(10**9)
rows = list(csv.DictReader(open("../shared/datasets/routellm/gsm8k/gsm8k_responses.csv")))
def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.headers, json.load(r)
served, scores = {}, []
for row in rows[:n]:
    prompt = row["prompt"]
    try:
        headers, _ = post(gateway + "/v1/chat/completions",
                          {"model": "auto", "messages": [{"role": "user", "content": prompt}]})
    except urllib.error.HTTPError as e:
        continue  # e.g. a contaminated prompt the replay data does not hold
    model, rid = headers["x-switchyard-model"], headers["x-switchyard-request-id"]
    _, rec = post(replay + "/replay/score", {"model": model, "prompt": prompt})
    post(gateway + "/v1/feedback", {"request_id": rid, "metric": "correct", "score": rec["score"]})
    served[model] = served.get(model, 0) + 1
    scores.append(rec["score"])
print(f"served {len(scores)} requests: {served}; mean recorded score {sum(scores)/max(len(scores),1):.3f}")
PY

kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true   # graceful: flushes the log
"$BIN" log export --db "$WORK/outcomes.sqlite" --out "$WORK/outcomes.jsonl"
"$BIN" train --from-log "$WORK/outcomes.jsonl" --metric correct --predictor knn --out "$WORK/router"
"$BIN" eval --from-log "$WORK/outcomes.jsonl" --router "$WORK/router" --metric correct
