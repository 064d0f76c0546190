#!/usr/bin/env python3
"""Checks the crate dependency graph against the layering in docs/architecture.md.

Edges may only point to lower layers; `gateway` never depends on datasets, evals or training;
`testkit` is only ever a dev-dependency.
"""
import json
import subprocess
import sys

LAYER = {
    "router-core": 0,
    "models": 1, "datasets": 1, "classifier": 1, "outcome-log": 1,
    "evals": 2,
    "training": 3, "gateway": 3,
    "switchyard": 4,
}
ALLOWED = {  # explicit allow-lists where the layer number alone is too permissive
    "gateway": {"router-core", "models", "classifier", "outcome-log"},
    "outcome-log": {"router-core"},
    "testkit": {"router-core"},
}

meta = json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps"]))
names = {p["name"] for p in meta["packages"]}
errors = []
for pkg in meta["packages"]:
    name = pkg["name"]
    for dep in pkg["dependencies"]:
        d = dep["name"]
        if d not in names:
            continue
        kind = dep.get("kind")  # None = normal, "dev", "build"
        if d == "testkit" and kind != "dev":
            errors.append(f"{name} depends on testkit outside dev-dependencies")
        if kind == "dev":
            continue
        if name in ALLOWED and d not in ALLOWED[name]:
            errors.append(f"{name} -> {d} is not allowed (allowed: {sorted(ALLOWED[name])})")
        if name in LAYER and d in LAYER and LAYER[d] >= LAYER[name]:
            errors.append(f"{name} (layer {LAYER[name]}) -> {d} (layer {LAYER[d]}) points sideways or up")
if errors:
    print("layering violations:\n  " + "\n  ".join(errors))
    sys.exit(1)
print(f"layering ok ({len(names)} crates)")
