#!/usr/bin/env python3
"""Per-task capability scores from cited public results and licence-clean recorded outcomes.

Standard library only; imported by scripts/seed_catalog.py, or run alone:

    python3 scripts/task_scores.py [--datasets ../shared/datasets] [--validate]

Method (docs/task-priors.md has the numbers):

* Every default-setting result in models/evidence.toml (a public benchmark score) and every
  recorded-dataset cell (a model's mean score on one task of RouteLLM, LLMRouter without GPQA,
  or RouterArena, through the task classifier's own label mapping) is an observation of an
  item response model (scripts/irt.py): P = c_i * sigmoid(a_i (theta_m + delta_{m,t} - b_i)).
  RouterBench and RouterDC never enter (no licence; RouterBench must stay a fair cold start).
* Results measured with a setting the gateway does not send (extended thinking, a raised
  reasoning effort) are kept in the evidence for the record and left out of the fit: the prior
  describes the model as the gateway calls it.
* A model's score on task t is its predicted P(success) averaged over the task's reference
  item families (LEVELS): the same items for every model, so scores compare across models.
  It is *cited* when the model has a default-setting published result of that task, else
  *derived* (from its ability and the task's difficulty, which recorded outcomes of anchor
  models with published scores pin down). Easy items saturate through their ceilings.
* A model with no default-setting result but results at effort levels on both sides of its
  default effort (gpt-oss: AA lists low and high, the default is medium) gets an ability
  interpolated between those levels' abilities (each fitted from its own results with the
  items held fixed), linear in the level's rank; all its scores are then *derived*.
  `--validate-bracket` checks that on the models that do have a default-setting result.
* `--validate` refits with each published result left out (and with each model's whole task
  left out, which is what a derived score is) and reports the prediction error against two
  baselines.
"""

import argparse
import csv
import glob
import json
import math
import os
import statistics
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import irt  # noqa: E402

TASKS = ["math", "advanced_math", "coding", "knowledge", "reasoning", "classification", "writing"]

# Benchmark id -> task; mirrors models/src/benchmarks.rs (the catalog loader checks the same).
BENCH_TASK = {
    "gsm8k": "math", "mgsm": "math",
    "math": "advanced_math", "math_500": "advanced_math",
    "aime_2024": "advanced_math", "aime_2025": "advanced_math",
    "humaneval": "coding", "mbpp": "coding", "livecodebench": "coding",
    "swe_bench_verified": "coding", "aider_polyglot": "coding",
    "mmlu": "knowledge", "mmmlu": "knowledge", "mmlu_pro": "knowledge",
    "gpqa_diamond": "knowledge", "simpleqa": "knowledge", "hle": "knowledge",
    "bbh": "reasoning", "musr": "reasoning", "zebralogic": "reasoning",
    "drop": "classification",
    "ifeval": "writing", "creative_writing_v3": "writing", "mt_bench": "writing",
}

# Reference item families per task: a task score is the mean over families of the mean
# predicted P(success) over the family's items. Two levels where benchmarks span easy to hard.
LEVELS = {
    "math": [["gsm8k", "mgsm"]],
    "advanced_math": [["math", "math_500"], ["aime_2024", "aime_2025"]],
    "coding": [["humaneval", "mbpp"], ["swe_bench_verified", "livecodebench", "aider_polyglot"]],
    "knowledge": [["mmlu", "mmmlu", "mmlu_pro"], ["gpqa_diamond"]],
    "reasoning": [["routerarena:reasoning"], ["llmrouter:reasoning"], ["routellm:reasoning"]],
    "classification": [["drop"], ["routerarena:classification"]],
    "writing": [["mt_bench"], ["routerarena:writing", "llmrouter:writing"]],
}

# Catalog ids that name the same weights: one ability for both.
IDENTITY = {"mistralai/mixtral-8x7b-chat": "mistralai/Mixtral-8x7B-Instruct-v0.1"}

# RouterBench's 11 models: their cold priors must come from anything but RouterBench.
ROUTERBENCH_MODELS = [
    "gpt-4-1106-preview", "gpt-3.5-turbo-1106", "claude-instant-v1", "claude-v1", "claude-v2",
    "WizardLM/WizardLM-13B-V1.2", "meta/code-llama-instruct-34b-chat", "meta/llama-2-70b-chat",
    "mistralai/mistral-7b-chat", "mistralai/mixtral-8x7b-chat", "zero-one-ai/Yi-34B-Chat",
]

DEFAULT_SETTING = "default"

# Models placed on the fitted item scale without entering its calibration: their results fix
# only their own ability and task deviations (`linked_ability`), so adding them moved no other
# model's scores.
# Fitted jointly instead (2026-12-07), their results moved the older models' scores by 0.011
# (median; up to 0.046) and left RouterBench's cold priors worse calibrated on RouterBench
# (docs/task-priors.md, "Models measured only at other efforts, and linked models").
LINKED = {
    "claude-3.5-sonnet", "claude-fable-5.1", "claude-opus-4.7", "gemini-3.7-flash", "gemini-3.8-flash",
    "gemma-3-27b-it", "gpt-3.5-turbo", "ministral-8b",
    "mistral-large", "mistral-medium-3.1", "mistral-medium-3.5", "mistral-small-3.2", "mistral-small-4",
    "qwen-2.5-72b-instruct",
    "qwen3-coder",
}
W_PUBLISHED = 50.0  # effective trials of one published result
W_DATASET_CAP = 50.0  # a recorded cell counts its prompts, at most this many
MIN_CELL = 10  # cells with fewer prompts are noise


def latent(model):
    return IDENTITY.get(model, model)


def load(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    results = data.get("result", [])
    for r in results:
        r.setdefault("setting", DEFAULT_SETTING)
        if r["benchmark"] not in BENCH_TASK:
            sys.exit(f"{path}: unknown benchmark {r['benchmark']} ({r['model']})")
    tokens = data.get("tokens", [])
    for t in tokens:
        t["tokens"] = round(statistics.fmean(t["samples"]), 1)
    return results, tokens


# --- recorded datasets: the same task mapping as training/src/task_classifier/labels.rs ----

MMLU_MATH = {"elementary_mathematics", "high_school_mathematics", "high_school_statistics"}
MMLU_ADVANCED = {"abstract_algebra", "college_mathematics"}
MMLU_REASONING = {"formal_logic", "logical_fallacies"}
MMLU_CODING = {"college_computer_science", "high_school_computer_science"}


def mmlu_task(subject):
    if subject in MMLU_MATH:
        return "math"
    if subject in MMLU_ADVANCED:
        return "advanced_math"
    if subject in MMLU_REASONING:
        return "reasoning"
    if subject in MMLU_CODING:
        return "coding"
    return "knowledge"


LLMROUTER_TASK = {
    "gsm8k": "math", "agentverse-mgsm": "math", "math": "advanced_math",
    "mbpp": "coding", "human_eval": "coding",
    "natural_qa": "knowledge", "trivia_qa": "knowledge", "openbook_qa": "knowledge",
    "arc_challenge": "knowledge",
    "commonsense_qa": "reasoning", "agentverse-logicgrid": "reasoning",
    "commongen": "writing",
}


def routerarena_task(label):
    family, _, rest = label.partition("_")
    family = family.split("-")[0]
    if family in ("GSM8K", "AsDiv", "MathQA", "FinQA"):
        return "math"
    if family in ("AIME", "MATH") or (family == "MMLUPro" and rest == "math"):
        return "advanced_math"
    if family == "MMLU" and rest == "formal_logic":
        return "reasoning"
    if family == "LiveCodeBench":
        return "coding"
    if family in ("ArcMMLU", "GeoBench", "GeoGraphyData", "MMLUPro", "MMLU", "MedMCQA",
                  "PubMedQA", "QANTA", "OpenTDB", "MusicTheoryBench"):
        return "knowledge"
    if family in ("ChessInstruct", "SocialiQA"):
        return "reasoning"
    if family == "Ethics" or family == "NarrativeQA":
        return "classification"
    if family == "SuperGLUE":
        return "reasoning" if label in ("SuperGLUE-CausalReasoning", "SuperGLUE-Wsc") else "classification"
    if family == "WMT19":
        return "writing"
    return None


def dataset_cells(root):
    """[(model, item, mean score, prompts)] from the licence-clean recorded datasets."""
    sums = {}

    def add(model, item, y):
        s = sums.setdefault((model, item), [0.0, 0])
        s[0] += min(1.0, max(0.0, y))
        s[1] += 1

    contaminated = set()
    for sub in ("mmlu", "gsm8k"):
        with open(os.path.join(root, "routellm", sub, "contaminated_prompts.jsonl"), encoding="utf-8") as f:
            contaminated.update(json.loads(l)["eval_prompt"] for l in f if l.strip())
    files = sorted(glob.glob(os.path.join(root, "routellm", "mmlu", "responses", "mmlu_*.csv")))
    files.append(os.path.join(root, "routellm", "gsm8k", "gsm8k_responses.csv"))
    for path in files:
        stem = os.path.basename(path)[:-4]
        task = mmlu_task(stem[5:]) if stem.startswith("mmlu_") else "math"
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["prompt"] in contaminated:
                    continue
                for model in ("gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"):
                    cell = row[model].strip()
                    if cell in ("True", "False"):
                        add(model, f"routellm:{task}", 1.0 if cell == "True" else 0.0)

    base = os.path.join(root, "llmrouter", "data")
    names = {}
    for split in ("train", "test"):
        with open(os.path.join(base, "example_data", "query_data", f"default_query_{split}.jsonl"), encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                names[r["query"]] = r["task_name"]
    for split in ("train", "test"):
        with open(os.path.join(base, "dcrouter_preprocessed", f"{split}.json"), encoding="utf-8") as f:
            for row in json.load(f):
                task = LLMROUTER_TASK.get(names.get(row["question"], ""))
                if task is None:  # GPQA (never used) and subject-less MMLU
                    continue
                for model, score in row["scores"].items():
                    add(model, f"llmrouter:{task}", float(score))

    for path in sorted(glob.glob(os.path.join(root, "routerarena", "cached_results", "*.jsonl"))):
        model = os.path.basename(path)[: -len(".jsonl")]
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                task = routerarena_task(r["global_index"].rsplit("_", 1)[0])
                if task is not None:
                    add(model, f"routerarena:{task}", float(r["evaluation_result"]["score"]))
    return [(m, i, s / n, n) for (m, i), (s, n) in sorted(sums.items()) if n >= MIN_CELL]


def item_task(item):
    return item.split(":", 1)[1] if ":" in item else BENCH_TASK[item]


def observations(results, cells):
    obs = [(latent(r["model"]), r["benchmark"], r["score"], W_PUBLISHED)
           for r in results if r["setting"] == DEFAULT_SETTING and r["model"] not in LINKED]
    obs += [(latent(m), i, y, min(float(n), W_DATASET_CAP)) for m, i, y, n in cells]
    return obs


def fit_all(results, cells, tau=irt.DEFAULT_TAU, ceil_sd=irt.CEIL_SD, iters=5000):
    obs = observations(results, cells)
    items = {o[1] for o in obs}
    return irt.fit(obs, {i: item_task(i) for i in items}, tau=tau, iters=iters, ceil_sd=ceil_sd)


def task_score(fit, model, task, ability=None):
    fams = []
    for family in LEVELS[task]:
        present = [i for i in family if i in fit.item_task]
        if not present:
            continue
        a = fit.ability(model, task) if ability is None else ability
        fams.append(statistics.fmean(fit.predict_ability(a, i) for i in present))
    return statistics.fmean(fams)


def scores(fit, results):
    """{catalog model: {task: (score, cited)}} for every model with a default-setting result,
    plus RouterBench models without any (at their cohort's mean ability, nothing cited); the
    cohort's mean ability; and {linked model: its ability} (`LINKED`)."""
    cited_tasks = {}
    for r in results:
        if r["setting"] == DEFAULT_SETTING:
            cited_tasks.setdefault(r["model"], set()).add(BENCH_TASK[r["benchmark"]])
    # Catalog ids sharing weights share evidence.
    for alias, target in IDENTITY.items():
        merged = cited_tasks.get(alias, set()) | cited_tasks.get(target, set())
        if merged:
            cited_tasks[alias] = cited_tasks[target] = merged
    out, linked = {}, {}
    for model, tasks in cited_tasks.items():
        if model in LINKED:
            rows = [r for r in results if r["model"] == model and r["setting"] == DEFAULT_SETTING]
            fitted = linked_ability(fit, rows)
            if fitted is None:
                sys.exit(f"linked model {model}: none of its default-setting results is of a fitted item")
            theta, delta = fitted
            linked[model] = theta
            out[model] = {t: (round(task_score(fit, None, t, ability=theta + delta.get(t, 0.0)), 3),
                              t in tasks) for t in TASKS}
            continue
        out[model] = {t: (round(task_score(fit, latent(model), t), 3), t in tasks) for t in TASKS}
    cohort = [fit.theta[latent(m)] for m in ROUTERBENCH_MODELS if m in out]
    mean_theta = statistics.fmean(cohort) if cohort else 0.0
    for m in ROUTERBENCH_MODELS:
        if m not in out:
            out[m] = {t: (round(task_score(fit, None, t, ability=mean_theta), 3), False) for t in TASKS}
    return out, mean_theta, linked


# Effort levels in the order the providers name them; a setting that names one of these is a
# point on this scale (reasoning_effort_low, thinking_level_high, effort_medium, ...).
EFFORT_ORDER = ["none", "minimal", "low", "medium", "high", "xhigh", "max"]
_LEVEL_PREFIXES = ("reasoning_effort_", "thinking_level_", "adaptive_thinking_effort_", "effort_")


def setting_level(setting):
    """The effort level a setting names, or None (extended_thinking, ..._unstated)."""
    for prefix in _LEVEL_PREFIXES:
        if setting.startswith(prefix) and setting[len(prefix):] in EFFORT_ORDER:
            return setting[len(prefix):]
    return None


def setting_ability(fit, rows):
    """MAP ability from `rows` (results of one model at one setting) with every item held at
    its fitted parameters and no task deviation: golden-section search of the log posterior
    (binomial, W_PUBLISHED trials a result; the fit's N(0, THETA_SD) prior), concave in theta.
    None when no row is of an item the fit has (the prior alone says nothing)."""
    rows = [r for r in rows if r["benchmark"] in fit.item_task]
    if not rows:
        return None
    return _golden(lambda theta: _log_post(fit, rows, theta, {}), -10.0, 10.0)


def _log_post(fit, rows, theta, delta):
    """Log posterior of one model's `rows` (items fitted, W_PUBLISHED trials a result) at
    ability `theta` plus its task deviations `delta`, under the fit's priors."""
    lp = -0.5 * (theta / irt.THETA_SD) ** 2 - sum(0.5 * (d / fit.tau) ** 2 for d in delta.values())
    for r in rows:
        ability = theta + delta.get(fit.item_task[r["benchmark"]], 0.0)
        p = min(max(fit.predict_ability(ability, r["benchmark"]), 1e-9), 1 - 1e-9)
        lp += W_PUBLISHED * (r["score"] * math.log(p) + (1 - r["score"]) * math.log(1 - p))
    return lp


def _by_level(rows):
    by_level = {}
    for r in rows:
        level = setting_level(r["setting"])
        if level is not None and r["setting"] != DEFAULT_SETTING:
            by_level.setdefault(level, []).append(r)
    return by_level


def linked_ability(fit, rows, rounds=30):
    """(theta, {task: delta}) for a linked model from its default-setting `rows`, items held
    at their fitted parameters: the same MAP as the joint fit's for one model (theta ~
    N(0, THETA_SD), each task deviation ~ N(0, the fit's tau)), by coordinate ascent, each step
    a golden-section search of a concave log posterior. None without a row of a fitted item."""
    rows = [r for r in rows if r["benchmark"] in fit.item_task]
    if not rows:
        return None
    tasks = sorted({fit.item_task[r["benchmark"]] for r in rows})
    theta, delta = 0.0, {}
    for _ in range(rounds):
        theta = _golden(lambda x: _log_post(fit, rows, x, delta), -10.0, 10.0)
        for t in tasks:
            delta[t] = _golden(lambda d, t=t: _log_post(fit, rows, theta, {**delta, t: d}), -3.0, 3.0)
    return theta, delta


def _golden(f, lo, hi, steps=80):
    """The maximum of a concave `f` on [lo, hi] by golden-section search."""
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(steps):
        if fa < fb:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
        else:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
    return (lo + hi) / 2


def bracket(fit, rows, default):
    """(ability at `default`, lower level, its ability, upper level, its ability) from `rows`
    (one model's results at settings other than its default) where levels on both sides of
    `default` have results: linear in level rank between the nearest level on each side.
    None where one side is missing."""
    by_level = _by_level(rows)
    if default not in EFFORT_ORDER:
        return None
    d = EFFORT_ORDER.index(default)
    below = [lv for lv in by_level if EFFORT_ORDER.index(lv) < d]
    above = [lv for lv in by_level if EFFORT_ORDER.index(lv) > d]
    if not below or not above:
        return None
    lo = max(below, key=EFFORT_ORDER.index)
    hi = min(above, key=EFFORT_ORDER.index)
    t_lo, t_hi = setting_ability(fit, by_level[lo]), setting_ability(fit, by_level[hi])
    if t_lo is None or t_hi is None:
        return None
    r_lo, r_hi = EFFORT_ORDER.index(lo), EFFORT_ORDER.index(hi)
    theta = t_lo + (t_hi - t_lo) * (d - r_lo) / (r_hi - r_lo)
    return theta, lo, t_lo, hi, t_hi


def effort_scores(fit, results, efforts):
    """{model: ({task: (score, False)}, bracket)} for the models of `efforts` ({model: (levels
    it takes, default effort or None)}) with no default-setting result but a bracket of levels
    around a published default (see `bracket`). A model whose default is not published keeps
    its tier prior: its least effort's ability, tried as a floor, was further from the models'
    own scores than the tier mean (docs/task-priors.md)."""
    rows = {}
    for r in results:
        rows.setdefault(r["model"], []).append(r)
    out = {}
    for model, (levels, default) in efforts.items():
        mine = rows.get(model, [])
        if not mine or any(r["setting"] == DEFAULT_SETTING for r in mine):
            continue
        b = bracket(fit, mine, default) if default is not None else None
        if b is not None:
            out[model] = ({t: (round(task_score(fit, None, t, ability=b[0]), 3), False) for t in TASKS}, b)
    return out


def flat_prior(task_scores):
    return round(statistics.fmean(s for s, _ in task_scores.values()), 3)


# --- validation ------------------------------------------------------------------------------

def _additive_predict(train, model, item):
    """Baseline: logit(y) = mu + alpha_m + beta_i (ridge, alternating means): a Rasch model with
    one discrimination and no ceiling, i.e. the usual 'shift on the logit scale'."""
    lg = lambda p: math.log(min(max(p, 1e-3), 1 - 1e-3) / (1 - min(max(p, 1e-3), 1 - 1e-3)))
    data = [(m, i, lg(y), w) for m, i, y, w in train]
    mu = statistics.fmean(d[2] for d in data)
    alpha, beta = {}, {}
    for _ in range(30):
        for key, idx, other, store, ostore in (("m", 0, 1, alpha, beta), ("i", 1, 0, beta, alpha)):
            num, den = {}, {}
            for d in data:
                k = d[idx]
                num[k] = num.get(k, 0.0) + d[3] * (d[2] - mu - ostore.get(d[other], 0.0))
                den[k] = den.get(k, 0.0) + d[3]
            for k in num:
                store[k] = num[k] / (den[k] + 25.0)  # ridge toward 0
    return irt.sigmoid(mu + alpha.get(model, 0.0) + beta.get(item, 0.0))


def _item_mean(train, item):
    ys = [y for _, i, y, _ in train if i == item]
    return statistics.fmean(ys) if ys else 0.5


def validate(results, cells, tau, ceil_sd=irt.CEIL_SD, iters=400):
    base = fit_all(results, cells, tau=tau, ceil_sd=ceil_sd)
    obs = observations(results, cells)
    published = [k for k, o in enumerate(obs) if ":" not in o[1]]
    err = {"irt": [], "additive": [], "item_mean": []}
    for k in published:
        m, i, y, _ = obs[k]
        train = obs[:k] + obs[k + 1:]
        f = irt.fit(train, base.item_task, tau=tau, iters=iters, start=base, ceil_sd=ceil_sd)
        err["irt"].append(abs(f.predict(m, i) - y))
        err["additive"].append(abs(_additive_predict(train, m, i) - y))
        err["item_mean"].append(abs(_item_mean(train, i) - y))
    groups = {}
    for k in published:
        m, i, _, _ = obs[k]
        groups.setdefault((m, item_task(i)), []).append(k)
    terr = {"irt": [], "additive": [], "item_mean": []}
    for (m, t), ks in sorted(groups.items()):
        if not any(o[0] == m and ":" not in o[1] and item_task(o[1]) != t for o in obs):
            continue  # a model known only on this task has nothing to derive it from
        held = set(ks)
        train = [o for n, o in enumerate(obs) if n not in held and not (o[0] == m and item_task(o[1]) == t)]
        f = irt.fit(train, base.item_task, tau=tau, iters=iters, start=base, ceil_sd=ceil_sd)
        for k in ks:
            _, i, y, _ = obs[k]
            terr["irt"].append(abs(f.predict(m, i) - y))
            terr["additive"].append(abs(_additive_predict(train, m, i) - y))
            terr["item_mean"].append(abs(_item_mean(train, i) - y))
    mae = lambda v: round(statistics.fmean(v), 4) if v else None
    return ({k: mae(v) for k, v in err.items()}, len(err["irt"]),
            {k: mae(v) for k, v in terr.items()}, len(terr["irt"]))


def validate_bracket(fit, results, efforts, tiers):
    """For each model with a default-setting result *and* a bracket of other levels: its task
    scores from the interpolated ability, from the nearer level alone, from its least effort's
    ability (a floor, tried for models whose default is not published), and the mean task
    scores of its tier's other scored models (what a model without scores otherwise gets, per
    task), each against the scores its own default-setting results give. Also the interpolated
    ability's error on those published results themselves. `tiers`: {model: tier}."""
    rows = {}
    for r in results:
        rows.setdefault(r["model"], []).append(r)
    own, _, linked = scores(fit, results)
    tier_mean = {}
    for m, tier in tiers.items():
        if m in own:
            for t in TASKS:
                tier_mean.setdefault((tier, t), []).append((m, own[m][t][0]))
    report = []
    for model, (levels, default) in sorted(efforts.items()):
        if default is None:
            continue
        mine = rows.get(model, [])
        published = [r for r in mine if r["setting"] == DEFAULT_SETTING]
        b = bracket(fit, mine, default) if published else None
        if b is None or model not in own:
            continue
        theta, lo, t_lo, hi, t_hi = b
        near = t_lo if EFFORT_ORDER.index(default) - EFFORT_ORDER.index(lo) <= \
            EFFORT_ORDER.index(hi) - EFFORT_ORDER.index(default) else t_hi
        truth = {t: own[model][t][0] for t in TASKS}

        def err(ability):
            return statistics.fmean(abs(task_score(fit, None, t, ability=ability) - truth[t]) for t in TASKS)
        peers = {t: [s for m, s in tier_mean.get((tiers.get(model), t), []) if m != model] for t in TASKS}
        tier_err = (statistics.fmean(abs(statistics.fmean(peers[t]) - truth[t]) for t in TASKS)
                    if all(peers.values()) else None)
        least = _by_level(mine).get(levels[0]) if levels else None
        floor = (setting_ability(fit, least),) if least else None
        floor = floor if floor and floor[0] is not None else None
        items = [r for r in published if r["benchmark"] in fit.item_task]
        item_err = statistics.fmean(abs(fit.predict_ability(theta, r["benchmark"]) - r["score"]) for r in items)
        report.append((model, default, lo, hi, linked.get(model, fit.theta.get(latent(model))), theta,
                       err(theta), err(near),
                       tier_err, item_err, len(items), err(floor[0]) if floor else None))
    return report


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evidence", default=os.path.join(repo, "models", "evidence.toml"))
    ap.add_argument("--datasets", default=os.path.join(repo, "..", "shared", "datasets"))
    ap.add_argument("--validate", action="store_true", help="leave-one-out prediction error")
    ap.add_argument("--validate-bracket", action="store_true",
                    help="interpolated abilities against models' own default-setting results")
    ap.add_argument("--tau", type=float, nargs="*", default=[irt.DEFAULT_TAU])
    ap.add_argument("--ceil-sd", type=float, nargs="*", default=[irt.CEIL_SD])
    args = ap.parse_args()
    results, _ = load(args.evidence)
    cells = dataset_cells(args.datasets)
    if args.validate:
        for tau in args.tau:
            for csd in args.ceil_sd:
                one, n1, task, n2 = validate(results, cells, tau, csd)
                print(f"tau={tau} ceiling_sd={csd}: leave-one-result-out MAE {one} (n={n1}); "
                      f"leave-task-out MAE {task} (n={n2})", flush=True)
        return
    fit = fit_all(results, cells)
    if args.validate_bracket:
        import seed_catalog  # the catalog's default efforts and tiers; imports this module
        report = validate_bracket(fit, results, seed_catalog.effort_tables(),
                                  {c[0]: c[4] for c in seed_catalog.CURATED})
        print("model".ljust(16) + "default".rjust(8) + "from".rjust(15) + "theta".rjust(7)
              + "interp".rjust(7) + "  task-score MAE: interp / nearer level / floor / tier mean"
              + "   published MAE (n)")
        show = lambda v: f"{v:.3f}" if v is not None else "-"
        for m, d, lo, hi, th, ti, e_i, e_n, e_t, e_p, n, e_f in report:
            print(m[:16].ljust(16) + d.rjust(8) + f"{lo}..{hi}".rjust(15) + f"{th:7.2f}{ti:7.2f}"
                  + f"  {e_i:.3f} / {e_n:.3f} / {show(e_f)} / {show(e_t)}".ljust(56) + f"{e_p:.3f} ({n})")
        if report:
            mean = lambda k: statistics.fmean(r[k] for r in report if r[k] is not None)
            print(f"mean over {len(report)} models: interp {mean(6):.3f}, nearer level {mean(7):.3f}, "
                  f"floor {mean(11):.3f} (n={sum(r[11] is not None for r in report)}), "
                  f"tier mean {mean(8):.3f}; published MAE {mean(9):.3f}")
        return
    sc, cohort, linked = scores(fit, results)
    print(f"# items: {len(fit.items)}; models: {len(fit.models)}; "
          f"RouterBench cohort mean ability {cohort:.2f}")
    print("item".ljust(28) + "task".rjust(15) + "a".rjust(7) + "b".rjust(7) + "ceiling".rjust(9))
    for i in sorted(fit.items, key=lambda i: (item_task(i), i)):
        print(i.ljust(28) + item_task(i).rjust(15) + f"{math.exp(fit.log_a[i]):7.2f}{fit.b[i]:7.2f}"
              f"{irt.sigmoid(fit.ceil[i]):9.3f}")
    print()
    print("model".ljust(36) + "theta".rjust(6) + "".join(t[:11].rjust(12) for t in TASKS) + "flat".rjust(7))
    for m in sorted(sc):
        row = "".join((f"{s:.3f}" + ("" if c else "*")).rjust(12) for s, c in (sc[m][t] for t in TASKS))
        th = linked.get(m, fit.theta.get(latent(m)))
        print(m[:36].ljust(36) + (f"{th:6.2f}" if th is not None else "     -") + row
              + f"{flat_prior(sc[m]):7.3f}")
    print("\n* derived: no default-setting published result of that task")


if __name__ == "__main__":
    main()
