#!/usr/bin/env python3
"""Does the bundled router's view of a prompt's difficulty carry over to models it never saw?

Standard library only. Inputs are `switchyard score` outputs (one JSON line per prompt: the
bundled artifact's P(correct) for its 13 models, the task classifier's P(task), and the
recorded outcomes of every model of the set):

    switchyard score --data routerbench --out rb.jsonl
    python3 scripts/prompt_difficulty.py --reference ref.jsonl --test rb.jsonl [--kappa K]

Method (docs/task-priors.md, "Prompt difficulty"):

* A model the artifact does not know gets the task prior q = sum_t P(t|x) score(m, t).
* The artifact's *anchors* (its models that have catalog task scores from published results)
  say how this prompt compares with its task: delta(x) = mean over anchors of
  logit(p_a(x)) - logit(q_a(x)), the anchors' predicted success against their own task prior.
  Its per-task level (the scale difference between the artifact and the catalog) is removed by
  offsets o_t, the P(t)-weighted mean of delta over the reference prompts.
* The unknown model's estimate becomes sigmoid(logit(q) + kappa * (delta(x) - o(x))): a
  one-parameter item response shift, the same for every model, so the models' order by task
  prior is kept and only the prompt's difficulty moves them together.
* kappa is chosen on the reference file's rows (the validation side) by leave-one-anchor-out
  log loss, never on the test file; the test file reports within-task AUC (does the shift rank
  the prompts of one task by difficulty?), log loss and Brier for every model of the test set
  that the artifact does not know, against kappa = 0 (the plain task prior).
"""

import argparse
import json
import math
import os
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 1e-3


def logit(p):
    p = min(max(p, EPS), 1 - EPS)
    return math.log(p / (1 - p))


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def load_catalog():
    with open(os.path.join(HERE, "..", "models", "catalog.toml"), "rb") as f:
        catalog = tomllib.load(f)
    out = {}
    for m in catalog["model"]:
        scores = dict(m.get("derived_task_scores", {}))
        scores.update(m.get("task_scores", {}))
        if scores:
            names = [m["id"], *m.get("aliases", [])]
            for n in names:
                out[n] = (scores, m["quality_prior"])
    return out


def task_prior(entry, tasks):
    scores, flat = entry
    if not tasks:
        return flat
    return sum(p * scores.get(t, flat) for t, p in tasks.items())


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def raw_delta(row, anchors, catalog):
    zs = [logit(row["predicted"][a]) - logit(task_prior(catalog[a], row["tasks"])) for a in anchors]
    return sum(zs) / len(zs)


def offsets(rows, anchors, catalog):
    num, den = {}, {}
    for r in rows:
        d = raw_delta(r, anchors, catalog)
        for t, p in r["tasks"].items():
            num[t] = num.get(t, 0.0) + p * d
            den[t] = den.get(t, 0.0) + p
    return {t: num[t] / den[t] for t in num if den[t] > 0}


def shift(row, anchors, catalog, offs):
    level = sum(p * offs.get(t, 0.0) for t, p in row["tasks"].items())
    return raw_delta(row, anchors, catalog) - level


def auc(pairs):
    """Area under the ROC curve of (score, label) pairs (ties count half)."""
    pos = [s for s, y in pairs if y]
    neg = [s for s, y in pairs if not y]
    if not pos or not neg:
        return None
    ranked = sorted(pairs, key=lambda p: p[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + j + 1) / 2
        rank_sum += mid * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def scores_for(rows, model, anchors, catalog, offs, kappa):
    out = []
    for r in rows:
        if model not in r["truth"]:
            continue
        q = task_prior(catalog[model], r["tasks"])
        z = logit(q) + kappa * shift(r, anchors, catalog, offs)
        out.append((sigmoid(z), r["truth"][model]["score"] >= 0.5, r.get("task") or "?"))
    return out


def metrics(triples):
    ll = -sum(math.log(max(min(p, 1 - 1e-9), 1e-9)) if y else math.log(max(min(1 - p, 1 - 1e-9), 1e-9))
              for p, y, _ in triples) / len(triples)
    brier = sum((p - y) ** 2 for p, y, _ in triples) / len(triples)
    by_task = {}
    for p, y, t in triples:
        by_task.setdefault(t.split("/")[0], []).append((p, y))
    aucs = [(auc(v), len(v)) for v in by_task.values()]
    aucs = [(a, n) for a, n in aucs if a is not None]
    within = sum(a * n for a, n in aucs) / sum(n for _, n in aucs) if aucs else float("nan")
    return ll, brier, within


def loao_logloss(rows, anchors, catalog, kappa):
    """Leave-one-anchor-out log loss on the reference rows: each anchor in turn predicted from
    the others, as a model the artifact does not know."""
    total, n = 0.0, 0
    for k in anchors:
        rest = [a for a in anchors if a != k]
        offs = offsets(rows, rest, catalog)
        t = scores_for(rows, k, rest, catalog, offs, kappa)
        # The truth for an anchor lives under its own id in the reference set.
        if t:
            total += metrics(t)[0] * len(t)
            n += len(t)
    return total / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="score file the offsets and kappa are fitted on")
    ap.add_argument("--test", required=True, help="score file the shift is judged on")
    ap.add_argument("--kappa", type=float, help="skip the selection and use this kappa")
    ap.add_argument("--exclude", action="append", default=[], help="test models to skip (same model as an anchor)")
    ap.add_argument("--bootstrap", type=int, default=200, help="resamples of the test prompts for the intervals")
    ap.add_argument("--write", metavar="ARTIFACT", help="store kappa and the offsets in ARTIFACT/manifest.json")
    args = ap.parse_args()
    catalog = load_catalog()
    ref, test = read(args.reference), read(args.test)
    anchors = sorted(a for a in ref[0]["predicted"] if a in catalog)
    print(f"anchors ({len(anchors)}): {', '.join(anchors)}")
    if args.kappa is None:
        grid = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
        losses = {k: loao_logloss(ref, anchors, catalog, k) for k in grid}
        for k, l in losses.items():
            print(f"reference leave-one-anchor-out log loss at kappa {k:.2f}: {l:.4f}")
        kappa = min(losses, key=losses.get)
    else:
        kappa = args.kappa
    offs = offsets(ref, anchors, catalog)
    print(f"kappa {kappa}; offsets " + ", ".join(f"{t} {o:+.2f}" for t, o in sorted(offs.items())))
    targets = sorted({m for r in test for m in r["truth"]} - set(anchors) - set(args.exclude))
    targets = [m for m in targets if m in catalog]
    print("\n| model | prompts | log loss prior → shifted | Brier prior → shifted | within-task AUC prior → shifted |")
    print("|---|---|---|---|---|")
    summary = []
    for m in targets:
        base = metrics(scores_for(test, m, anchors, catalog, offs, 0.0))
        new_t = scores_for(test, m, anchors, catalog, offs, kappa)
        new = metrics(new_t)
        summary.append((base, new))
        print(f"| {m} | {len(new_t)} | {base[0]:.3f} → {new[0]:.3f} | {base[1]:.3f} → {new[1]:.3f} | {base[2]:.3f} → {new[2]:.3f} |")
    if summary:
        mean = lambda xs: sum(xs) / len(xs)
        print(f"| mean | | {mean([b[0] for b, _ in summary]):.3f} → {mean([n[0] for _, n in summary]):.3f} "
              f"| {mean([b[1] for b, _ in summary]):.3f} → {mean([n[1] for _, n in summary]):.3f} "
              f"| {mean([b[2] for b, _ in summary]):.3f} → {mean([n[2] for _, n in summary]):.3f} |")
    if args.bootstrap and targets:
        print(bootstrap(test, targets, anchors, catalog, offs, kappa, args.bootstrap))
    if args.write:
        path = os.path.join(args.write, "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
        manifest["difficulty"] = {"kappa": kappa, "offsets": {t: round(o, 4) for t, o in sorted(offs.items())}}
        with open(path, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(f"wrote the link into {path}")


def bootstrap(rows, targets, anchors, catalog, offs, kappa, reps):
    """95 % intervals of the mean (over the unknown models) change in Brier score and in
    within-task AUC, resampling test prompts (the same draw for every model)."""
    import random
    rng = random.Random(0)
    per_model = {}
    for m in targets:
        base = scores_for(rows, m, anchors, catalog, offs, 0.0)
        new = scores_for(rows, m, anchors, catalog, offs, kappa)
        per_model[m] = (base, new)
    n = min(len(b) for b, _ in per_model.values())
    d_brier, d_auc = [], []
    for _ in range(reps):
        idx = [rng.randrange(n) for _ in range(n)]
        db, da = [], []
        for base, new in per_model.values():
            b = [base[i] for i in idx]
            w = [new[i] for i in idx]
            mb, mw = metrics(b), metrics(w)
            db.append(mw[1] - mb[1])
            da.append(mw[2] - mb[2])
        d_brier.append(sum(db) / len(db))
        d_auc.append(sum(da) / len(da))
    q = lambda xs: (sorted(xs)[int(0.025 * len(xs))], sorted(xs)[int(0.975 * len(xs)) - 1])
    lo_b, hi_b = q(d_brier)
    lo_a, hi_a = q(d_auc)
    return (f"\nmean change over {len(targets)} unknown models, 95 % bootstrap interval over "
            f"{n} test prompts ({reps} resamples): Brier [{lo_b:+.4f}, {hi_b:+.4f}], "
            f"within-task AUC [{lo_a:+.4f}, {hi_a:+.4f}]")


if __name__ == "__main__":
    main()
