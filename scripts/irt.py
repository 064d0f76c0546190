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
# at 0 (a = 1); the ceiling's logit at logit(0.98), loosely (sd 3): DROP's falls to 0.82. tau (the
# spread of task deviations) and the ceiling sd were chosen by leave-one-out error (docs).
THETA_SD = 3.0
B_SD = 3.0
LOG_A_SD = 0.5
CEIL_MEAN = math.log(0.98 / 0.02)
CEIL_SD = 3.0
DEFAULT_TAU = 0.1


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


def fit(observations, item_task, tau=DEFAULT_TAU, iters=3000, lr=0.05, start=None, ceil_sd=CEIL_SD):
    """MAP fit. `observations`: list of (model, item, y in [0, 1], weight). `start` (a Fit)
    warm-starts every parameter it has."""
    models = sorted({o[0] for o in observations} | (set(start.models) if start else set()))
    items = sorted({o[1] for o in observations} | (set(start.items) if start else set()))
    f = Fit(models, items, item_task, tau)
    tasks = f.tasks
    # Flat parameter vector: theta[M], delta[M*T], log_a[I], b[I], ceil[I].
    nm, nt, ni = len(models), len(tasks), len(items)
    mi = {m: k for k, m in enumerate(models)}
    ti = {t: k for k, t in enumerate(tasks)}
    ii = {i: k for k, i in enumerate(items)}
    o_theta, o_delta = 0, nm
    o_a = o_delta + nm * nt
    o_b, o_c = o_a + ni, o_a + 2 * ni
    n = o_c + ni
    x = [0.0] * n
    for k in range(ni):
        x[o_c + k] = CEIL_MEAN
    if start is not None:
        for m, k in mi.items():
            x[o_theta + k] = start.theta.get(m, 0.0)
            for t, j in ti.items():
                x[o_delta + k * nt + j] = start.delta.get((m, t), 0.0)
        for i, k in ii.items():
            x[o_a + k] = start.log_a.get(i, 0.0)
            x[o_b + k] = start.b.get(i, 0.0)
            x[o_c + k] = start.ceil.get(i, CEIL_MEAN)
    prior_mean = [0.0] * n
    prior_prec = [0.0] * n
    for k in range(nm):
        prior_prec[o_theta + k] = 1 / THETA_SD**2
    for k in range(nm * nt):
        prior_prec[o_delta + k] = 1 / tau**2
    for k in range(ni):
        prior_prec[o_a + k] = 1 / LOG_A_SD**2
        prior_prec[o_b + k] = 1 / B_SD**2
        prior_prec[o_c + k] = 1 / ceil_sd**2
        prior_mean[o_c + k] = CEIL_MEAN
    obs = [(o_theta + mi[m], o_delta + mi[m] * nt + ti[item_task[i]], o_a + ii[i], o_b + ii[i],
            o_c + ii[i], y, w) for m, i, y, w in observations]
    m1 = [0.0] * n
    m2 = [0.0] * n
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    exp, sig, sqrt = math.exp, sigmoid, math.sqrt
    for step in range(1, iters + 1):
        g = [(x[k] - prior_mean[k]) * prior_prec[k] for k in range(n)]
        for kt, kd, ka, kb, kc, y, w in obs:
            a = exp(x[ka])
            d = x[kt] + x[kd] - x[kb]
            s = sig(a * d)
            c = sig(x[kc])
            p = c * s
            p = 1e-9 if p < 1e-9 else (1 - 1e-9 if p > 1 - 1e-9 else p)
            dl_dp = -w * (y / p - (1 - y) / (1 - p))
            dz = dl_dp * c * s * (1 - s) * a
            g[kt] += dz
            g[kd] += dz
            g[kb] -= dz
            g[ka] += dz * d
            g[kc] += dl_dp * s * c * (1 - c)
        c1 = 1 - beta1**step
        c2 = 1 - beta2**step
        for k in range(n):
            gk = g[k]
            m1[k] = beta1 * m1[k] + (1 - beta1) * gk
            m2[k] = beta2 * m2[k] + (1 - beta2) * gk * gk
            x[k] -= lr * (m1[k] / c1) / (sqrt(m2[k] / c2) + eps)
    for m, k in mi.items():
        f.theta[m] = x[o_theta + k]
        for t, j in ti.items():
            f.delta[(m, t)] = x[o_delta + k * nt + j]
    for i, k in ii.items():
        f.log_a[i] = x[o_a + k]
        f.b[i] = x[o_b + k]
        f.ceil[i] = x[o_c + k]
    return f
