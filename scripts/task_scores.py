#!/usr/bin/env python3
"""Per-task capability scores from cited public benchmark results (models/evidence.toml).

Standard library only; imported by scripts/seed_catalog.py, or run alone to print the table:

    python3 scripts/task_scores.py [--evidence models/evidence.toml]

The mapping (also in docs/task-priors.md):

* Each task of the taxonomy has one or two **difficulty levels**, each a family of public
  benchmarks (LEVELS below). Prompts of one task span easy to hard, so a task's score is the
  mean P(correct) over its levels: advanced_math = mean(MATH level, AIME level), coding =
  mean(HumanEval level, SWE-bench/LiveCodeBench/Aider level), knowledge = mean(MMLU level,
  GPQA Diamond level); math (MGSM/GSM8K) and classification (DROP) have one level.
* Within a level, a model's value is the mean logit of its reported results of that family.
* A model with only one level of a two-level task gets the other by a logit shift: the median,
  over every model in the evidence with both levels, of logit(easy) - logit(hard). This is a
  one-parameter (Rasch-style) link: vendors report different benchmarks, and the shift puts
  them on one scale instead of comparing an MMLU number with a GPQA number.
* Reasoning, classification and writing have no benchmark that the vendors of the current
  models report consistently (DROP and IFEval exist for older and open models only, and
  scoring some models on them but not others would compare unlike numbers); no model gets a
  score there, and the router uses each model's flat prior (the mean of its task scores) for
  those tasks.

Scores are P(correct)-like numbers in [0, 1], comparable across models of one task. They are
priors for models no trained predictor knows; logged feedback corrects them.
"""

import argparse
import math
import os
import statistics
import tomllib

# task -> list of levels; a level is a list of benchmark ids (models/src/benchmarks.rs).
LEVELS = {
    "math": [["gsm8k", "mgsm"]],
    "advanced_math": [["math", "math_500"], ["aime_2024", "aime_2025"]],
    "coding": [["humaneval", "mbpp"], ["swe_bench_verified", "livecodebench", "aider_polyglot"]],
    "knowledge": [["mmlu", "mmmlu"], ["gpqa_diamond"]],
}


def logit(p):
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def load(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return data.get("result", [])


def level_logits(results):
    """{model: {task: [logit or None per level]}} from the raw results."""
    out = {}
    for task, levels in LEVELS.items():
        for r in results:
            m = r["model"]
            per = out.setdefault(m, {}).setdefault(task, [None] * len(levels))
            for i, family in enumerate(levels):
                if r["benchmark"] in family:
                    per[i] = (per[i] or []) + [logit(r["score"])]
    for m in out:
        for task in out[m]:
            out[m][task] = [statistics.fmean(v) if v else None for v in out[m][task]]
    return out


def shifts(levels):
    """Per two-level task: median logit(easy) - logit(hard) over models with both."""
    out = {}
    for task, lv in LEVELS.items():
        if len(lv) != 2:
            continue
        diffs = [
            per[task][0] - per[task][1]
            for per in levels.values()
            if task in per and per[task][0] is not None and per[task][1] is not None
        ]
        out[task] = (statistics.median(diffs), len(diffs)) if diffs else (None, 0)
    return out


def task_scores(results):
    """{model: {task: score}} rounded to 3 decimals, plus the shifts used."""
    levels = level_logits(results)
    sh = shifts(levels)
    scores = {}
    for m, per in levels.items():
        for task, values in per.items():
            if all(v is None for v in values):
                continue
            if len(values) == 2 and None in values:
                shift, _ = sh[task]
                if shift is None:
                    continue
                easy, hard = values
                values = [easy if easy is not None else hard + shift,
                          hard if hard is not None else easy - shift]
            s = statistics.fmean(sigmoid(v) for v in values)
            scores.setdefault(m, {})[task] = round(s, 3)
    return scores, sh


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evidence", default=os.path.join(here, "..", "models", "evidence.toml"))
    args = ap.parse_args()
    scores, sh = task_scores(load(args.evidence))
    tasks = list(LEVELS)
    for task, (s, n) in sh.items():
        if s is not None:
            print(f"# {task}: logit(easy) - logit(hard) = {s:.2f} (median of {n} models)")
    print("model".ljust(28) + "".join(t[:13].rjust(14) for t in tasks))
    for m in sorted(scores):
        row = "".join(
            (f"{scores[m][t]:.3f}" if t in scores[m] else "-").rjust(14) for t in tasks
        )
        print(m.ljust(28) + row)


if __name__ == "__main__":
    main()
