#!/usr/bin/env python3
"""Does fitting per-model residuals against the task means find more model-specific signal?

Per-model ridge on RouterBench's train split, three ways: on the 0/1 labels from the embedding
alone, on the labels from the embedding plus the task (one-hot), and on the residuals after the
train split's task means (added back at prediction). The ridge penalty is picked per method by
5-fold cross-validation on the train split; the test split is scored once. The figure is the one
`routerbench_headroom.py --scores` prints: per model, the correlation between estimate and truth,
both taken relative to the train split's task mean.

With --transfer SCORES (the output of `switchyard score --data routerbench` for the bundled
artifact, which never saw RouterBench) it also fits the residuals on that artifact's per-prompt
estimates for its own 13 models (logits, standardised): what models trained on other sources
get wrong, as features, alone and next to the embedding.

Reads the embeddings `switchyard eval --data routerbench --max-tokens 128` cached (run it once
first); writes nothing. Needs numpy >= 2.

    python3 scripts/routerbench_residual_ridge.py \
        --cache .switchyard/cache/embeddings/<encoder sha256>-t128.bin [--transfer rb.jsonl]
"""
import json
import argparse
import ast
import hashlib
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from routerbench_headroom import centred_corr, load  # noqa: E402

HEADER = 8 + 64 + 4 + 4  # magic, fingerprint, max_tokens, dim (training/src/embed_cache.rs)


def read_cache(path):
    raw = open(path, "rb").read()
    dim = struct.unpack("<I", raw[HEADER - 4 : HEADER])[0]
    size = 32 + 4 * dim
    count = (len(raw) - HEADER) // size
    out = {}
    for i in range(count):
        at = HEADER + i * size
        out[raw[at : at + 32]] = np.frombuffer(raw[at + 32 : at + size], dtype="<f4")
    return out


def text_of(raw):
    """The text the importer embeds: a Python list literal joined by blank lines."""
    try:
        parts = ast.literal_eval(raw)
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
    except (ValueError, SyntaxError):
        pass
    return raw


def ridge(x, y, alpha):
    mu, ym = x.mean(0), y.mean(0)
    xc = x - mu
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return lambda z: (z - mu) @ w + ym


def read_transfer(path):
    """Prompt id -> the artifact's estimates as logits, its models in name order."""
    out = {}
    with open(path) as fh:
        for line in fh:
            row = json.loads(line)
            p = np.clip([row["predicted"][m] for m in sorted(row["predicted"])], 1e-4, 1 - 1e-4)
            out[row["id"]] = np.log(p / (1 - p))
    return out


def residual_corr(pred, truth, level):
    return np.array([centred_corr(pred[:, j], truth[:, j], level[:, j]) for j in range(truth.shape[1])])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/routerbench")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--transfer", help="`switchyard score` output of an artifact not fitted on RouterBench")
    args = ap.parse_args()
    cache = read_cache(args.cache)
    models, train = load(args.data, "train")
    _, test = load(args.data, "test")
    transfer = read_transfer(args.transfer) if args.transfer else None

    def arrays(rows):
        keys = [hashlib.sha256(text_of(r[3]).encode()).digest() for r in rows]
        missing = sum(k not in cache for k in keys)
        if missing:
            sys.exit(f"{missing} prompts are not in {args.cache}: embed RouterBench at 128 tokens first")
        x = np.array([cache[k] for k in keys])
        z = None
        if transfer is not None:
            missing = sum(r[4] not in transfer for r in rows)
            if missing:
                sys.exit(f"{missing} prompts are not in {args.transfer}: score all of RouterBench")
            z = np.array([transfer[r[4]] for r in rows])
        return x, [r[0] for r in rows], np.array([r[1] for r in rows]), z

    xtr, ttr, qtr, ztr = arrays(train)
    xte, tte, qte, zte = arrays(test)
    tasks = sorted(set(ttr))
    onehot = lambda ts: np.array([[t == u for u in tasks] for t in ts], dtype=float)  # noqa: E731
    otr, ote = onehot(ttr), onehot(tte)
    means = lambda mask: np.array([qtr[mask & (np.array(ttr) == t)].mean(0) for t in tasks])  # noqa: E731
    overall = means(np.ones(len(ttr), bool))
    level_tr, level_te = otr @ overall, ote @ overall
    xo_tr = np.hstack([xtr, 3 * otr])

    features = {}
    if transfer is not None:
        # Standardised on the train split, scaled like the embedding's coordinates (~0.05).
        mu, sd = ztr.mean(0), ztr.std(0) + 1e-9
        ztr, zte = 0.1 * (ztr - mu) / sd, 0.1 * (zte - mu) / sd
        features = {
            "transfer": (ztr, zte),
            "emb + transfer": (np.hstack([xtr, ztr]), np.hstack([xte, zte])),
        }

    def fit(kind, mask, alpha):
        if kind in features:
            a = features[kind][0]
            m = means(mask)
            f = ridge(a[mask], qtr[mask] - otr[mask] @ m, alpha)
            return lambda x, o: o @ m + f(x)
        if kind == "labels":
            return lambda x, o: ridge(xtr[mask], qtr[mask], alpha)(x)
        if kind == "labels + task":
            return lambda x, o: ridge(xo_tr[mask], qtr[mask], alpha)(np.hstack([x, 3 * o]))
        m = means(mask)
        f = ridge(xtr[mask], qtr[mask] - otr[mask] @ m, alpha)
        return lambda x, o: o @ m + f(x)

    folds = np.array_split(np.random.default_rng(0).permutation(len(xtr)), 5)
    print(f"{'fitted on':14s} {'alpha':>6s} {'cv':>6s} {'test mean':>9s}  per model ({', '.join(models)})")
    for kind in ["labels", "labels + task", "residuals", *features]:
        a_tr, a_te = features.get(kind, (xtr, xte))
        best = None
        for alpha in [0.01, 0.1, 1, 3, 10, 30, 100]:
            pred = np.zeros_like(qtr)
            for f in folds:
                mask = np.ones(len(xtr), bool)
                mask[f] = False
                pred[f] = fit(kind, mask, alpha)(a_tr[f], otr[f])
            score = residual_corr(pred, qtr, level_tr).mean()
            if best is None or score > best[1]:
                best = (alpha, score)
        alpha = best[0]
        corr = residual_corr(fit(kind, np.ones(len(xtr), bool), alpha)(a_te, ote), qte, level_te)
        print(f"{kind:14s} {alpha:6g} {best[1]:6.3f} {corr.mean():9.3f}  {np.round(corr, 3).tolist()}")


if __name__ == "__main__":
    main()
