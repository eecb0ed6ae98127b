"""Chapter 6.1's findings as checks computed from the store.

Each check compares two last-epoch values (mean over seeds) or reads a trend, and gives a
verdict: 'holds' / 'does not hold' when every part of the claim agrees and differences
exceed twice their combined standard error, 'inconclusive' otherwise. With a single seed
there is no error bar, so the verdict is 'inconclusive at this scale' and the evidence
says which way the numbers point.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .summary import results, table


class Evidence:
    """Loads and caches last-epoch tables of experiments for the checks."""

    def __init__(self, scale, store, seeds=None):
        self.scale, self.store, self.seeds, self._cache = scale, store, seeds, {}

    def df(self, exp):
        if exp not in self._cache:
            self._cache[exp] = results(exp, self.scale, self.store, self.seeds, missing="drop")
        if self._cache[exp].empty:
            raise LookupError(f"no {self.scale}-scale runs of {exp} in the store")
        return self._cache[exp]

    def last(self, exp, split="test", layer="mean"):
        d = self.df(exp)
        d = d[d.epoch == d.epochs]
        return table(d, split, layer, by=("condition",)).set_index("condition")

    def at(self, exp, epoch, split="test", layer="mean"):
        d = self.df(exp)
        return table(d[d.epoch == epoch], split, layer, by=("condition",)).set_index("condition")


def _cmp(t, a, b, metric):
    """(a - b, 2 x combined SE, n seeds) for conditions a and b of a mean_se table."""
    if a not in t.index or b not in t.index:
        return math.nan, math.nan, 0
    d = t.at[a, metric] - t.at[b, metric]
    noise = 2 * math.hypot(t.at[a, f"{metric}_se"], t.at[b, f"{metric}_se"])
    return d, noise, int(min(t.at[a, "n"], t.at[b, "n"]))


def _verdict(parts):
    """parts: list of (diff, noise, n) where the claim says diff > 0."""
    if not parts or any(math.isnan(d) for d, _, _ in parts):
        return "not run"
    if min(n for _, _, n in parts) < 2:
        return "inconclusive at this scale"
    if all(d > z for d, z, _ in parts):
        return "holds"
    if any(d < -z for d, z, _ in parts):
        return "does not hold"
    return "inconclusive"


def _fmt(label, d, z, n):
    if math.isnan(d):
        return f"{label}: not run"
    return f"{label}: {d:+.3f}" + (f" (±{z / 2:.3f} SE)" if n >= 2 else "")


def _greater(ev, exp, pairs, metrics=("sparsity", "selectivity_avg"), table_fn=None):
    """Claim 'a > b' for each (label, a, b) pair and metric; returns (evidence, verdict)."""
    t = table_fn() if table_fn else ev.last(exp)
    parts, text = [], []
    for label, a, b in pairs:
        for m in metrics:
            d, z, n = _cmp(t, a, b, m)
            parts.append((d, z, n))
            text.append(_fmt(f"{label} {m.replace('_avg', '')}", d, z, n))
    return "; ".join(text), _verdict(parts)


def _trend(ev, exp, cond_fmt, values, optimizer_list, metric="sparsity", sign=+1):
    """Spearman-like check: is ``metric`` increasing (sign=+1) over ``values`` for each optimizer?"""
    t = ev.last(exp)
    text, parts = [], []
    for o in optimizer_list:
        conds = [cond_fmt(o, v) for v in values]
        ys = [t.at[c, metric] if c in t.index else math.nan for c in conds]
        if any(math.isnan(y) for y in ys):
            text.append(f"{o}: not run or diverged")
            parts.append((math.nan, 0, 0))
            continue
        r = pd.Series(values).rank().corr(pd.Series(ys).rank()) * sign
        n = int(min(t.at[c, "n"] for c in conds))
        text.append(f"{o}: rank correlation {r * sign:+.2f}")
        parts.append((r - 0.3, 0.0, max(n, 2)))  # a clear monotone trend: |rho| > 0.3
    return "; ".join(text), _verdict(parts)


def checks(scale="smoke", store=None, seeds=None, metrics=("sparsity", "selectivity_avg"),
           ev: Evidence | None = None) -> pd.DataFrame:
    """Every 6.1 claim with the test our data makes of it and the verdict (one row each).

    ``metrics``: the values a claim about "sparsity and selectivity" is tested on; the
    dissertation's are Hoyer (``sparsity``) and CCMAS (``selectivity_avg``). Checks of one
    quantity use the first; the check that relates the two needs two, else it is "not run".
    """
    ev = ev or Evidence(scale, store, seeds)
    metrics = tuple(metrics)
    first = metrics[0]
    rows = []

    def add(claim, section, test, fn):
        try:
            evidence, verdict = fn()
        except (KeyError, ValueError, LookupError) as err:  # an experiment not run at all
            evidence, verdict = f"not computed ({err})", "not run"
        rows.append(dict(claim=claim, section=section, test=test, evidence=evidence, verdict=verdict))

    def epoch_trend():
        t1, tl = ev.at("baseline", 1), ev.last("baseline")
        cols = [c for m in metrics for c in (m, f"{m}_se")] + ["n"]
        t = pd.concat({"last": tl[cols], "first": t1[cols]}).swaplevel().sort_index()
        t.index = [f"{a}|{b}" for a, b in t.index]
        pairs = [(o, f"{o}|last", f"{o}|first") for o in ("sgd", "adadelta", "adam")]
        pairs += [("adagrad (reversed)", "adagrad|first", "adagrad|last")]
        return _greater(ev, None, pairs, metrics, table_fn=lambda: t)
    add("Sparsity and selectivity rise over epochs for SGD, Adadelta and Adam and fall for Adagrad.",
        "5.2, Fig 5.1", "baseline: last epoch minus epoch 1 (sign reversed for Adagrad)", epoch_trend)

    def train_test():
        d = ev.df("baseline")
        d = d[d.layer == "mean"]
        piv = d.pivot_table(index=["run_key", "epoch"], columns="split", values=first).dropna()
        gap = (piv["train_during"] - piv["test"]).abs().groupby("epoch").mean()
        g1, gl = gap.iloc[0], gap.iloc[-1]
        return (f"mean |train (during training) - test| {first}: epoch 1 {g1:.4f}, last {gl:.4f}",
                "holds" if gl < g1 else "does not hold")
    add("The train/test difference in sparsity shrinks as training goes on.", "5.3, Figs 5.2-5.3",
        "baseline: |train_during - test| sparsity at epoch 1 vs last", train_test)

    def together():
        if len(metrics) < 2:
            return "needs a sparsity and a selectivity metric", "not run"
        sp, sel = metrics[0], metrics[1]
        frames = [ev.last(e).reset_index() for e in ("hyperparameters", "batch_size", "width", "hidden_layers")]
        t = pd.concat(frames).dropna(subset=[sp, sel])
        r = t[sp].corr(t[sel])
        return (f"correlation over {len(t)} last-epoch conditions: r = {r:.2f}",
                "holds" if r > 0.5 else ("does not hold" if r < 0 else "inconclusive"))
    add("Sparsity and selectivity usually rise together (with exceptions).", "5.4.3",
        "Pearson r of last-epoch sparsity vs selectivity across conditions", together)

    def predict():
        frames = [ev.last(e).reset_index() for e in ("hyperparameters", "batch_size", "width", "hidden_layers")]
        t = pd.concat(frames).dropna(subset=["accuracy", first])
        t = t[t.accuracy >= 0.9 * t.accuracy.max()]
        if len(t) < 5:
            return f"only {len(t)} well-trained conditions", "inconclusive at this scale"
        r = t.accuracy.corr(t[first])
        return (f"among {len(t)} conditions within 10% of the best accuracy, r(accuracy, {first}) = {r:.2f}",
                "holds" if abs(r) < 0.5 else "does not hold")
    add("Sparsity and selectivity cannot predict test accuracy, and vice versa.", "5.4.4",
        "|Pearson r| < 0.5 between accuracy and sparsity among well-trained conditions", predict)

    add("More hidden layers raise sparsity and selectivity for Adadelta and Adam.", "5.4.6, Fig 5.6",
        "hidden_layers: HL5 minus HL1",
        lambda: _greater(ev, "hidden_layers", [(o, f"{o} HL5", f"{o} HL1") for o in ("adadelta", "adam")], metrics))

    def weight_decay():
        t = pd.concat([ev.last("hyperparameters"), ev.last("baseline")])
        return _greater(ev, None, [(o, o, f"{o} weight_decay=0.01") for o in ("sgd", "adagrad", "adadelta", "adam")],
                        metrics, table_fn=lambda: t)
    add("Weight decay harms sparsity and selectivity for all optimizers.", "5.5, Fig 5.8",
        "no weight decay minus weight decay 0.01", weight_decay)

    def lr_peak():
        d = ev.last("hyperparameters")
        d = d[d.param == "lr"]
        text, parts = [], []
        for o in ("sgd", "adagrad", "adadelta", "adam"):
            g = d[d.optimizer == o].dropna(subset=["accuracy", first])
            if g.empty:
                continue
            best_acc, best_sp = g.value[g.accuracy.idxmax()], g.value[g[first].idxmax()]
            text.append(f"{o}: best accuracy at lr {best_acc:.3g}, highest sparsity at lr {best_sp:.3g}")
            parts.append((np.log10(best_sp) - np.log10(best_acc), 0.0, 2))
        return "; ".join(text), _verdict(parts)
    add("The highest sparsity comes at a learning rate slightly above the most accurate one.", "5.5, Fig 5.9",
        "hyperparameters: lr of highest sparsity vs lr of highest accuracy", lr_peak)

    def past_gradient():
        e1, v1 = _trend(ev, "hyperparameters", lambda o, v: f"sgd momentum={v:g}", [0.0, 0.3, 0.6, 0.9], ["sgd"],
                        metric=first)
        e2, v2 = _trend(ev, "hyperparameters", lambda o, v: f"adadelta rho={v:g}", [0.4, 0.6, 0.8, 0.9], ["adadelta"],
                        metric=first)
        verdict = v1 if v1 == v2 else ("inconclusive" if "not run" not in (v1, v2) else "not run")
        return f"SGD momentum 0-0.9 {e1}; Adadelta rho 0.4-0.9 {e2}", verdict
    add("The more past gradient an update uses (momentum, rho), the higher sparsity and selectivity.",
        "5.5, Fig 5.10", "rank correlation of last-epoch sparsity with momentum / rho", past_gradient)

    add("Smaller batches give higher sparsity and selectivity for SGD and Adam.", "5.6, Fig 5.11",
        "batch_size: batch 1 minus batch 50",
        lambda: _greater(ev, "batch_size", [(o, f"{o} bs=1", f"{o} bs=50") for o in ("sgd", "adam")], metrics))

    add("Wider hidden layers raise sparsity and selectivity (not SGD at batch 50).", "5.8, Fig 5.13",
        "width: 768 minus 64 units at batch 50 (Adagrad, Adadelta, Adam) and batch 1 (Adam)",
        lambda: _greater(ev, "width", [(o, f"{o} bs=50 width=768", f"{o} bs=50 width=64")
                                       for o in ("adagrad", "adadelta", "adam")]
                         + [("adam bs=1", "adam bs=1 width=768", "adam bs=1 width=64")], metrics))

    add("Fewer classes per batch raise sparsity and selectivity for SGD and Adam.", "5.9, Fig 5.14",
        "class_diversity: single minus original",
        lambda: _greater(ev, "class_diversity", [(o, f"{o} single", f"{o} original") for o in ("sgd", "adam")], metrics))

    add("Batch size 1 raises sparsity and selectivity more than single-class batches.", "5.9, Fig 5.15",
        "class_diversity: B (con 10, batch 1) minus A (single, batch 10)",
        lambda: _greater(ev, "class_diversity", [(o, f"{o} B: con 10 bs=1", f"{o} A: single bs=10")
                                                 for o in ("sgd", "adam")], metrics))

    add("A conv layer raises sparsity and selectivity of the FC layer when accuracy holds.", "5.10, Fig 5.17",
        "cnn: CNN minus MLP after 5 epochs (SGD, Adadelta, Adam)",
        lambda: _greater(ev, "cnn", [(o, f"{o} cnn", f"{o} mlp") for o in ("sgd", "adadelta", "adam")], metrics))

    add("Sorted training data raises sparsity and selectivity for SGD and Adam.", "5.11, Fig 5.18",
        "sorted: sorted minus unsorted",
        lambda: _greater(ev, "sorted", [(o, f"{o} sorted", f"{o} unsorted") for o in ("sgd", "adam")], metrics))

    add("Combining two high-sparsity conditions helps Adam but not SGD.", "5.12, Fig 5.19",
        "combined: Adam combined minus each part; each SGD part minus SGD combined",
        lambda: _greater(ev, "combined", [
            ("adam vs 768", "adam single + 768 units", "adam 768 units"),
            ("adam vs single", "adam single + 768 units", "adam single"),
            ("sgd bs=1 vs combined", "sgd bs=1", "sgd bs=1 + momentum=0.9")], metrics))
    return pd.DataFrame(rows)


BY_METRIC = {"Hoyer": "sparsity", "Gini": "gini", "CCMAS": "selectivity_avg",
             "informedness": "informedness", "AUROC": "auroc"}


def by_metric(scale="smoke", store=None, seeds=None, metrics=BY_METRIC) -> pd.DataFrame:
    """Claim x metric: each claim's verdict tested on one metric at a time (Hoyer and Gini for
    sparsity; CCMAS, maximum informedness and AUROC for selectivity). A claim that holds under
    the dissertation's metric but not under the others rests on that metric's bias."""
    ev = Evidence(scale, store, seeds)
    cols = {}
    for name, m in metrics.items():
        t = checks(scale, store, seeds, metrics=(m,), ev=ev)
        cols[name] = t.verdict.to_numpy()
    out = pd.DataFrame(cols, index=t.claim)
    out.index.name = "claim"
    return out
