#!/usr/bin/env python3
"""Which LLMRouter test prompts does an embedding-only task classifier take for another task?

The per-task rule is told each test prompt's task; the learned routers (the task mixture most
directly) must recognise it from the MiniLM embedding. This fits a softmax regression of the
train split's task labels on the cached 128-token embeddings (the same kind of model as the
task mixture's, without its temperature) and prints, per task of the test split, how often it
is recognised and what it is taken for. Test prompts that are exact copies of training
prompts count like the others here (`eval` drops near duplicates). Reads the LLMRouter files
in ../shared/datasets and the embedding cache that `switchyard eval --data llmrouter
--max-tokens 128` wrote (run it once first); writes nothing. Needs numpy >= 2.

    python3 scripts/llmrouter_task_confusion.py \
        --cache .switchyard/cache/embeddings/<encoder sha256>-t128.bin
"""
import argparse
import collections
import hashlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from routerbench_residual_ridge import read_cache  # noqa: E402


def rows(root, cache):
    """(embedding, task) per prompt of each split, GPQA left out as `eval --exclude-task gpqa`."""
    tasks = {}
    for split in ("train", "test"):
        path = os.path.join(root, f"data/example_data/query_data/default_query_{split}.jsonl")
        with open(path) as f:
            for line in f:
                v = json.loads(line)
                tasks.setdefault(v["query"], v["task_name"])
    out = {}
    for split in ("train", "test"):
        with open(os.path.join(root, f"data/dcrouter_preprocessed/{split}.json")) as f:
            data = json.load(f)
        kept = []
        for r in data:
            task = tasks.get(r["question"])
            key = hashlib.sha256(r["question"].encode()).digest()
            if task is None or task == "gpqa" or key not in cache:
                continue
            kept.append((cache[key], task))
        out[split] = kept
    return out


def fit_softmax(x, y, classes, l2=1e-4, steps=1500, rate=0.5):
    w = np.zeros((x.shape[1], classes))
    b = np.zeros(classes)
    for _ in range(steps):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        w -= rate * (x.T @ p / len(y) + l2 * w)
        b -= rate * p.mean(axis=0)
    return w, b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/datasets/llmrouter")
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()
    split = rows(args.data, read_cache(args.cache))
    if not split["train"] or not split["test"]:
        sys.exit(f"no cached embeddings for {args.data}: run `switchyard eval --data llmrouter --max-tokens 128` first")
    classes = sorted({t for _, t in split["train"]})
    index = {c: i for i, c in enumerate(classes)}
    x = np.stack([e for e, _ in split["train"]]).astype(np.float64)
    y = np.array([index[t] for _, t in split["train"]])
    w, b = fit_softmax(x, y, len(classes))
    test = [(e, t) for e, t in split["test"] if t in index]
    xt = np.stack([e for e, _ in test]).astype(np.float64)
    yt = np.array([index[t] for _, t in test])
    pred = (xt @ w + b).argmax(axis=1)
    print(f"train {len(y)} prompts, {len(classes)} tasks; test {len(yt)} prompts: accuracy {np.mean(pred == yt):.2f}")
    print("| test task | prompts | recognised | taken for (most often) |")
    print("|---|---:|---:|---|")
    for c in classes:
        m = yt == index[c]
        if not m.any():
            continue
        taken = collections.Counter(classes[k] for k in pred[m]).most_common(3)
        print(f"| {c} | {m.sum()} | {np.mean(pred[m] == index[c]):.2f} | {', '.join(f'{t} {n}' for t, n in taken)} |")


if __name__ == "__main__":
    main()
