#!/usr/bin/env python3
"""The learning loop, round after round, on this machine with real prompts and real answers.

1. `switchyard replay-provider` serves RouteLLM GSM8K's recorded answers of gpt-4-1106-preview
   and Mixtral-8x7B (Apache-2.0 data) as an OpenAI-compatible provider.
2. `switchyard serve` routes between the two (`model: "auto"`) with epsilon-greedy exploration,
   starting from the bundled default router, and logs every choice with its propensity.
3. Each round sends new prompts, posts each answer's recorded score to `/v1/feedback`, then
   `switchyard train --from-log` refits a kNN router on everything logged so far,
   `switchyard eval --from-log --router` estimates it off-policy, and `POST /admin/reload` swaps
   it in live for the next round.
4. Per round: realised quality, cost, the oracle's quality on the same prompts (regret), and the
   previous round's off-policy estimate next to what the router then realised.

Usage: python3 scripts/loop_demo.py [--rounds 3] [--per-round 100] [--epsilon 0.3]
Needs `cargo build` (target/debug/switchyard) and ../shared/datasets. Standard library only.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "debug", "switchyard")
MODELS = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"]
TOKEN = "loop-demo-token"


def post(url, body, headers=None):
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.headers, json.load(r)


def start(args, log_path, env=None):
    out = open(log_path, "w")
    proc = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE, stderr=out, text=True,
                            cwd=ROOT, env=env)
    line = proc.stdout.readline()
    m = re.search(r"http://[0-9.:]+", line or "")
    if not m:
        proc.kill()
        sys.exit(f"could not start {args[0]}: {open(log_path).read()[-2000:]}")
    return proc, m.group(0)


def run(args):
    return subprocess.run([BIN, *args], cwd=ROOT, check=True, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-round", type=int, default=100)
    ap.add_argument("--epsilon", type=float, default=0.3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="switchyard-loop-")
    csv.field_size_limit(10**9)
    rows = list(csv.DictReader(open(os.path.join(ROOT, "..", "shared", "datasets", "routellm",
                                                 "gsm8k", "gsm8k_responses.csv"))))
    procs = []
    try:
        replay, replay_url = start(["replay-provider", "--data", "routellm-gsm8k",
                                    "--latency-scale", "0"], os.path.join(work, "replay.log"))
        procs.append(replay)
        config = os.path.join(work, "gateway.toml")
        with open(config, "w") as f:
            f.write(f"""
[server]
bind = "127.0.0.1:0"
[[providers]]
name = "openai"
kind = "openai"
base_url = "{replay_url}/v1"
[[providers]]
name = "together"
kind = "openai"
base_url = "{replay_url}/v1"
[router]
candidates = {json.dumps(MODELS)}
fallback_model = "{MODELS[1]}"
routing_deadline = "5s"
exploration = {{ kind = "epsilon_greedy", epsilon = {a.epsilon}, top_k = 2 }}
exploration_seed = 7
[log]
sqlite = "{work}/outcomes.sqlite"
privacy = "full"
flush_interval = "50ms"
[admin]
token_env = "SWITCHYARD_ADMIN_TOKEN"
""")
        env = {**os.environ, "SWITCHYARD_ADMIN_TOKEN": TOKEN}
        gateway, gw = start(["serve", "--config", config], os.path.join(work, "serve.log"), env)
        procs.append(gateway)
        print(f"replay provider {replay_url}, gateway {gw}, work dir {work}\n")
        print("| round | router | requests | quality | oracle | regret | cost USD/req | "
              "share gpt-4 | previous round's DR estimate |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
        estimate, router_name, cursor = None, "bundled default", 0
        for rnd in range(a.rounds):
            q, o, cost, strong, n = 0.0, 0.0, 0.0, 0, 0
            while n < a.per_round and cursor < len(rows):
                prompt = rows[cursor]["prompt"]
                cursor += 1
                try:
                    h, _ = post(gw + "/v1/chat/completions",
                                {"model": "auto", "messages": [{"role": "user", "content": prompt}]})
                except urllib.error.HTTPError:
                    continue  # RouteLLM-contaminated prompts are not in the replay data
                model = h["x-switchyard-model"]
                scores = {m: post(replay_url + "/replay/score", {"model": m, "prompt": prompt})[1]["score"]
                          for m in MODELS}
                post(gw + "/v1/feedback", {"request_id": h["x-switchyard-request-id"],
                                           "metric": "correct", "score": scores[model]})
                q += scores[model]
                o += max(scores.values())
                cost += float(h.get("x-switchyard-cost-usd", 0))
                strong += model == MODELS[0]
                n += 1
            prev = "–" if estimate is None else f"{estimate[0]:.3f} [{estimate[1]:.3f}, {estimate[2]:.3f}]"
            print(f"| {rnd} | {router_name} | {n} | {q/n:.3f} | {o/n:.3f} | {(o-q)/n:.3f} | "
                  f"{cost/n:.5f} | {strong/n:.0%} | {prev} |", flush=True)
            # Refit on everything logged so far, estimate it off-policy, swap it in.
            time.sleep(0.2)  # the log writer flushes every 50 ms
            db = os.path.join(work, "outcomes.sqlite")
            artifact = os.path.join(work, f"router-{rnd + 1}")
            run(["train", "--from-log", db, "--metric", "correct", "--predictor", "knn",
                 "--out", artifact])
            ope = json.loads(run(["eval", "--from-log", db, "--router", artifact,
                                  "--metric", "correct", "--json"]).stdout)
            dr = ope["reward"]["dr"]
            estimate = (dr["value"], dr["ci_low"], dr["ci_high"])
            post(gw + "/admin/reload", {"artifact": artifact}, {"authorization": f"Bearer {TOKEN}"})
            router_name = f"kNN refit on rounds 0–{rnd}"
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
