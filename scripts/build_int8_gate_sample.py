#!/usr/bin/env python3
"""Cuts the int8 gate's bundled sample (classifier/assets/int8-gate.jsonl) from the onboarding
probe set: the first 15 probes of each task in file order, prompt, task, source and licence
only (LLMRouter, MIT; RouterArena, Apache-2.0: see training/assets/PROBES.md). Deterministic.

    python3 scripts/build_int8_gate_sample.py
"""
import collections
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PER_TASK = 15

taken = collections.Counter()
out = []
for line in (ROOT / "training/assets/probes.jsonl").read_text().splitlines():
    if not line.strip():
        continue
    probe = json.loads(line)
    if taken[probe["task"]] >= PER_TASK:
        continue
    taken[probe["task"]] += 1
    out.append(json.dumps({k: probe[k] for k in ("id", "source", "licence", "task", "prompt")},
                          ensure_ascii=False))
(ROOT / "classifier/assets/int8-gate.jsonl").write_text("\n".join(out) + "\n")
print(dict(taken), len(out))
