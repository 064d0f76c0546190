#!/usr/bin/env python3
"""How the bundled task classifier does on chat-style prompts it was not fitted on: MT-Bench.

The classifier's own test split (docs/task-priors.md) is drawn from the benchmark sets it was
trained on. MT-Bench's 80 first turns (RouteLLM's copy, Apache-2.0) are written like user
requests instead, with a category each. The categories map to the taxonomy as below (our
mapping: stem and humanities questions ask for explanations of facts, extraction asks to
label or pull fields out of a given text). Prints accuracy, mean log loss and the share of
probability on the mapped task, overall and per category, and what each category is taken
for. Standard library only; embeds through `switchyard embed`.

    cargo build --release
    python3 scripts/task_classifier_ood.py [--questions ../shared/datasets/routellm/mt_bench/question.jsonl]
        [--classifier classifier/assets/task-classifier.json] [--switchyard target/release/switchyard]
"""
import argparse
import collections
import json
import math
import subprocess
import sys

CATEGORY_TASK = {
    "writing": "writing",
    "roleplay": "writing",
    "reasoning": "reasoning",
    "math": "math",
    "coding": "coding",
    "extraction": "classification",
    "stem": "knowledge",
    "humanities": "knowledge",
}


def probabilities(clf, x):
    t = clf["temperature"]
    z = [(b + sum(w * v for w, v in zip(row, x))) / t for row, b in zip(clf["weights"], clf["bias"])]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return {task: v / s for task, v in zip(clf["tasks"], e)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", default="../shared/datasets/routellm/mt_bench/question.jsonl")
    ap.add_argument("--classifier", default="classifier/assets/task-classifier.json")
    ap.add_argument("--switchyard", default="target/release/switchyard")
    args = ap.parse_args()
    clf = json.load(open(args.classifier))
    with open(args.questions) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    unknown = sorted({r["category"] for r in rows} - set(CATEGORY_TASK))
    if unknown:
        sys.exit(f"{args.questions}: categories without a mapping: {unknown}")
    texts = [r["turns"][0] for r in rows]
    out = subprocess.run(
        [args.switchyard, "embed", "--max-tokens", str(clf["encoder_max_tokens"]), *texts],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    if len(out) != len(texts):
        sys.exit(f"switchyard embed printed {len(out)} embeddings for {len(texts)} texts")
    per = collections.defaultdict(lambda: {"n": 0, "right": 0, "nll": 0.0, "mass": 0.0, "taken": collections.Counter()})
    for row, line in zip(rows, out):
        p = probabilities(clf, json.loads(line))
        want = CATEGORY_TASK[row["category"]]
        top = max(p, key=p.get)
        for key in (row["category"], "all"):
            c = per[key]
            c["n"] += 1
            c["right"] += top == want
            c["nll"] -= math.log(max(p[want], 1e-12))
            c["mass"] += p[want]
            c["taken"][top] += 1
    print("| MT-Bench category | task | n | accuracy | log loss | P(task) | taken for |")
    print("|---|---|---:|---:|---:|---:|---|")
    for key in [*CATEGORY_TASK, "all"]:
        c = per[key]
        taken = ", ".join(f"{t} {k}" for t, k in c["taken"].most_common(3))
        task = CATEGORY_TASK.get(key, "")
        print(f"| {key} | {task} | {c['n']} | {c['right'] / c['n']:.2f} | {c['nll'] / c['n']:.2f} | "
              f"{c['mass'] / c['n']:.2f} | {taken} |")


if __name__ == "__main__":
    main()
