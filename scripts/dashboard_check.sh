#!/usr/bin/env bash
# The dashboard in a real headless Chromium: starts the testkit fake and `switchyard serve`
# (admin key, two client keys, cache on, privacy full), sends requests (routed, pinned, a
# failover off a dead provider, a cache hit, one with a hostile prompt and a hostile key name),
# then loads /dashboard#key=ADMIN in Chromium and checks the rendered DOM: the data loaded, the
# charts have bars, lines and points, one table row per request, and the hostile text is text,
# not markup. Also takes a screenshot (DASHBOARD_SCREENSHOT=docs/img/dashboard.png to refresh
# the one in the docs).
#
# Needs `cargo build --workspace --all-targets` first. Installs Debian's `chromium` with apt
# when it is missing; skips (exit 0, with a message) only where neither exists.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${CARGO_TARGET_DIR:-target}/debug
TMP="$(mktemp -d)"
PIDS=()
SHOT=${DASHBOARD_SCREENSHOT:-$TMP/dashboard.png}

cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    for log in "$TMP"/*.log; do
      [ -s "$log" ] && { echo "--- $log"; tail -n 40 "$log"; }
    done
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "dashboard_check: $*" >&2; exit 1; }

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  if command -v apt-get >/dev/null; then
    echo "dashboard_check: installing chromium with apt"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends chromium) >"$TMP/apt.log" 2>&1 || die "apt could not install chromium (see $TMP/apt.log)"
    CHROMIUM=$(command -v chromium) || die "chromium still missing after apt"
  else
    echo "dashboard_check: SKIPPED: no chromium and no apt-get to install it"
    exit 0
  fi
fi
for bin in "$BIN/testkit" "$BIN/switchyard"; do
  [ -x "$bin" ] || die "$bin is missing; run \`cargo build --workspace --all-targets\` first"
done

# Waits (at most 60 s) until FILE has a line matching the extended regex, then prints it.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 line
  for _ in $(seq 600); do
    line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || die "process $pid exited before printing /$pattern/ (see $file)"
    sleep 0.1
  done
  die "timed out waiting for /$pattern/ in $file"
}

"$BIN/testkit" --port 0 >"$TMP/fake.log" 2>&1 &
PIDS+=($!)
FAKE_URL=$(wait_for_line "$TMP/fake.log" '^http://127\.0\.0\.1:[0-9]+' "${PIDS[-1]}")
FAKE_URL=${FAKE_URL%%[[:space:]]*}

# A port where nothing listens: the `google` provider fails, so a request pinned to its model
# fails over to the router's next choice.
DEAD_URL="http://127.0.0.1:9"
cat >"$TMP/gateway.toml" <<EOF
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "$FAKE_URL/v1"
api_key_env = "SWITCHYARD_DASHBOARD_KEY"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "$FAKE_URL"
api_key_env = "SWITCHYARD_DASHBOARD_KEY"

[[providers]]
name = "google"
kind = "gemini"
base_url = "$DEAD_URL"
api_key_env = "SWITCHYARD_DASHBOARD_KEY"

[router]
candidates = ["gpt-4o-mini", "gpt-4o", "claude-haiku-4.5", "gemini-2.5-flash"]

[retries]
max_attempts = 3

[log]
sqlite = "$TMP/outcomes.sqlite"
privacy = "full"

[cache]
enabled = true

[admin]
token_env = "SWITCHYARD_DASHBOARD_ADMIN"
EOF

mk() { "$BIN/switchyard" keys create --config "$TMP/gateway.toml" --name "$1" 2>>"$TMP/keys.log"; }
KEY_TEAM=$(mk team-search)
KEY_HOSTILE=$(mk '<img src=x onerror=alert(2)>')
ADMIN="sy-admin-$RANDOM$RANDOM$RANDOM"

SWITCHYARD_DASHBOARD_KEY=sk-fake SWITCHYARD_DASHBOARD_ADMIN="$ADMIN" "$BIN/switchyard" serve \
  --config "$TMP/gateway.toml" --bind 127.0.0.1:0 --priors-only >"$TMP/gateway.log" 2>&1 &
PIDS+=($!)
line=$(wait_for_line "$TMP/gateway.log" 'listening on http://127\.0\.0\.1:[0-9]+' "${PIDS[-1]}")
URL="http://${line##*http://}"
URL=${URL%%[[:space:]]*}
echo "dashboard_check: gateway at $URL, fake provider at $FAKE_URL"

chat() { # KEY MODEL PROMPT [TEMPERATURE]
  local body
  body=$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "temperature": float(sys.argv[3]), "messages": [{"role": "user", "content": sys.argv[2]}]}))' "$2" "$3" "${4:-0.7}")
  curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $1" \
    -H 'content-type: application/json' -d "$body" "$URL/v1/chat/completions"
}
HOSTILE='<script>document.title="pwned"</script><img src=x onerror="document.body.setAttribute(`data-pwned`,1)"> what is 2+2?'
# About 25 requests over some 10 s, so that the one-minute view below spreads them over its
# buckets: routed ones, a pinned one, one pinned to the dead provider (failover), repeated
# deterministic ones (cache hits) and one with a hostile prompt.
PROMPTS=("Summarise the plot of Hamlet in two lines." "Write a haiku about routers."
  "Prove that the square root of 2 is irrational." "Translate 'good morning' into French."
  "Write a Python function that reverses a linked list." "What is the capital of Australia?")
sent=0
send() { # KEY MODEL PROMPT [TEMPERATURE]
  [ "$(chat "$@")" = 200 ] || die "request failed: $2 $3"
  sent=$((sent + 1))
}
for round in 0 1 2; do
  for prompt in "${PROMPTS[@]}"; do
    send "$KEY_TEAM" auto "$prompt (take $round)"
    sleep 0.3
  done
  send "$KEY_HOSTILE" gpt-4o-mini "What is 6 times 7?" 0
  send "$KEY_TEAM" gpt-4o "Explain TCP slow start, part $round."
done
send "$KEY_TEAM" gemini-2.5-flash "List three prime numbers."
send "$KEY_HOSTILE" auto "$HOSTILE"

# Without the key the data is refused; a bad window is a 400 in OpenAI's shape.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/dashboard/data")" = 401 ] || die "data served without the admin key"
curl -s -H "Authorization: Bearer $ADMIN" "$URL/dashboard/data?window=soon" | grep -q '"invalid_request_error"' \
  || die "a bad window is not a 400 in OpenAI's shape"
curl -sI "$URL/dashboard" | grep -qi "^content-security-policy: default-src 'none'" || die "the page has no CSP"

chrome() {
  timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$(mktemp -d -p "$TMP")" "$@" 2>>"$TMP/chromium.log"
}
# The key travels in the fragment, which the browser never sends; the page moves it to
# sessionStorage.
PAGE="$URL/dashboard?window=1m#key=$ADMIN"
chrome --virtual-time-budget=5000 --dump-dom "$PAGE" >"$TMP/dom.html"
[ -z "${DASHBOARD_KEEP_DOM:-}" ] || cp "$TMP/dom.html" "$DASHBOARD_KEEP_DOM"

python3 - "$TMP/dom.html" "$sent" <<'EOF'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
sent = int(sys.argv[2])
def check(ok, what):
    if not ok:
        sys.exit(f"dashboard_check: FAILED: {what}")
check('data-loaded="true"' in dom, "the page did not load its data")
check(not re.search(r'<body[^>]*data-pwned', dom) and "<title>pwned" not in dom,
      "the hostile prompt ran as script")
check(not re.search(r'<img[^>]*onerror', dom), "the hostile text became an <img> element")
check("&lt;script&gt;document.title" in dom, "the hostile prompt is not shown as text")
check("&lt;img src=x onerror=alert(2)&gt;" in dom, "the hostile key name is not shown as text")
def svg(id):
    m = re.search(rf'<svg id="{id}".*?</svg>', dom, re.S)
    check(m, f"chart {id} missing")
    return m.group(0)
bars = svg("chart-mix").count('class="bar"')
check(bars >= 2, f"routing mix has {bars} bars")
cost = svg("chart-cost")
check(cost.count('class="line"') == 3, "cost chart lacks its three lines (actual, best, cheapest)")
check(cost.count('class="point"') >= 3, "cost chart has no points")
check(svg("chart-latency").count('class="line"') == 3, "latency chart lacks p50/p90/p99")
check(svg("chart-events").count('class="bar"') >= 1, "the cache hit is not drawn")
rows = dom.count('class="recent-row"')
check(rows == sent, f"{rows} request rows, {sent} sent")
check(dom.count('class="key-row"') == 2, "spend per key does not list both keys")
check(re.search(r"Cache hits</div><div class=\"value\">2<", dom), "the two cache hits are not counted")
print(f"dashboard_check: DOM ok: {bars} mix bars, {rows} request rows, hostile text escaped")
EOF

chrome --virtual-time-budget=5000 --hide-scrollbars --window-size=1280,1600 --screenshot="$SHOT" "$PAGE" >/dev/null
[ -s "$SHOT" ] && [ "$(head -c 4 "$SHOT" | tail -c 3)" = PNG ] || die "no screenshot"
echo "dashboard_check: screenshot $SHOT ($(wc -c <"$SHOT") bytes)"
