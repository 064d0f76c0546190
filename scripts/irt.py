"""Item response model behind the catalog's task scores (standard library only).

    P(model m succeeds on item i) = c_i * sigmoid(a_i * (theta_m + delta_{m,t(i)} - b_i))

* theta_m: the model's general ability; delta_{m,t}: its deviation on task t (shrunk to 0, so a
  task the model was never measured on falls back to its general ability);
* b_i: the item's difficulty, a_i: its discrimination (how sharply it separates models);
* c_i: its ceiling (label noise, metric ceilings: DROP F1 tops out near 0.8 for every current
  model). With a ceiling, strong models converge on easy items: scores saturate instead of
  growing without bound on a logit scale.

An *item* is one public benchmark (MMLU, AIME 2025, ...) or one recorded-dataset cell
(RouterArena's classification prompts, ...). Observations are fractions in [0, 1] with a
weight (an effective number of trials); the fit maximises the binomial likelihood plus
Gaussian priors on every parameter (a MAP estimate) with Adam. Deterministic: no randomness.
"""

import math

# Prior scales (documented in docs/task-priors.md). theta and b are weakly pinned at 0; log a
# at 0 (a = 1); the ceiling's logit at logit(0.98) with room to fall to ~0.8 when data say so.
THETA_SD = 3.0
B_SD = 3.0
LOG_A_SD = 0.5
CEIL_MEAN = math.log(0.98 / 0.02)
CEIL_SD = 1.5
DEFAULT_TAU = 0.5


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Fit:
    """Fitted parameters; `predict(model, item, task)` is the model's P(success) on the item."""

    def __init__(self, models, items, item_task, tau):
        self.models = list(models)
        self.items = list(items)
        self.item_task = dict(item_task)
        self.tasks = sorted(set(self.item_task.values()))
        self.tau = tau
        self.theta = {m: 0.0 for m in self.models}
        self.delta = {(m, t): 0.0 for m in self.models for t in self.tasks}
        self.log_a = {i: 0.0 for i in self.items}
        self.b = {i: 0.0 for i in self.items}
        self.ceil = {i: CEIL_MEAN for i in self.items}

    def copy(self):
        f = Fit(self.models, self.items, self.item_task, self.tau)
        f.theta, f.delta = dict(self.theta), dict(self.delta)
        f.log_a, f.b, f.ceil = dict(self.log_a), dict(self.b), dict(self.ceil)
        return f

    def ability(self, model, task):
        return self.theta.get(model, 0.0) + self.delta.get((model, task), 0.0)

    def predict_ability(self, ability, item):
        a = math.exp(self.log_a[item])
        return sigmoid(self.ceil[item]) * sigmoid(a * (ability - self.b[item]))

    def predict(self, model, item):
        return self.predict_ability(self.ability(model, self.item_task[item]), item)


def _params(fit):
    keys = [("theta", m) for m in fit.models]
    keys += [("delta", k) for k in fit.delta]
    keys += [(p, i) for i in fit.items for p in ("log_a", "b", "ceil")]
    return keys


def _get(fit, key):
    kind, k = key
    return getattr(fit, kind)[k]


def _set(fit, key, v):
    kind, k = key
    getattr(fit, kind)[k] = v


def fit(observations, item_task, tau=DEFAULT_TAU, iters=3000, lr=0.05, start=None):
    """MAP fit. `observations`: list of (model, item, y in [0, 1], weight)."""
    models = sorted({o[0] for o in observations} | (set(start.models) if start else set()))
    items = sorted({o[1] for o in observations} | (set(start.items) if start else set()))
    f = Fit(models, items, item_task, tau)
    if start is not None:
        for key in _params(f):
            try:
                _set(f, key, _get(start, key))
            except KeyError:
                pass
    keys = _params(f)
    index = {k: n for n, k in enumerate(keys)}
    m1 = [0.0] * len(keys)
    m2 = [0.0] * len(keys)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    obs = [(m, i, item_task[i], y, w) for m, i, y, w in observations]
    for step in range(1, iters + 1):
        g = [0.0] * len(keys)
        for m, i, t, y, w in obs:
            a = math.exp(f.log_a[i])
            x = f.theta[m] + f.delta[(m, t)] - f.b[i]
            s = sigmoid(a * x)
            c = sigmoid(f.ceil[i])
            p = min(max(c * s, 1e-9), 1 - 1e-9)
            dl_dp = -w * (y / p - (1 - y) / (1 - p))
            dp_dz = c * s * (1 - s)
            dz = dl_dp * dp_dz
            g[index[("theta", m)]] += dz * a
            g[index[("delta", (m, t))]] += dz * a
            g[index[("b", i)]] -= dz * a
            g[index[("log_a", i)]] += dz * a * x
            g[index[("ceil", i)]] += dl_dp * s * c * (1 - c)
        for n, key in enumerate(keys):
            kind = key[0]
            v = _get(f, key)
            if kind == "theta":
                g[n] += v / THETA_SD**2
            elif kind == "delta":
                g[n] += v / tau**2
            elif kind == "log_a":
                g[n] += v / LOG_A_SD**2
            elif kind == "b":
                g[n] += v / B_SD**2
            else:
                g[n] += (v - CEIL_MEAN) / CEIL_SD**2
            m1[n] = beta1 * m1[n] + (1 - beta1) * g[n]
            m2[n] = beta2 * m2[n] + (1 - beta2) * g[n] * g[n]
            mh = m1[n] / (1 - beta1**step)
            vh = m2[n] / (1 - beta2**step)
            _set(f, key, v - lr * mh / (math.sqrt(vh) + eps))
    return f
