#!/usr/bin/env python3
"""Where RouterBench's oracle gap lies: per-prompt cost, prompt difficulty, or per-model quality.

Routers are built from the train split's per-task means (the per-task rule) with one part
replaced by the truth, or by the truth seen through noise of a given correlation, and scored
on the test split with RouterBench's AIQ (lambda sweep, upper convex hull cut at its best vertex,
range = the single models' mean costs; the same definition as `evals::metrics::aiq`, which this
reproduces to 4 decimals for the zero router and the rule). Reads ../shared/datasets only;
writes nothing. Needs numpy >= 2.

    python3 scripts/routerbench_headroom.py [--data ../shared/datasets/routerbench] [--seeds 5]
        [--scores SCORES.jsonl]

With --scores (the output of `switchyard score --data routerbench --artifact DIR`, for an
artifact fitted on the train split only) it also prints the artifact's own correlation, per
model, between its estimate and the truth, both taken relative to the train split's task mean:
the figure the "residual estimated with correlation" rows are indexed by.
"""
import json
import argparse
import csv
import glob

import numpy as np

csv.field_size_limit(10**9)


def load(root, split):
    rows, models = [], None
    for path in sorted(glob.glob(f"{root}/*_{split}.csv")):
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            models = [c[: -len("|total_cost")] for c in reader.fieldnames if c.endswith("|total_cost")]
            for row in reader:
                try:
                    q = [float(row[m]) for m in models]
                    c = [float(row[m + "|total_cost"]) for m in models]
                except ValueError:  # a model without an outcome: not a test prompt
                    continue
                rows.append((row["eval_name"].split(".")[0], q, c, row["prompt"], row["sample_id"]))
    return models, rows


def upper_hull(points):
    hull = []
    for p in sorted(set(points)):
        while len(hull) >= 2 and (hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1]) - (
            hull[-1][1] - hull[-2][1]
        ) * (p[0] - hull[-2][0]) >= 0:
            hull.pop()
        hull.append(p)
    best = max(range(len(hull)), key=lambda i: hull[i][1])
    return hull[: best + 1]


def aiq(points, cmin, cmax):
    hull = upper_hull(points)
    xs = np.linspace(cmin, cmax, 4001)
    hx = np.array([p[0] for p in hull])
    hy = np.array([p[1] for p in hull])
    ys = np.where(xs < hx[0], 0.0, np.interp(xs, hx, hy))
    return float(np.trapezoid(ys, xs) / (cmax - cmin))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/routerbench")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--scores", help="`switchyard score` JSON lines of a train-split artifact")
    args = ap.parse_args()
    models, train = load(args.data, "train")
    _, test = load(args.data, "test")
    tasks = sorted({r[0] for r in train})
    mean_q = {t: np.mean([r[1] for r in train if r[0] == t], axis=0) for t in tasks}
    mean_c = {t: np.mean([r[2] for r in train if r[0] == t], axis=0) for t in tasks}
    Q = np.array([r[1] for r in test])
    C = np.array([r[2] for r in test])
    rule_q = np.array([mean_q[r[0]] for r in test])
    rule_c = np.array([mean_c[r[0]] for r in test])
    singles = [(C[:, j].mean(), Q[:, j].mean()) for j in range(len(models))]
    cmin, cmax = min(c for c, _ in singles), max(c for c, _ in singles)
    lambdas = np.concatenate([[0.0], np.logspace(-1, 6, 400)])

    def score(q_hat, c_hat):
        points = []
        for lam in lambdas:
            pick = np.argmax(q_hat - lam * c_hat - 1e-12 * c_hat, axis=1)
            rows = np.arange(len(Q))
            points.append((C[rows, pick].mean(), Q[rows, pick].mean()))
        return aiq(points, cmin, cmax)

    zero = aiq(singles, cmin, cmax)
    print(f"{len(Q)} test prompts, {len(models)} models; zero router AIQ {zero:.4f}\n")
    print("| router | AIQ − zero router |\n|---|---:|")

    def row(name, value, sd=None):
        spread = f" (sd {sd:.4f} over {args.seeds} noise draws)" if sd is not None else ""
        print(f"| {name} | {value - zero:+.4f}{spread} |")

    row("per-task rule (train means of quality and cost)", score(rule_q, rule_c))
    row("rule quality, true per-prompt cost", score(rule_q, C))
    row("true per-prompt quality, rule cost", score(Q, rule_c))

    # One difficulty per prompt, shared by every model (an item-response shift): the shift that
    # makes the rule's mean over models equal the prompt's true mean.
    def logit(p):
        p = np.clip(p, 1e-3, 1 - 1e-3)
        return np.log(p / (1 - p))

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    lo, hi = np.full(len(Q), -8.0), np.full(len(Q), 8.0)
    target = Q.mean(axis=1)
    for _ in range(50):
        mid = (lo + hi) / 2
        below = sigmoid(logit(rule_q) + mid[:, None]).mean(axis=1) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    shift = (lo + hi) / 2
    row("true prompt difficulty (one shift for every model), rule cost",
        score(sigmoid(logit(rule_q) + shift[:, None]), rule_c))
    rng = np.random.default_rng(0)
    z = (shift - shift.mean()) / shift.std()
    for rho in (0.2, 0.5):
        vals = []
        for _ in range(args.seeds):
            est = rho * z + np.sqrt(1 - rho**2) * rng.standard_normal(len(z))
            fitted = shift.mean() + rho * shift.std() * est  # E[shift | est]
            vals.append(score(sigmoid(logit(rule_q) + fitted[:, None]), rule_c))
        row(f"difficulty estimated with correlation {rho}", np.mean(vals), np.std(vals))
    g = models.index("gpt-4-1106-preview")
    q = rule_q.copy()
    q[:, g] = Q[:, g]
    row("true outcome of gpt-4-1106 only, rule for the rest", score(q, rule_c))
    # Each model's own residual (truth − task mean) seen with correlation rho, independent noise
    # per model: what a per-prompt, per-model predictor must reach.
    resid = Q - rule_q
    sd = resid.std(axis=0, keepdims=True) + 1e-9
    for rho in (0.1, 0.2, 0.3):
        vals = []
        for _ in range(args.seeds):
            est = rho * resid / sd + np.sqrt(1 - rho**2) * rng.standard_normal(resid.shape)
            vals.append(score(rule_q + rho * sd * est, rule_c))
        row(f"each model's residual estimated with correlation {rho}", np.mean(vals), np.std(vals))
    if args.scores:
        residual_correlations(args.scores, mean_q, models)


def centred_corr(est, truth, base):
    """corr(estimate − base, truth − base); 0 where the estimate does not vary."""
    a, b = np.asarray(est) - base, np.asarray(truth) - base
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-12 else 0.0


def residual_correlations(path, mean_q, columns):
    """Per model: corr(estimate − task mean, truth − task mean) over the test prompts."""
    with open(path) as fh:
        rows = [json.loads(line) for line in fh]
    test = [r for r in rows if r["split"] == "test" and all(m in r["truth"] for m in r["predicted"])]
    models = list(test[0]["predicted"])
    print(f"\n| model | corr(estimate − task mean, truth − task mean), {len(test)} test prompts |")
    print("|---|---:|")
    cors = []
    for m in models:
        j = columns.index(m)
        base = np.array([mean_q[r["task"]][j] for r in test])
        truth = np.array([r["truth"][m]["score"] for r in test])
        est = np.array([r["predicted"][m] for r in test])
        cors.append(centred_corr(est, truth, base))
        print(f"| {m} | {cors[-1]:+.3f} |")
    print(f"| **mean** | **{np.mean(cors):+.3f}** |")


if __name__ == "__main__":
    main()
