"""Chapter 6.1's findings as checks computed from the stored runs.

``checks()`` gives one row per bullet of the dissertation's section 6.1 (a bullet with parts
of different kinds is split into rows 7a, 7b, ...): the claim in short, where the dissertation
shows it (section, figure, our chapter), the test our runs make of it, the numbers the test
used (with their SE and number of seeds) and a verdict. ``by_metric()`` repeats every check on
one metric at a time. Every check follows the one rule below.

Verdict rule
------------
1. *Numbers.* A condition's value is its mean over seeds at the runs' last epoch (unless the
   test names an epoch or layer); its SE is ``np.std(ddof=0) / sqrt(n)`` over the ``n`` seeds
   with a finite value, as ``summary.mean_se`` computes it. Two conditions are compared by
   the difference of their means with the combined SE ``sqrt(SE_a^2 + SE_b^2)``. A statistic
   computed within each seed -- a Spearman rank correlation over a grid (momentum, rho,
   beta, batch size, width, depth, layer) or between two quantities; a change between two
   epochs of the same run; a grid offset -- is computed per seed, and its mean over the seeds
   has SE ``np.std(ddof=0) / sqrt(n)``. A tendency across epochs ("begin low and gradually
   increase", "lower at the end", "rises as accuracy rises") is the change from epoch 1 to
   the last epoch, the words of the claims being about where a run starts and where it ends.
2. *Parts.* A claim is split into parts, each written ``x > 0`` in the direction the
   dissertation claims, and judged by ``z = x / SE`` (printed beside each part). A part
   *clears* when ``z > 2`` (``x > 2 SE``) and is *against* when ``z < -2``; in between it is
   undecided. A rank correlation counts as a tendency ("the more ..., the higher", "rise
   together") only beyond the association cut-off ``ASSOCIATION``: the claim "rises" is
   ``x = rho - ASSOCIATION``, "falls" is ``x = -ASSOCIATION - rho``. The same cut-off bounds
   the claims of no tendency (rule 4), so no correlation can count both as a tendency and as
   none.
3. *Verdict.* **not run** when a condition a part needs is not in the store (a chapter built
   with part of its grid, an experiment not run) or has no finite value (diverged); else
   **inconclusive (one seed)** when any part rests on fewer than 2 seeds -- the evidence then
   says which verdict the bare numbers point to; else **holds** when every part clears,
   **does not hold** when any part is against, **inconclusive** otherwise. Where the
   dissertation says "sometimes", "there are exceptions" or "one optimizer ... another", the
   part is a set of alternatives (the evidence says "any of"): it clears when one alternative
   clears and is against only when all are.
4. *Claims of no effect* ("do not show such tendency", "cannot predict", "unaffected") are
   tested against a stated tolerance: ``x = tolerance - |effect|``, so "holds" needs the effect
   inside the tolerance by 2 SE, and "does not hold" needs it outside by 2 SE. A one-sided
   claim ("does not help", "better or similar") bounds the effect on one side only:
   ``x = tolerance - effect``. Every tolerance and cut-off is listed below with its value.
5. *Dead layers.* A seed whose hidden layer is entirely dead at the epoch judged (every unit
   constant over the test images, ``dead_fraction`` = 1) has no code: its sparsity and
   selectivity values (whatever the formulas give, e.g. CCMAS 0 by its epsilon) are left out
   of every part. A part whose condition is dead in every seed is *excluded* (undecided, the
   evidence says so): an alternative of an "any of" group then neither clears nor is against,
   and a grid point dead in every seed is left out of the grid's rank correlation.
6. *Proxies.* Where the runs do not record the quantity a claim names and the test reads a
   stand-in, the verdict is **inconclusive** and the evidence says which way the proxy points.
7. **n/a**: the check cannot be made on this metric (relating sparsity to selectivity needs
   one metric of each; the during-training capture records no informedness or AUROC). **not
   checkable**: the bullet (or that part of it) is a speculation or names no criterion that
   stored runs can test; the evidence says why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .experiments import (BATCH_SIZES, BETAS, LEARNING_RATES, MOMENTA, WEIGHT_DECAYS, WIDER_BATCHES, WIDER_DEPTHS,
                          WIDER_DIVERSITY, WIDER_WIDTHS, WIDTHS)
from .metrics import FIELDS
from .summary import CHANCE, CODE_METRICS, results

HOLDS, FAILS, UNSURE, ONE_SEED = "holds", "does not hold", "inconclusive", "inconclusive (one seed)"
NOT_RUN, NOT_CHECKABLE, NOT_APPLICABLE = "not run", "not checkable", "n/a"
VERDICTS = (HOLDS, FAILS, UNSURE, ONE_SEED, NOT_RUN, NOT_APPLICABLE, NOT_CHECKABLE)
Z = 2  # a part clears beyond this many SE (rule 2)

OPTIMIZERS = ("sgd", "adagrad", "adadelta", "adam")
# Cut-offs and tolerances of the claims' qualifiers (rules 2 and 4). The page lists them from
# TOLERANCES, so a value changed here changes the page.
ASSOCIATION = 0.5    # a rank correlation is a tendency beyond +-0.5 and none inside it: one cut-off for
                     # "rise together", "the more ..., the higher" and "no tendency", "cannot predict"
                     # (Cohen's "large" correlation; below it the ranks share under a quarter of their variance)
SAME_ACCURACY = 0.005  # "accuracy unaffected": |accuracy difference| below 0.005 (Table 5.3: 0.981 vs 0.980)
SLIGHT = 0.1         # "slight difference" train vs test: below 10% of the test value
SIMILAR = 0.02       # "better or similar": at most 0.02 below, on every metric's own 0-1 scale (about a
                     # twentieth of SGD's batch-1 vs batch-50 gap under Hoyer and CCMAS)
CNN_KEEPS = 0.02     # a CNN "maintains" accuracy: at most 0.02 below its MLP
COLLAPSE = 0.1       # accuracy "very poor": at least 0.1 below the same optimizer's normal run
KEEPS_SPARSITY = 0.5  # "maintains a certain degree": at least half the normal run's value
LR_STEPS = (1, 2)    # "slightly above": 1 or 2 grid steps (x3.7 or x13.9, at most ~one decade)
WELL_TRAINED = 0.9   # points used by "cannot predict": accuracy >= 0.9 x the seed's best
TOLERANCES = {
    "ASSOCIATION": (ASSOCIATION, "a mean per-seed Spearman rho beyond +-this is a tendency (rise together, "
                                 "the more ..., the higher), inside it none (no tendency, cannot predict)"),
    "SAME_ACCURACY": (SAME_ACCURACY, "accuracy unaffected / no gain: test accuracy within this (a fraction)"),
    "SLIGHT": (SLIGHT, "a slight train-test difference: below this fraction of the test value"),
    "SIMILAR": (SIMILAR, "better than or similar to: at most this much below, on the metric's 0-1 scale"),
    "CNN_KEEPS": (CNN_KEEPS, "a CNN maintains accuracy: at most this much below its MLP"),
    "COLLAPSE": (COLLAPSE, "accuracy collapses: at least this much below the same optimizer's normal run"),
    "KEEPS_SPARSITY": (KEEPS_SPARSITY, "keeps a certain degree of sparsity: at least this fraction of the "
                                       "normal run's value"),
    "WELL_TRAINED": (WELL_TRAINED, "cannot predict uses the points with accuracy at least this fraction of the "
                                   "seed's best"),
    "LR_STEPS": (LR_STEPS, "slightly above: the learning rate of the highest metric this many grid steps "
                           "(x3.73 each) above the most accurate one"),
    "Z": (Z, "a part clears when its difference is beyond this many SE (z = x / SE > Z)"),
}

# Metrics of sparsity (every other metric measures selectivity); claims that treat the two
# differently (width at batch 1, the exceptions to "together") read a metric's kind from here.
SPARSITY_METRICS = frozenset({"sparsity", "gini", "treves_rolls", "active_fraction", "lifetime_gini",
                              "lifetime_kurtosis", "dead_fraction"})
SHORT = {"sparsity": "Hoyer", "selectivity_avg": "CCMAS", "gini": "Gini", "informedness": "informedness",
         "auroc": "AUROC", "accuracy": "accuracy"}


def kind(metric: str) -> str:
    return "sparsity" if metric in SPARSITY_METRICS else "selectivity"


class NotRun(LookupError):
    """An experiment the check needs has no runs in the store."""


class NotApplicable(LookupError):
    """The check cannot be made on this metric (rule 7): it relates a sparsity to a selectivity
    metric and got one kind only, or the runs never record the metric where the check reads it."""


# The values a dead layer's formulas still give (rule 5): every recorded metric but the dead
# fraction itself, which is how a dead layer is recognised.
DEAD = "dead: every hidden unit constant over the test images (dead_fraction = 1), no code to measure"


class Evidence:
    """The stored runs the checks read, per experiment, in the shape ``summary.results`` returns.

    ``frames``: {experiment: DataFrame} to use instead of a store (tests build synthetic
    runs this way); an experiment absent from it counts as not run. Rows whose layer is
    entirely dead (``dead_fraction`` >= 1) have their sparsity and selectivity values set to
    NaN here (rule 5), with the flag column ``_dead``, so no check reads them.
    """

    def __init__(self, scale="smoke", store=None, seeds=None, frames: dict | None = None):
        self.scale, self.store, self.seeds = scale, store, seeds
        self._frames = dict(frames) if frames is not None else None
        self._cache, self._subs = {}, {}

    def df(self, exp: str) -> pd.DataFrame:
        if exp not in self._cache:
            if self._frames is not None:
                d = self._frames.get(exp, pd.DataFrame())
            else:
                d = results(exp, self.scale, self.store, self.seeds, missing="drop")
            if not d.empty:
                dead = (d["dead_fraction"].to_numpy(dtype=float) >= 1) if "dead_fraction" in d else np.zeros(len(d), bool)
                d = d.assign(_dead=dead)
                cols = [m for m in CODE_METRICS if m in d.columns]
                if dead.any() and cols:
                    d = d.copy()
                    d.loc[dead, cols] = np.nan
            self._cache[exp] = d
        if self._cache[exp].empty:
            raise NotRun(f"no {self.scale}-scale runs of {exp} in the store")
        return self._cache[exp]

    def _sub(self, exp, split, layer):
        key = (exp, split, layer)
        if key not in self._subs:
            d = self.df(exp)
            self._subs[key] = d[(d.split == split) & (d.layer == str(layer))]
        return self._subs[key]

    def table(self, exp, metric, split="test", layer="mean", epoch="last") -> pd.DataFrame:
        """seeds x conditions: ``metric`` at each run's last epoch (or at ``epoch``).
        ``.attrs["dead"]``: {condition: number of seeds whose layer is dead there}, for the
        metrics a dead layer has no value of (accuracy and loss it has)."""
        key = ("table", exp, metric, split, layer, epoch)
        if key not in self._subs:
            d = self._sub(exp, split, layer)
            d = d[d.epoch == d.epochs] if epoch == "last" else d[d.epoch == epoch]
            if metric not in d.columns:
                d = d.assign(**{metric: np.nan})
            t = d.pivot(index="seed", columns="condition", values=metric).astype(float)
            if metric in CODE_METRICS:
                dead = d[d._dead].groupby("condition").seed.nunique()
                t.attrs["dead"] = {c: int(n) for c, n in dead.items()}
            self._subs[key] = t
        return self._subs[key]

    def curves(self, exp, cond, metric, split="test", layer="mean") -> pd.DataFrame | None:
        """epochs (1..last) x seeds of ``metric`` for one condition; None when it was not run."""
        d = self._sub(exp, split, layer)
        d = d[(d.condition == cond) & (d.epoch >= 1)]
        if d.empty:
            return None
        if metric not in d.columns:
            d = d.assign(**{metric: np.nan})
        return d.pivot(index="epoch", columns="seed", values=metric).sort_index().astype(float)

    def recorded(self, exp, metric, split="test") -> bool:
        """Whether any run of ``exp`` has a finite ``metric`` in ``split`` (False: the capture
        does not record it there, rule 7)."""
        d = self.df(exp)
        d = d[d.split == split]
        return metric in d.columns and bool(np.isfinite(d[metric].to_numpy(dtype=float)).any())


# --- parts and how they combine (rules 2 and 3) ---------------------------------------
@dataclass
class Part:
    """One part of a claim: the claim says ``d > 0``. ``why`` set: it could not be computed
    (not run); ``dead`` set: its condition has no code (rule 5), so it is excluded."""
    label: str
    d: float = math.nan
    se: float = math.nan
    n: int = 0
    text: str = ""
    why: str = ""
    dead: str = ""
    z_in_text: bool = False  # ``text`` already prints z beside the judged number


@dataclass
class All:
    """Every part must clear."""
    parts: list
    label: str = ""


@dataclass
class Any:
    """Alternatives: one clearing is enough; all against makes the group against."""
    parts: list
    label: str = ""


@dataclass
class Empty:
    """A claim with nothing to test in these runs (e.g. no optimizer lost accuracy, too few
    well-trained points): inconclusive, with the reason."""
    text: str
    one_seed: bool = False
    label: str = ""
    parts: list = field(default_factory=list)


@dataclass
class Proxy:
    """A test that reads a stand-in for what the claim names (rule 6): inconclusive whatever
    ``node`` says, the evidence saying which way the stand-in points."""
    node: object
    what: str
    label: str = ""

    @property
    def parts(self):
        return [self.node]


def judge(node, lean=False) -> str:
    """The verdict of a part or group by rule 3; ``lean``: ignore SE and seeds (the direction
    the bare numbers point to, said for one-seed data)."""
    if isinstance(node, Empty):
        return ONE_SEED if node.one_seed and not lean else UNSURE
    if isinstance(node, Proxy):
        inner = judge(node.node, lean)
        return inner if inner in (NOT_RUN, ONE_SEED) else UNSURE
    if isinstance(node, Part):
        if node.why:
            return NOT_RUN
        if node.dead:
            return UNSURE
        if node.n < 2 and not lean:
            return ONE_SEED
        z = 0.0 if lean else Z * node.se
        return HOLDS if node.d > z else FAILS if node.d < -z else UNSURE
    vs = [judge(p, lean) for p in node.parts]
    if not vs:
        return UNSURE
    if NOT_RUN in vs:
        return NOT_RUN
    if ONE_SEED in vs:
        return ONE_SEED
    if isinstance(node, All):
        return HOLDS if all(v == HOLDS for v in vs) else FAILS if FAILS in vs else UNSURE
    return HOLDS if HOLDS in vs else FAILS if all(v == FAILS for v in vs) else UNSURE


def zscore(d: float, se: float) -> str:
    """``d / se`` as the page prints it beside a part (rule 2: the part clears beyond Z): two
    decimals, more when they would round onto the cut-off and hide which side it is on."""
    if not (np.isfinite(d) and np.isfinite(se)):
        return "z n/a"
    if se <= 1e-12 * max(1.0, abs(d)):  # identical seeds: an SE of rounding error (~1e-17) is none
        se = 0.0
    if se == 0:
        return "z = +inf" if d > 0 else "z = -inf" if d < 0 else "z = 0"
    z = d / se
    digits = 2
    while abs(round(abs(z), digits) - Z) < 10 ** -digits and digits < 6 and abs(z) != Z:
        digits += 1
    return f"z = {z:+.{digits}f}"


def describe(node) -> str:
    """The numbers of every part, in claim order, each part's z = x / SE beside it."""
    if isinstance(node, Empty):
        return f"{node.label} {node.text}" if node.label else node.text
    if isinstance(node, Proxy):
        inner = describe(node.node)
        return (f"proxy ({node.what}): {inner}. The proxy alone points to '{judge(node.node)}'; "
                f"it does not measure what the claim names, so the verdict is '{UNSURE}'")
    if isinstance(node, Part):
        if node.why or node.dead:
            return f"{node.label}: {node.why or 'excluded, ' + node.dead}"
        if node.n < 2 or node.z_in_text:
            return f"{node.label}: {node.text}"
        return f"{node.label}: {node.text} [{zscore(node.d, node.se)}]"
    inner = "; ".join(describe(p) for p in node.parts)
    if isinstance(node, Any):
        inner = f"any of ({inner})"
    elif node.label:
        inner = f"({inner})"
    return f"{node.label} {inner}" if node.label else inner


def missing(node) -> list[str]:
    """The reasons of every part that could not be computed."""
    if isinstance(node, Part):
        return [node.why] if node.why else []
    return [w for p in node.parts for w in missing(p)]


def excluded(node) -> list[str]:
    """The reasons (condition and 'dead: ...') of every part excluded because its condition is
    dead (rule 5)."""
    if isinstance(node, Part):
        return [node.dead] if node.dead else []
    return [w for p in node.parts for w in excluded(p)]


# --- numbers -> parts ------------------------------------------------------------------
def _mse(values) -> tuple[float, float, int]:
    """Mean, SE (np.std(ddof=0)/sqrt(n), as summary.mean_se) and n of the finite values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=0) / np.sqrt(len(v))), len(v)


def _pm(mean, se, n, digits=3) -> str:
    if n < 2:
        return f"{mean:+.{digits}f}, n=1 (no SE)"
    return f"{mean:+.{digits}f} ± {se:.{digits}f} SE, n={n}"


def _col(t: pd.DataFrame, cond: str):
    """A condition's per-seed values from a seeds x conditions table, or a reason it has none:
    ('', reason) when it was not run or diverged, (None, DEAD...) when its layer is dead in
    every seed (rule 5: excluded, not missing)."""
    if cond not in t.columns:
        return None, f"not run ({cond} is not in the store)"
    v = t[cond]
    if not np.isfinite(v.to_numpy(dtype=float)).any():
        if t.attrs.get("dead", {}).get(cond, 0):  # no finite value, and dead where it has rows
            return None, f"{cond} {DEAD}"
        return None, f"not run ({cond} diverged or lacks this metric)"
    return v, ""


def _part_without(label, why) -> Part:
    """A part whose numbers are missing: not run, or excluded when the reason is a dead layer."""
    return Part(label, dead=why) if DEAD in why else Part(label, why=why)


def _dead_note(t, cond) -> str:
    k = t.attrs.get("dead", {}).get(cond, 0)
    return f" ({k} dead seed{'s' if k > 1 else ''} left out)" if k else ""


def higher(label, t_a, a, t_b, b, scale=1.0) -> Part:
    """Condition ``a`` above ``scale`` x condition ``b`` (means over seeds, combined SE)."""
    va, why_a = _col(t_a, a)
    vb, why_b = _col(t_b, b)
    if why_a or why_b:
        return _part_without(label, why_a or why_b)
    ma, sa, na = _mse(va)
    mb, sb, nb = _mse(vb)
    d, se, n = ma - scale * mb, math.hypot(sa, scale * sb), min(na, nb)
    shown = f"{scale:g} x {b}" if scale != 1 else b
    return Part(label, d, se, n, f"{a} {ma:.3f}{_dead_note(t_a, a)} vs {shown} {scale * mb:.3f}"
                                 f"{_dead_note(t_b, b)}: {_pm(d, se, n, _digits(se))}")


def _digits(se) -> int:
    """Decimals that show an SE to two significant figures (at least 3, at most 6: a smaller SE
    is rounding error between identical seeds, and z beside it says the rest)."""
    if not np.isfinite(se) or se <= 1e-12:  # none, or rounding error between identical seeds
        return 3
    return min(6, max(3, 1 - int(math.floor(math.log10(se)))))


def within(label, t_a, a, t_b, b, tol) -> Part:
    """|mean(a) - mean(b)| below ``tol`` (rule 4)."""
    p = higher(label, t_a, a, t_b, b)
    if p.why or p.dead:
        return p
    return Part(label, tol - abs(p.d), p.se, p.n, f"{p.text}; |difference| vs tolerance {tol:g}")


def not_below(label, t_a, a, t_b, b, tol) -> Part:
    """mean(a) at most ``tol`` below mean(b) (rule 4, one-sided: "better or similar", "does not help")."""
    p = higher(label, t_a, a, t_b, b)
    if p.why or p.dead:
        return p
    return Part(label, p.d + tol, p.se, p.n, f"{p.text}; may be {tol:g} below")


def stat(label, per_seed, name="rho", sign=+1, threshold=0.0, why="", digits=2) -> Part:
    """A per-seed statistic whose mean the claim puts above (sign +1) or below (sign -1)
    ``threshold``; ``why``: the reason there is none. A ``per_seed`` Series may carry
    ``.attrs["note"]`` (e.g. the grid points left out as dead), shown with its numbers."""
    if why:
        return _part_without(label, why)
    m, se, n = _mse(per_seed)
    if n == 0:
        return Part(label, why="not run (no seed has a finite value: diverged or not recorded)")
    claim = f"claim {'>' if sign > 0 else '<'} {threshold:g}"
    note = getattr(per_seed, "attrs", {}).get("note", "")
    return Part(label, sign * (m - threshold), se, n,
                f"{name} {_pm(m, se, n, max(digits, _digits(se)))} ({claim}){'; ' + note if note else ''}")


def stat_of(label, result, **kw) -> Part:
    """``stat`` of a (per-seed Series, reason it is missing) pair."""
    per_seed, why = result
    return stat(label, per_seed, why=why, **kw)


def assoc(label, per_seed, sign=+1, name="rho", why="") -> Part:
    """A per-seed rank correlation that the claim says is a tendency: mean above
    ``ASSOCIATION`` (sign +1) or below ``-ASSOCIATION`` (sign -1), rule 2."""
    return stat(label, per_seed, name=name, sign=sign, threshold=sign * ASSOCIATION, why=why)


def assoc_of(label, result, **kw) -> Part:
    per_seed, why = result
    return assoc(label, per_seed, why=why, **kw)


def bounded(label, per_seed, tol=ASSOCIATION, name="rho", why="") -> Part:
    """A per-seed rank correlation whose mean lies within +-``tol``: no tendency (rule 4)."""
    p = stat(label, per_seed, name, why=why)
    if p.why or p.dead:
        return p
    return Part(label, tol - abs(p.d), p.se, p.n, p.text.replace("(claim > 0)", f"(claim |mean| < {tol:g})"))


def not_falling(label, per_seed, name="rho", why="") -> Part:
    """No falling tendency: the mean per-seed rank correlation above ``-ASSOCIATION`` (rule 4,
    one-sided: "do not show such tendency" of a claim that the metric falls)."""
    return stat(label, per_seed, name=name, threshold=-ASSOCIATION, why=why)


def spearman(x, y) -> float:
    """Rank correlation of two equal-length sequences; 0 when either is constant (no trend),
    NaN when either has a non-finite value (a diverged run, an unrecorded metric)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    r = pd.Series(x).rank().corr(pd.Series(y).rank())
    return 0.0 if not np.isfinite(r) else float(r)


def grid_rho(tables: list, items: list, xs: list):
    """Per-seed Spearman rho of a metric over a grid. ``items``: (table index, condition) per
    grid point, ``xs``: the grid values. Seeds missing a point or with a non-finite value
    there are left out. A point whose layer is dead in every seed is left out of the grid
    (rule 5; said in the Series' ``.attrs["note"]``) while 3 or more points remain.
    Returns (Series seed -> rho, reason when there is none)."""
    cols, keep, dead = [], [], []
    for (i, cond), x in zip(items, xs):
        v, why = _col(tables[i], cond)
        if why and DEAD in why:
            dead.append(cond)
            continue
        if why:
            return None, why
        cols.append(v.rename(cond))
        keep.append(x)
    if dead and len(cols) < 3:
        return None, f"{', '.join(dead)} {DEAD}; fewer than 3 grid points left"
    y = pd.concat(cols, axis=1)
    y = y[np.isfinite(y.to_numpy(dtype=float)).all(axis=1)]
    if y.empty:
        return None, "not run (no seed has every point: a run diverged)"
    out = pd.Series({s: spearman(keep, row) for s, row in y.iterrows()})
    notes = [f"{', '.join(dead)} left out (dead: every hidden unit constant)"] if dead else []
    partly = {c: n for (i, c) in items for c2, n in tables[i].attrs.get("dead", {}).items() if c2 == c and c not in dead}
    if partly:
        notes.append("seeds left out where a point is dead: " + ", ".join(f"{c} ({n})" for c, n in partly.items()))
    if notes:
        out.attrs["note"] = "; ".join(notes)
    return out, ""


def trend(ev, exp, conds_xs, metric, label, sign=+1, split="test", layer="mean") -> Part:
    """Per-seed Spearman rho of ``metric`` over (condition, x) pairs of one experiment, claimed
    to be a tendency: above ``ASSOCIATION`` (sign +1) or below ``-ASSOCIATION`` (sign -1)."""
    return assoc_of(label, trend_rho(ev, exp, conds_xs, metric, split, layer), sign=sign)


def trend_rho(ev, exp, conds_xs, metric, split="test", layer="mean"):
    """``grid_rho`` over (condition, x) pairs of one experiment: (Series, reason)."""
    return points_rho(ev, [(exp, c, x) for c, x in conds_xs], metric, split, layer)


def points_rho(ev, points, metric, split="test", layer="mean"):
    """``grid_rho`` over (experiment, condition, x) points, which may come from several
    experiments (the wider grids join the dissertation's): (Series, reason)."""
    exps = list(dict.fromkeys(e for e, _, _ in points))
    tables = [ev.table(e, metric, split, layer) for e in exps]
    return grid_rho(tables, [(exps.index(e), c) for e, c, _ in points], [x for *_, x in points])


# The dissertation's grids and the wider ones (section 6.2, ``experiments.wider_grids``): each
# point's experiment, condition and x, in grid order.
def width_points(o, bs, widths=WIDTHS):
    return [("width" if w in WIDTHS else "wider_grids", f"{o} bs={bs} width={w}", w) for w in sorted(widths)]


def depth_points(o, layers=range(1, 6)):
    return [("wider_grids" if k in WIDER_DEPTHS else "hidden_layers", f"{o} HL{k}", k) for k in layers]


def batch_points(o, sizes=BATCH_SIZES):
    return [("batch_size" if b in BATCH_SIZES else "wider_grids", f"{o} bs={b}", b) for b in sorted(sizes)]


ALL_WIDTHS = tuple(sorted(WIDTHS + WIDER_WIDTHS))
ALL_DEPTHS = tuple(range(1, max(WIDER_DEPTHS) + 1))
ALL_BATCHES = tuple(sorted(BATCH_SIZES + WIDER_BATCHES))


def epoch_change(ev, exp, cond, metric, split="test", first=1):
    """Per seed: ``metric`` at the last epoch minus at epoch ``first`` (one run each)."""
    c = ev.curves(exp, cond, metric, split)
    if c is None:
        return None, f"not run ({cond} is not in the store)"
    return c.iloc[-1] - c.loc[first], ""


def rises(ev, exp, cond, metric, label, sign=+1):
    """The tendency across epochs (rule 1): per seed, last epoch minus epoch 1, above 0 (sign
    +1, "rises") or below it (sign -1, "falls")."""
    v, why = epoch_change(ev, exp, cond, metric)
    return stat(label, v, name="last - epoch 1", sign=sign, why=why, digits=3)


def each(metrics, fn):
    """A claim about "sparsity and selectivity": its parts for every metric under test."""
    nodes = [fn(m) for m in metrics]
    if len(nodes) == 1:
        return nodes[0]
    for m, node in zip(metrics, nodes):
        node.label = f"[{SHORT.get(m, m)}]" + (f" {node.label}" if node.label else "")
    return All(nodes)


def pair_of_kinds(metrics):
    """(a sparsity metric, a selectivity metric) from ``metrics``, or None."""
    sp = next((m for m in metrics if kind(m) == "sparsity"), None)
    sel = next((m for m in metrics if kind(m) == "selectivity"), None)
    return (sp, sel) if sp and sel else None


def needs_two(metrics):
    """(sparsity metric, selectivity metric); NotApplicable when ``metrics`` lacks one kind."""
    pair = pair_of_kinds(metrics)
    if not pair:
        raise NotApplicable(f"needs a sparsity and a selectivity metric; got {', '.join(metrics)}")
    return pair


# --- the checks, one per row ------------------------------------------------------------
def c_epoch_tendency(ev, metrics):
    """baseline (Fig 5.1; bullet 2: "begin with a low value and gradually increase", Adagrad
    "begin with a high value and gradually decreases"): per seed, the metric at the last epoch
    minus at epoch 1: > 0 for SGD, Adadelta, Adam; < 0 for Adagrad."""
    return each(metrics, lambda m: All([rises(ev, "baseline", o, m, o, sign=-1 if o == "adagrad" else +1)
                                        for o in OPTIMIZERS]))


def c_condition_changes_tendency(ev, metrics):
    """batch_size (Fig 7.3): per seed, last epoch minus epoch 1: SGD at batch 50 rises (> 0),
    SGD at batch 1 falls (< 0)."""
    return each(metrics, lambda m: All([rises(ev, "batch_size", "sgd bs=50", m, "sgd bs=50"),
                                        rises(ev, "batch_size", "sgd bs=1", m, "sgd bs=1", sign=-1)]))


def c_optimizer_responses(ev, metrics):
    """batch_size: per optimizer, per-seed rho of the metric over batch size; one optimizer
    rises (rho > ASSOCIATION) and another falls (rho < -ASSOCIATION)."""
    def one(m):
        rhos = {o: trend_rho(ev, "batch_size", [(f"{o} bs={b}", b) for b in BATCH_SIZES], m) for o in OPTIMIZERS}
        return All([Any([assoc_of(o, r) for o, r in rhos.items()], "rises with batch size"),
                    Any([assoc_of(o, r, sign=-1) for o, r in rhos.items()], "falls with batch size")])
    return each(metrics, one)


def settling(ev, exp, conds, metric):
    """Per seed, averaged over ``conds``: mean |epoch-to-epoch change| in the first half of
    training minus that in the second half (epochs 1..last; > 0: the values settle)."""
    per = []
    for cond in conds:
        c = ev.curves(exp, cond, metric)
        if c is None:
            return None, f"not run ({cond} is not in the store)"
        steps = c.diff().iloc[1:].abs()
        if len(steps) < 2:
            return None, f"not run (needs 3 or more epochs; {cond} has {len(c)})"
        h = len(steps) // 2
        per.append(steps.iloc[:h].mean() - steps.iloc[-h:].mean())
    return pd.concat(per, axis=1).mean(axis=1, skipna=False), ""


def c_settles(ev, metrics):
    """width, SGD at batch 1 (Fig 7.6), every width: per seed, mean |change| per epoch in the
    first half minus the second half, averaged over widths; > 0 (they settle)."""
    conds = [f"sgd bs=1 width={w}" for w in WIDTHS]
    return each(metrics, lambda m: stat_of("sgd bs=1, widths 64-768", settling(ev, "width", conds, m),
                                           name="early - late |change|", digits=4))


def c_train_test(ev, metrics):
    """baseline, per optimizer, per seed: |train_during - test| at epoch 1 minus at the last epoch
    > 0 (shrinks), and at the last epoch |train_during - test| / |test| < SLIGHT (slight)."""
    def one(m):
        if not ev.recorded("baseline", m, "train_during"):
            raise NotApplicable(f"the during-training capture records no {m}")
        parts = []
        for o in OPTIMIZERS:
            te, tr = ev.curves("baseline", o, m, "test"), ev.curves("baseline", o, m, "train_during")
            if te is None or tr is None:
                parts.append(Part(o, why=f"not run ({o} is not in the store)"))
                continue
            gap = (tr - te).abs()
            parts.append(stat(f"{o} gap shrinks", gap.loc[1] - gap.iloc[-1], name="gap epoch 1 - last", digits=4))
            rel = gap.iloc[-1] / te.iloc[-1].abs()
            parts.append(stat(f"{o} gap slight", rel, name="last gap / test", sign=-1, threshold=SLIGHT))
        return All(parts)
    return each(metrics, one)


def c_together(ev, metrics):
    """Needs a sparsity and a selectivity metric. hidden_layers (Fig 5.4): per seed, the mean
    over runs of Spearman(sparsity, selectivity) over epochs > ASSOCIATION; exceptions exist: any of
    Adadelta batch 1 at some width (Fig 7.6: sparsity up, selectivity down from epoch 1 to the
    last), Adam beta2 0.4 vs 0.7 and SGD momentum 0.9 vs 0.999 (Fig 5.10: the two move in
    opposite directions between the grid points)."""
    pair = sp, sel = needs_two(metrics)
    d = ev._sub("hidden_layers", "test", "mean")
    d = d[d.epoch >= 1]
    if d.empty:
        together = Part("hidden_layers runs", why="not run (no hidden_layers runs)")
    else:
        r = d.groupby(["seed", "condition"]).apply(lambda g: spearman(g[sp], g[sel]), include_groups=False)
        together = assoc("hidden_layers, mean over runs", r.groupby("seed").mean(), name=f"rho({sp}, {sel})")
    alts = []
    for w in WIDTHS:
        cond = f"adadelta bs=1 width={w}"
        alts.append(All([rises(ev, "width", cond, sp, f"{sp} rises"),
                         rises(ev, "width", cond, sel, f"{sel} falls", sign=-1)], cond))
    hp = {m: ev.table("hyperparameters", m) for m in pair}
    alts.append(All([higher(f"{sp} falls", hp[sp], "adam beta2=0.4", hp[sp], "adam beta2=0.7"),
                     higher(f"{sel} rises", hp[sel], "adam beta2=0.7", hp[sel], "adam beta2=0.4")],
                    "adam beta2 0.4 -> 0.7"))
    alts.append(All([higher(f"{sp} rises", hp[sp], "sgd momentum=0.999", hp[sp], "sgd momentum=0.9"),
                     higher(f"{sel} falls", hp[sel], "sgd momentum=0.9", hp[sel], "sgd momentum=0.999")],
                    "sgd momentum 0.9 -> 0.999"))
    return All([together, Any(alts, "exception:")])


def single_class_cost(ev, o) -> Part:
    """The accuracy that single-class batches cost optimizer ``o`` (class_diversity, Fig 5.14):
    shuffled ('original') minus single-class batches drawn with the even drain ('single
    (even)'), the control that keeps each batch's single class but not the uniform draw's runs
    of one class at the end of every epoch, which the test images are measured right after.
    The uniform draw's own difference (the dissertation's runs) is shown beside it; the even
    drain's decides, since it is the one that isolates the class mix the claim is about."""
    acc = ev.table("class_diversity", "accuracy")
    p = higher(f"{o} accuracy cost (even drain)", acc, f"{o} original", acc, f"{o} single (even)")
    if p.why:
        return p
    u = higher("", acc, f"{o} original", acc, f"{o} single")
    seen = (f"{u.text} [{zscore(u.d, u.se)}]" if u.n >= 2 else u.text) if not u.why else u.why
    judged = f"{p.text} [{zscore(p.d, p.se)}]" if p.n >= 2 else p.text
    return Part(p.label, p.d, p.se, p.n, f"{judged}; uniform draw (the dissertation's runs, not judged): {seen}",
                z_in_text=True)


def c_accuracy_together(ev, metrics):
    """(a) batch_size (Fig 7.3): per seed, the mean over runs of Spearman(accuracy, metric) over
    epochs > ASSOCIATION; (b) any of SGD bs=1, Adadelta bs=1/5/10, Adam bs=1: from epoch 1 to the
    last the accuracy rises and the metric falls; (c) class_diversity (Fig 5.14), SGD and Adam:
    single above original in the metric, and original above single in accuracy with the single-
    class batches drawn by the even drain (the control for the uniform draw's end-of-epoch runs
    of one class; the uniform draw's difference is shown, not judged)."""
    def one(m):
        d = ev._sub("batch_size", "test", "mean")
        d = d[d.epoch >= 1]
        r = d.groupby(["seed", "condition"]).apply(lambda g: spearman(g["accuracy"], g[m]), include_groups=False)
        usually = assoc("usually together (batch_size runs)", r.groupby("seed").mean(), name="mean rho(accuracy, metric)")
        lower_later = Any([All([rises(ev, "batch_size", c, "accuracy", "accuracy rises"),
                                rises(ev, "batch_size", c, m, "metric falls", sign=-1)], c)
                           for c in ("sgd bs=1", "adadelta bs=1", "adadelta bs=5", "adadelta bs=10", "adam bs=1")],
                          "exception, metric falls as accuracy rises:")
        t = ev.table("class_diversity", m)
        harm = All([p for o in ("sgd", "adam") for p in (
            higher(f"{o} metric", t, f"{o} single", t, f"{o} original"), single_class_cost(ev, o))],
            "single-class batches:")
        return All([usually, lower_later, harm])
    return each(metrics, one)


def c_accuracy_unaffected(ev, metrics):
    """hidden_layers (Table 5.3), Adam HL1 vs HL5: accuracy within SAME_ACCURACY and the
    metric different (HL5 above or below HL1 by 2 SE)."""
    acc = ev.table("hidden_layers", "accuracy")

    def one(m):
        t = ev.table("hidden_layers", m)
        return All([within("accuracy the same", acc, "adam HL5", acc, "adam HL1", SAME_ACCURACY),
                    Any([higher("HL5 higher", t, "adam HL5", t, "adam HL1"),
                         higher("HL5 lower", t, "adam HL1", t, "adam HL5")], "metric differs:")])
    return each(metrics, one)


def c_cannot_predict(ev, metrics):
    """hidden_layers (Fig 5.5), every run and epoch with accuracy >= WELL_TRAINED x the seed's
    best: per-seed Spearman(accuracy, metric); |mean| < ASSOCIATION."""
    def one(m):
        d = ev._sub("hidden_layers", "test", "mean")
        d = d[(d.epoch >= 1)].dropna(subset=["accuracy", m] if m in d.columns else ["accuracy"])
        rho = {}
        for s, g in d.groupby("seed"):
            g = g[g.accuracy >= WELL_TRAINED * g.accuracy.max()]
            if len(g) >= 5 and m in g.columns:
                rho[s] = spearman(g.accuracy, g[m])
        if not rho:
            return Empty("fewer than 5 well-trained points (runs x epochs) per seed: nothing to correlate",
                         one_seed=d.seed.nunique() < 2)
        return bounded("well-trained runs x epochs", pd.Series(rho, dtype=float), ASSOCIATION,
                       name="rho(accuracy, metric)")
    return each(metrics, one)


def c_keeps_sparsity(ev, metrics):
    """Any of: Adagrad CNN vs MLP (Fig 7.9), Adadelta sorted vs unsorted (Fig 7.10): accuracy at
    least COLLAPSE lower, yet the metric at least KEEPS_SPARSITY x the normal run's."""
    def one(m):
        alts = []
        for exp, bad, good in (("cnn", "adagrad cnn", "adagrad mlp"), ("sorted", "adadelta sorted", "adadelta unsorted")):
            acc, t = ev.table(exp, "accuracy"), ev.table(exp, m)
            drop = higher("accuracy collapses", acc, good, acc, bad)
            drop = Part(drop.label, drop.d - COLLAPSE, drop.se, drop.n, f"{drop.text} (needs > {COLLAPSE:g})",
                        drop.why, drop.dead)
            alts.append(All([drop, higher("metric kept", t, bad, t, good, scale=KEEPS_SPARSITY)], bad))
        return Any(alts)
    return each(metrics, one)


def c_depth(ev, metrics, layers=range(1, 6)):
    """hidden_layers (Fig 5.6): per-seed rho of the metric over 1-5 hidden layers > ASSOCIATION for
    Adadelta and Adam."""
    return each(metrics, lambda m: All([assoc_of(o, points_rho(ev, depth_points(o, layers), m))
                                        for o in ("adadelta", "adam")]))


def c_wider_depth(ev, metrics):
    """hidden_layers and wider_grids (Fig 5.6 widened): per-seed rho of the metric over 1-8 hidden
    layers (6-8 from the wider grid; 256 units, 50 epochs each) > ASSOCIATION for Adadelta and Adam."""
    return c_depth(ev, metrics, ALL_DEPTHS)


def layer_rho(ev, o, metric, layers):
    """Per-seed rho of ``metric`` over the layers of the four-hidden-layer network ``o HL4``."""
    tables = [ev.table("hidden_layers", metric, layer=str(k)) for k in layers]
    return grid_rho(tables, [(i, f"{o} HL4") for i in range(len(layers))], list(layers))


def c_per_layer(ev, metrics):
    """hidden_layers, four hidden layers (Fig 5.7), per-seed rho of the metric over the layers:
    > ASSOCIATION over layers 2-4 for SGD and Adadelta (the dissertation sets layer 1 aside),
    < -ASSOCIATION over 1-4 for Adagrad, |mean| < ASSOCIATION over 1-4 for Adam (no clear
    tendency); a layer dead in every seed is left out."""
    def one(m):
        adam, why = layer_rho(ev, "adam", m, (1, 2, 3, 4))
        return All([assoc_of("sgd layers 2-4", layer_rho(ev, "sgd", m, (2, 3, 4))),
                    assoc_of("adadelta layers 2-4", layer_rho(ev, "adadelta", m, (2, 3, 4))),
                    assoc_of("adagrad layers 1-4", layer_rho(ev, "adagrad", m, (1, 2, 3, 4)), sign=-1),
                    bounded("adam layers 1-4", adam, ASSOCIATION, why=why)])
    return each(metrics, one)


def c_weight_decay(ev, metrics):
    """hyperparameters + baseline (Fig 5.8): per-seed rho of the metric over weight decay 0 (the
    baseline run) and 1e-5 .. 10 < -ASSOCIATION for every optimizer."""
    def one(m):
        base, hp = ev.table("baseline", m), ev.table("hyperparameters", m)
        parts = []
        for o in OPTIMIZERS:
            items = [(0, o)] + [(1, f"{o} weight_decay={v:.3g}") for v in WEIGHT_DECAYS]
            rho, why = grid_rho([base, hp], items, [0.0, *WEIGHT_DECAYS])
            parts.append(assoc(o, rho, why=why, sign=-1))
        return All(parts)
    return each(metrics, one)


def best_lr_index(ev, o, metric):
    """Per seed: the learning-rate grid index (0..14) where ``metric`` is highest, among the
    runs that did not diverge and learned (accuracy above CHANCE: an untrained network's
    sparsity is not what the claim is about; the dissertation sets SGD's lr >= 100 aside)."""
    t, acc = ev.table("hyperparameters", metric), ev.table("hyperparameters", "accuracy")
    conds = [f"{o} lr={v:.3g}" for v in LEARNING_RATES]
    missing = [c for c in conds if c not in t.columns]
    if missing:
        return None, f"not run ({missing[0]} is not in the store)"
    y = np.where(acc[conds].to_numpy(dtype=float) > CHANCE, t[conds].to_numpy(dtype=float), np.nan)
    ok = np.isfinite(y).any(axis=1)
    idx = np.where(ok, np.nanargmax(np.where(np.isfinite(y), y, -np.inf), axis=1), -1)
    return pd.Series(idx[ok], index=t.index[ok], dtype=float), ""


def c_lr_slightly_above(ev, metrics):
    """hyperparameters (Fig 5.9), per optimizer, per seed: k = learning-rate grid steps (x3.73
    each) from the most accurate rate to the one of the highest metric, over the runs that did
    not diverge and learned (accuracy above 0.2); the claim: k is 1 or 2 (at most about a decade above), i.e. the mean k above
    0.5 and below 2.5 by 2 SE each."""
    def one(m):
        parts = []
        for o in OPTIMIZERS:
            acc, why_a = best_lr_index(ev, o, "accuracy")
            met, why_m = best_lr_index(ev, o, m)
            k = None if why_a or why_m else (met - acc).dropna()
            parts.append(stat(f"{o} steps above", k, name="k", why=why_a or why_m,
                              threshold=LR_STEPS[0] - 0.5))
            parts.append(stat(f"{o} not more than {LR_STEPS[1]}", k, name="k", why=why_a or why_m, sign=-1,
                              threshold=LR_STEPS[1] + 0.5))
        return All(parts)
    return each(metrics, one)


def c_lr_sparsity_vs_selectivity(ev, metrics):
    """Needs a sparsity and a selectivity metric. hyperparameters (Fig 5.9): any optimizer whose
    per-seed |grid index of highest sparsity - grid index of highest selectivity| has a mean
    above 0.5 by 2 SE."""
    pair = needs_two(metrics)
    parts = []
    for o in OPTIMIZERS:
        a, why_a = best_lr_index(ev, o, pair[0])
        b, why_b = best_lr_index(ev, o, pair[1])
        gap = None if why_a or why_b else (a - b).abs().dropna()
        parts.append(stat(o, gap, name="|eta1 - eta2| in grid steps", why=why_a or why_b, threshold=0.5))
    return Any(parts)


PAST_GRADIENT = (("sgd momentum", MOMENTA), ("adadelta rho", MOMENTA), ("adam beta1", BETAS), ("adam beta2", BETAS))


def c_past_gradient(ev, metrics):
    """hyperparameters (Fig 5.10): per-seed rho of the metric over the grid up to 0.9 > ASSOCIATION for SGD
    momentum, Adadelta rho, Adam beta1 and beta2; caveat: SGD momentum 0.999 below 0.9 in
    accuracy and in the metric (the dissertation's 'too large gamma')."""
    acc = ev.table("hyperparameters", "accuracy")

    def one(m):
        rise = All([trend(ev, "hyperparameters", [(f"{name}={v:g}", v) for v in grid if v <= 0.9], m, name)
                    for name, grid in PAST_GRADIENT], "rise up to 0.9:")
        t = ev.table("hyperparameters", m)
        caveat = All([higher("accuracy", acc, "sgd momentum=0.9", acc, "sgd momentum=0.999"),
                      higher("metric", t, "sgd momentum=0.9", t, "sgd momentum=0.999")],
                     "too much (momentum 0.999) harms:")
        return All([rise, caveat])
    return each(metrics, one)


def c_batch_small(ev, metrics, sizes=BATCH_SIZES):
    """batch_size (Fig 5.11), SGD and Adam: per-seed rho over batch size < -ASSOCIATION, and batch 1 above
    every other batch size."""
    def one(m):
        parts = []
        for o in ("sgd", "adam"):
            pts = batch_points(o, sizes)
            parts.append(assoc_of(f"{o} rho", points_rho(ev, pts, m), sign=-1))
            t1 = ev.table(pts[0][0], m)
            parts += [higher(f"{o} bs=1 > bs={b}", t1, f"{o} bs=1", ev.table(e, m), c) for e, c, b in pts[1:]]
        return All(parts)
    return each(metrics, one)


def c_batch_optimum(ev, metrics, sizes=BATCH_SIZES):
    """batch_size (Fig 5.11): Adagrad at batch 200 and Adadelta at batch 50 above every other batch size."""
    def one(m):
        t = ev.table("batch_size", m)
        return All([higher(f"{o} bs={best} > bs={b}", t, f"{o} bs={best}", ev.table(e, m), c)
                    for o, best in (("adagrad", 200), ("adadelta", 50)) for e, c, b in batch_points(o, sizes)
                    if b != best])
    return each(metrics, one)


def c_wider_batch_small(ev, metrics):
    """batch_size and wider_grids (Fig 5.11 widened), SGD and Adam: per-seed rho over batch sizes
    1-2,000 (adding 2, 20, 100 and 2,000) < -ASSOCIATION, and batch 1 above every other batch size."""
    return c_batch_small(ev, metrics, ALL_BATCHES)


def c_wider_batch_optimum(ev, metrics):
    """batch_size and wider_grids (Fig 5.11 widened): Adagrad at batch 200 and Adadelta at batch 50
    above every other batch size from 1 to 2,000 (adding 2, 20, 100 and 2,000)."""
    return c_batch_optimum(ev, metrics, ALL_BATCHES)


def c_batch_momentum(ev, metrics):
    """combined (Fig 5.19): with momentum 0.9, SGD at batch 1 below SGD at batch 50."""
    def one(m):
        t = ev.table("combined", m)
        return higher("momentum 0.9: bs=50 > bs=1", t, "sgd momentum=0.9", t, "sgd bs=1 + momentum=0.9")
    return each(metrics, one)


def c_width(ev, metrics, widths=WIDTHS):
    """width (Fig 5.13): per-seed rho of the metric over 64-768 units: > ASSOCIATION for Adagrad,
    Adadelta, Adam at batch 1 and 50; < -ASSOCIATION for SGD at batch 50; SGD at batch 1: >
    ASSOCIATION for a sparsity metric, < -ASSOCIATION for a selectivity metric."""
    def one(m):
        def tr(o, bs, sign):
            return assoc_of(f"{o} bs={bs}", points_rho(ev, width_points(o, bs, widths), m), sign=sign)
        parts = [tr(o, bs, +1) for o in ("adagrad", "adadelta", "adam") for bs in (50, 1)]
        parts.append(tr("sgd", 50, -1))
        parts.append(tr("sgd", 1, +1 if kind(m) == "sparsity" else -1))
        return All(parts)
    return each(metrics, one)


def c_wider_width(ev, metrics):
    """width and wider_grids (Fig 5.13 widened): per-seed rho of the metric over 16-2,048 units
    (adding 16, 32, 1,024 and 2,048): > ASSOCIATION for Adagrad, Adadelta, Adam at batch 1 and 50;
    < -ASSOCIATION for SGD at batch 50; SGD at batch 1: > ASSOCIATION for a sparsity metric,
    < -ASSOCIATION for a selectivity metric."""
    return c_width(ev, metrics, ALL_WIDTHS)


DIVERSITY_X = (("single", 1), ("pair", 2), ("5nums", 5), ("original", 10))


def c_class_diversity(ev, metrics):
    """class_diversity (Fig 5.14): per-seed rho of the metric over classes per batch (single 1,
    pair 2, 5nums 5, original 10) < -ASSOCIATION for SGD and Adam, with a cost in accuracy:
    original above single-class batches drawn by the even drain (the control for the uniform
    draw's end-of-epoch runs of one class; the uniform draw's difference is shown, not judged);
    for Adagrad and Adadelta rho > -ASSOCIATION (no such tendency)."""
    def one(m):
        parts = []
        for o in ("sgd", "adam"):
            parts.append(trend(ev, "class_diversity", [(f"{o} {n}", x) for n, x in DIVERSITY_X], m, f"{o} rho", sign=-1))
            parts.append(single_class_cost(ev, o))
        for o in ("adagrad", "adadelta"):
            rho, why = trend_rho(ev, "class_diversity", [(f"{o} {n}", x) for n, x in DIVERSITY_X], m)
            parts.append(not_falling(f"{o} rho", rho, why=why))
        return All(parts)
    return each(metrics, one)


def diversity_points(o):
    """Classes per batch 1, 2, 3, 4, 5 and 10 (shuffled): class_diversity's and wider_grids' (3, 4)."""
    pts = [("class_diversity", f"{o} {n}", x) for n, x in DIVERSITY_X]
    pts += [("wider_grids", f"{o} {n}", x) for n, x in WIDER_DIVERSITY.items()]
    return sorted(pts, key=lambda p: p[2])


def c_wider_class_diversity(ev, metrics):
    """class_diversity and wider_grids (Fig 5.14 widened): per-seed rho of the metric over 1, 2, 3,
    4, 5 and 10 (shuffled) classes per batch (3 and 4 from the wider grid, in batches of 48)
    < -ASSOCIATION for SGD and Adam; > -ASSOCIATION for Adagrad and Adadelta (no such tendency).
    Claim 18's accuracy cost (shuffled vs single-class) gains no new cells and is not repeated."""
    def one(m):
        parts = [assoc_of(f"{o} rho", points_rho(ev, diversity_points(o), m), sign=-1) for o in ("sgd", "adam")]
        for o in ("adagrad", "adadelta"):
            rho, why = points_rho(ev, diversity_points(o), m)
            parts.append(not_falling(f"{o} rho", rho, why=why))
        return All(parts)
    return each(metrics, one)


def cnn_accuracy(ev):
    """Per optimizer: 'kept' (CNN accuracy above MLP - CNN_KEEPS by 2 SE), 'harmed' (below it by
    2 SE), 'unclear' or the reason it was not run; with one seed the bare difference decides."""
    acc = ev.table("cnn", "accuracy")
    out = {}
    for o in OPTIMIZERS:
        p = higher(o, acc, f"{o} cnn", acc, f"{o} mlp")
        if p.why:
            out[o] = (p.why, p)
            continue
        z = 2 * p.se if p.n >= 2 else 0.0
        out[o] = ("kept" if p.d + CNN_KEEPS > z else "harmed" if -p.d - CNN_KEEPS > z else "unclear", p)
    return out


def _cnn(ev, metrics, group):
    groups = cnn_accuracy(ev)
    note = "; ".join(f"{o} {g} (accuracy {p.text})" for o, (g, p) in groups.items() if not p.why)
    if any(p.why for _, p in groups.values()):
        return next(p for _, p in groups.values() if p.why)
    chosen = [o for o, (g, _) in groups.items() if g == group]
    one_seed = min(p.n for _, p in groups.values()) < 2
    if not chosen:
        return Empty(f"no optimizer's CNN is {group} ({note}): nothing tests this part", one_seed)

    def one(m):
        t = ev.table("cnn", m)
        if group == "kept":
            return All([higher(f"{o} cnn > mlp", t, f"{o} cnn", t, f"{o} mlp") for o in chosen])
        return All([higher(f"{o} cnn not above mlp (lower)", t, f"{o} mlp", t, f"{o} cnn") for o in chosen])
    node = each(metrics, one)
    return All([node], f"accuracy: {note}. Tested:")


def c_cnn_kept(ev, metrics):
    """cnn (Fig 5.17), optimizers whose CNN accuracy is at most CNN_KEEPS below the MLP's (by 2 SE):
    the metric of the FC layer higher with the CNN."""
    return _cnn(ev, metrics, "kept")


def c_cnn_harmed(ev, metrics):
    """cnn (Fig 5.17), optimizers whose CNN accuracy is more than CNN_KEEPS below the MLP's (by
    2 SE): the metric not increased, tested as lower with the CNN (the dissertation's Adagrad)."""
    return _cnn(ev, metrics, "harmed")


def c_sorted(ev, metrics):
    """sorted (Fig 5.18): SGD and Adam sorted above unsorted in the metric and below it in
    accuracy; Adagrad and Adadelta sorted below unsorted (5.11.2: the baseline is higher)."""
    acc = ev.table("sorted", "accuracy")

    def one(m):
        t = ev.table("sorted", m)
        parts = []
        for o in ("sgd", "adam"):
            parts += [higher(f"{o} metric", t, f"{o} sorted", t, f"{o} unsorted"),
                      higher(f"{o} accuracy drops", acc, f"{o} unsorted", acc, f"{o} sorted")]
        parts += [higher(f"{o} no rise (lower)", t, f"{o} unsorted", t, f"{o} sorted") for o in ("adagrad", "adadelta")]
        return All(parts)
    return each(metrics, one)


COMBINED = {"sgd": ("sgd bs=1 + momentum=0.9", "sgd bs=1", "sgd momentum=0.9"),
            "adam": ("adam single + 768 units", "adam 768 units", "adam single")}


def c_combined(ev, metrics):
    """combined (Fig 5.19): for SGD or Adam the combined model above both its parts in the
    metric; and for SGD or Adam the combined model below both parts in accuracy."""
    acc = ev.table("combined", "accuracy")
    worse = Any([All([higher(f"below {p}", acc, p, acc, c) for p in parts], o)
                 for o, (c, *parts) in COMBINED.items()], "accuracy sometimes worse:")

    def one(m):
        t = ev.table("combined", m)
        return Any([All([higher(f"above {p}", t, c, t, p) for p in parts], o) for o, (c, *parts) in COMBINED.items()],
                   "even higher:")
    return All([each(metrics, one), worse])


def c_early_stopping(ev, metrics):
    """batch_size, SGD at batch 1 (Fig 7.3): per seed, the metric after epoch 1 minus at the last
    epoch > 0 (stopping early keeps a higher value)."""
    return each(metrics, lambda m: rises(ev, "batch_size", "sgd bs=1", m, "sgd bs=1 lower at the end", sign=-1))


def fluctuation(c: pd.DataFrame) -> pd.Series:
    """Per seed: mean |loss_e - (loss_{e-1} + loss_{e+1}) / 2| over epochs 2..last-1 (a smooth
    curve scores ~0, a zigzag high)."""
    v = c.to_numpy(dtype=float)
    return pd.Series(np.abs(v[1:-1] - (v[:-2] + v[2:]) / 2).mean(axis=0), index=c.columns)


def _fluct_rho(ev, exp, conds, metric):
    last = ev.table(exp, metric)
    acc = ev.table(exp, "accuracy")
    trained = [c for c in conds if c in acc.columns and np.nanmean(acc[c].to_numpy(dtype=float)) > CHANCE]
    if any(c not in acc.columns for c in conds):
        return None, f"not run ({next(c for c in conds if c not in acc.columns)} is not in the store)"
    if len(trained) < 3:
        return None, "not run (fewer than 3 conditions above chance accuracy)"
    fl = {}
    for c in trained:
        curve = ev.curves(exp, c, "loss")
        if len(curve) < 3:
            return None, f"not run (needs 3 or more epochs; {c} has {len(curve)})"
        fl[c] = fluctuation(curve)
    fl = pd.DataFrame(fl)
    y = last[trained].loc[fl.index]
    rho = {}
    for s in fl.index:
        ok = np.isfinite(fl.loc[s].to_numpy(dtype=float)) & np.isfinite(y.loc[s].to_numpy(dtype=float))
        if ok.sum() >= 3:
            rho[s] = spearman(fl.loc[s][ok], y.loc[s][ok])
    return pd.Series(rho, dtype=float), ""


def c_fluctuation(ev, metrics):
    """SGD runs above chance accuracy (0.2) in three families -- learning rates, momenta (Figs
    5.9, 5.10) and batch sizes (Fig 5.11): per seed, Spearman rho between the test loss's
    fluctuation across epochs (mean |loss_e - (loss_e-1 + loss_e+1) / 2| over epochs 2..last-1,
    a proxy: the runs record one loss per epoch, not the fluctuation during training the claim
    names) and the last-epoch metric; > ASSOCIATION in each family. A proxy decides nothing: the
    verdict is inconclusive, the evidence says where the proxy points (rule 6)."""
    fams = (("learning rate", "hyperparameters", [f"sgd lr={v:.3g}" for v in LEARNING_RATES]),
            ("momentum", "hyperparameters", [f"sgd momentum={v:g}" for v in MOMENTA]),
            ("batch size", "batch_size", [f"sgd bs={b}" for b in BATCH_SIZES]))

    def one(m):
        parts = []
        for name, exp, conds in fams:
            rho, why = _fluct_rho(ev, exp, conds, m)
            parts.append(assoc(name, rho, name="rho(fluctuation, metric)", why=why))
        return All(parts)
    return Proxy(each(metrics, one), "the test loss's zigzag from epoch to epoch stands in for the fluctuation "
                                     "during training, which the runs do not record")


# --- conclusions of sections 5.x that section 6.1 does not repeat -----------------------
CON_KS = (1, 5, 10)


def c_con_batch1(ev, metrics):
    """consecutive (Fig 5.12): for SGD and Adam, every con k (batch 1, k = 1, 5, 10) above the
    batch-50 baseline in the metric."""
    def one(m):
        t = ev.table("consecutive", m)
        return All([higher(f"{o} con {k} > baseline", t, f"{o} con {k}", t, f"{o} baseline")
                    for o in ("sgd", "adam") for k in CON_KS])
    return each(metrics, one)


def c_con_adam_accuracy(ev, metrics):
    """consecutive (Fig 5.12): every Adam con k (batch 1, k = 1, 5, 10) below Adam's batch-50
    baseline in test accuracy."""
    acc = ev.table("consecutive", "accuracy")
    return All([higher(f"adam baseline > con {k}", acc, "adam baseline", acc, f"adam con {k}") for k in CON_KS])


def c_con_no_accuracy_gain(ev, metrics):
    """consecutive (Fig 5.12): for SGD and Adam, con 5 and con 10 not more accurate than con 1:
    accuracy(con k) - accuracy(con 1) below SAME_ACCURACY (rule 4, one-sided)."""
    acc = ev.table("consecutive", "accuracy")
    parts = []
    for o in ("sgd", "adam"):
        for k in CON_KS[1:]:
            parts.append(not_below(f"{o} con {k} no gain", acc, f"{o} con 1", acc, f"{o} con {k}", SAME_ACCURACY))
    return All(parts)


def c_con_sgd_generalises(ev, metrics):
    """consecutive (Fig 5.12): SGD con 1 above every condition of Adagrad, Adadelta and Adam in
    test accuracy (the strictest reading: the dissertation discussed Adam, but says "the other
    optimizers")."""
    acc = ev.table("consecutive", "accuracy")
    return All([higher(f"sgd con 1 > {o} {c}", acc, "sgd con 1", acc, f"{o} {c}")
                for o in ("adagrad", "adadelta", "adam") for c in ("baseline", *(f"con {k}" for k in CON_KS))])


def c_con_sgd_best(ev, metrics):
    """consecutive (Fig 5.12): SGD con 1 better than or similar to every other condition in the
    metric: at most SIMILAR below each (rule 4, one-sided)."""
    conds = [f"{o} {c}" for o in OPTIMIZERS for c in ("baseline", *(f"con {k}" for k in CON_KS))]

    def one(m):
        t = ev.table("consecutive", m)
        parts = []
        for c in conds:
            if c == "sgd con 1":
                continue
            parts.append(not_below(f"vs {c}", t, "sgd con 1", t, c, SIMILAR))
        return All(parts)
    return each(metrics, one)


def c_sgd_bs1000_worst(ev, metrics):
    """batch_size (Fig 5.11): SGD at batch 1000 below every other condition of the experiment
    (every optimizer and batch size) in test accuracy and in the metric."""
    acc = ev.table("batch_size", "accuracy")
    others = [f"{o} bs={b}" for o in OPTIMIZERS for b in BATCH_SIZES if (o, b) != ("sgd", 1000)]

    def one(m):
        t = ev.table("batch_size", m)
        return All([higher(f"{c} > sgd bs=1000", t, c, t, "sgd bs=1000") for c in others])
    return All([All([higher(f"accuracy {c} > sgd bs=1000", acc, c, acc, "sgd bs=1000") for c in others]),
                each(metrics, one)])


def c_sgd_bs1_matches_adaptive(ev, metrics):
    """batch_size (Fig 5.11): SGD at batch 1 better than or similar to every batch size of
    Adagrad, Adadelta and Adam in the metric: at most SIMILAR below each (rule 4, one-sided)."""
    def one(m):
        t = ev.table("batch_size", m)
        parts = []
        for o in ("adagrad", "adadelta", "adam"):
            for b in BATCH_SIZES:
                parts.append(not_below(f"vs {o} bs={b}", t, "sgd bs=1", t, f"{o} bs={b}", SIMILAR))
        return All(parts)
    return each(metrics, one)


def c_width_accuracy(ev, metrics, widths=WIDTHS):
    """width (Fig 5.13): per-seed rho of test accuracy over 64-768 units > ASSOCIATION for every
    optimizer at batch 1 and 50."""
    return All([assoc_of(f"{o} bs={bs}", points_rho(ev, width_points(o, bs, widths), "accuracy"))
                for o in OPTIMIZERS for bs in (50, 1)])


def c_wider_width_accuracy(ev, metrics):
    """width and wider_grids (Fig 5.13 widened): per-seed rho of test accuracy over 16-2,048 units
    > ASSOCIATION for every optimizer at batch 1 and 50."""
    return c_width_accuracy(ev, metrics, ALL_WIDTHS)


def c_cnn_accuracy(ev, metrics):
    """cnn (Fig 5.17): for SGD, Adadelta and Adam (the dissertation's CNN harmed only Adagrad),
    the CNN above the MLP in test accuracy."""
    acc = ev.table("cnn", "accuracy")
    return All([higher(f"{o} cnn > mlp", acc, f"{o} cnn", acc, f"{o} mlp") for o in ("sgd", "adadelta", "adam")])


def c_batch_over_classes(ev, metrics):
    """class_diversity (Fig 5.15): for SGD and Adam, B (batch 1, con 10) above A (single-class
    batches of 10) in the metric."""
    def one(m):
        t = ev.table("class_diversity", m)
        return All([higher(f"{o} B > A", t, f"{o} B: con 10 bs=1", t, f"{o} A: single bs=10") for o in ("sgd", "adam")])
    return each(metrics, one)


# --- the rows ------------------------------------------------------------------------------
@dataclass
class Claim:
    id: str
    bullet: int          # the bullet's place in section 6.1 (1..23); 0: a section 5.x conclusion
    claim: str
    section: str
    figure: str
    chapter: str         # notebook stem(s), comma-separated
    test: str = ""
    check: object = None  # fn(ev, metrics) -> node; None: not checkable
    reason: str = ""      # why not checkable


def _shown(value) -> str:
    """A constant as the page prints it: 0.005, 2, or (1, 2) as '1 or 2'."""
    return " or ".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:g}"


def _test_of(fn) -> str:
    """A check's docstring as the row's test, its tolerances written as numbers."""
    import re
    text = " ".join(fn.__doc__.split())
    for name, (value, _) in TOLERANCES.items():
        text = re.sub(rf"\b{name}\b", _shown(value), text)
    return text


CLAIMS = [
    Claim("1", 1, "The tendency across epochs depends on the optimizer: up for SGD, Adadelta, Adam; down for Adagrad.",
          "5.2", "Fig 5.1", "05_02_baseline", check=c_epoch_tendency),
    Claim("2", 2, "Changing the condition changes the tendency across epochs (e.g. by batch size).",
          "5.6.3", "Fig 7.3", "05_06_batch_size", check=c_condition_changes_tendency),
    Claim("3", 3, "A condition can raise sparsity for one optimizer and lower it for another.",
          "5.6", "Fig 5.11", "05_06_batch_size", check=c_optimizer_responses),
    Claim("4", 4, "Across epochs they rise, fall or fluctuate until they settle at a stable value.",
          "5.8", "Fig 7.6", "05_08_width", check=c_settles),
    Claim("5", 5, "Train and test values differ slightly, and the difference shrinks over epochs.",
          "5.3", "Figs 5.2-5.3", "05_02_baseline", check=c_train_test),
    Claim("6", 6, "Sparsity and selectivity usually rise together, with exceptions where they part.",
          "5.4.3", "Figs 5.4, 7.6, 5.10", "05_04_hidden_layers, 05_08_width, 05_05_hyperparameters",
          check=c_together),
    Claim("7a", 7, "Accuracy, sparsity and selectivity usually rise together; exceptions: sparsity falls as "
          "accuracy still rises, and higher sparsity can harm accuracy.",
          "5.4.4-5.4.5", "Figs 7.3, 5.14", "05_06_batch_size, 05_09_class_diversity", check=c_accuracy_together),
    Claim("7b", 7, "The exceptional cases arise randomly.", "5.4.4", "", "05_04_hidden_layers",
          reason="no criterion separates a 'random' exception from a systematic one; the runs vary "
                 "conditions and three seeds, not chance itself"),
    Claim("8", 8, "Test accuracy is sometimes unaffected while sparsity and selectivity change.",
          "5.4.4", "Fig 5.5, Table 5.3", "05_04_hidden_layers", check=c_accuracy_unaffected),
    Claim("9", 9, "Sparsity and selectivity cannot predict test accuracy, and vice versa.",
          "5.4.4", "Fig 5.5", "05_04_hidden_layers", check=c_cannot_predict),
    Claim("10a", 10, "A network keeps a certain degree of sparsity regardless of its accuracy.",
          "5.10.3, 5.11.3", "Figs 7.9, 7.10", "05_10_cnn, 05_11_sorted", check=c_keeps_sparsity),
    Claim("10b", 10, "This is why over-parameterised networks compress well but small ones train badly (Arora et al.).",
          "6.1", "", "05_10_cnn",
          reason="a speculation: no compressed networks or directly trained small networks are in the runs"),
    Claim("11", 11, "More hidden layers raise sparsity and selectivity for Adadelta and Adam.",
          "5.4.6", "Fig 5.6", "05_04_hidden_layers", check=c_depth),
    Claim("12", 12, "Through the layers they rise (SGD, Adadelta), show no tendency (Adam), fall (Adagrad).",
          "5.4.7", "Fig 5.7", "05_04_hidden_layers", check=c_per_layer),
    Claim("13", 13, "Weight decay harms sparsity and selectivity for all optimizers.",
          "5.5", "Fig 5.8", "05_05_hyperparameters", check=c_weight_decay),
    Claim("14a", 14, "The highest sparsity and selectivity come at a learning rate slightly above the most accurate one.",
          "5.5", "Fig 5.9", "05_05_hyperparameters", check=c_lr_slightly_above),
    Claim("14b", 14, "Sometimes the learning rate of highest sparsity differs from that of highest selectivity.",
          "5.5", "Fig 5.9", "05_05_hyperparameters", check=c_lr_sparsity_vs_selectivity),
    Claim("15", 15, "The more past gradient an update uses (momentum, rho, beta1, beta2), the higher; too much harms.",
          "5.5", "Fig 5.10", "05_05_hyperparameters", check=c_past_gradient),
    Claim("16a", 16, "The smaller the batch, the higher for SGD and Adam (batch 1 best).",
          "5.6", "Fig 5.11", "05_06_batch_size", check=c_batch_small),
    Claim("16b", 16, "The best batch size is 200 for Adagrad and 50 for Adadelta.",
          "5.6", "Fig 5.11", "05_06_batch_size", check=c_batch_optimum),
    Claim("16c", 16, "With momentum, a smaller batch is not guaranteed to help SGD.",
          "5.12", "Fig 5.19", "05_12_combined", check=c_batch_momentum),
    Claim("17", 17, "Wider layers raise sparsity and selectivity, except SGD at batch 50 (both fall) and "
          "SGD at batch 1 (selectivity falls).", "5.8", "Fig 5.13", "05_08_width", check=c_width),
    Claim("18", 18, "Fewer classes per batch raise them for SGD and Adam, at a cost in accuracy; not for "
          "Adagrad and Adadelta.", "5.9", "Fig 5.14", "05_09_class_diversity", check=c_class_diversity),
    Claim("19a", 19, "A conv layer raises sparsity and selectivity of the FC layer where accuracy is maintained.",
          "5.10", "Fig 5.17", "05_10_cnn", check=c_cnn_kept),
    Claim("19b", 19, "Where the conv layer harms accuracy, sparsity and selectivity do not rise.",
          "5.10", "Fig 5.17", "05_10_cnn", check=c_cnn_harmed),
    Claim("20", 20, "Sorted training data raises them for SGD and Adam, at a cost in accuracy; not for "
          "Adagrad and Adadelta.", "5.11", "Fig 5.18", "05_11_sorted", check=c_sorted),
    Claim("21", 21, "Merging two high-sparsity conditions can raise it further, but sometimes costs accuracy.",
          "5.12", "Fig 5.19", "05_12_combined", check=c_combined),
    Claim("22", 22, "Early stopping can give high sparsity and selectivity.",
          "5.6", "Fig 7.3", "05_06_batch_size", check=c_early_stopping),
    Claim("23a", 23, "The more training fluctuates (high lr, large momentum, small batch), the higher.",
          "5.5-5.6", "Figs 5.9-5.11", "05_05_hyperparameters, 05_06_batch_size", check=c_fluctuation),
    Claim("23b", 23, "High fluctuation lets the model reach a flat minimum.", "6.1", "", "05_06_batch_size",
          reason="a speculation: no loss-landscape curvature (flatness) is measured in the runs"),
]

# Conclusions of the experiment sections that section 6.1 does not list; each chapter shows them
# beside the 6.1 bullets it illustrates (``chapter_checks``). Ids are the section's number.
SECTION_CLAIMS = [
    Claim("5.6a", 0, "SGD at batch 1000 has the worst test accuracy, sparsity and selectivity.", "5.6.5",
          "Fig 5.11", "05_06_batch_size", check=c_sgd_bs1000_worst),
    Claim("5.6b", 0, "At batch 1, SGD matches or beats the adaptive optimizers in sparsity and selectivity.",
          "5.6.5", "Fig 5.11", "05_06_batch_size", check=c_sgd_bs1_matches_adaptive),
    Claim("5.7a", 0, "Batch 1 raises sparsity and selectivity above batch 50 for SGD and Adam, whatever the "
          "consecutive same-class run (con 1, 5, 10).", "5.7.3", "Fig 5.12", "05_07_consecutive",
          check=c_con_batch1),
    Claim("5.7b", 0, "Adam at batch 1 is less accurate than at batch 50.", "5.7.2", "Fig 5.12", "05_07_consecutive",
          check=c_con_adam_accuracy),
    Claim("5.7c", 0, "Consecutive same-class images do not help test accuracy (SGD, Adam).", "5.7.2", "Fig 5.12",
          "05_07_consecutive", check=c_con_no_accuracy_gain),
    Claim("5.7d", 0, "SGD con 1 generalises better than the other optimizers.", "5.7.3", "Fig 5.12",
          "05_07_consecutive", check=c_con_sgd_generalises),
    Claim("5.7e", 0, "SGD con 1's sparsity and selectivity are better than or similar to every other condition's.",
          "5.7.3", "Fig 5.12", "05_07_consecutive", check=c_con_sgd_best),
    Claim("5.8a", 0, "Test accuracy rises with the number of hidden units.", "5.8.3", "Fig 5.13", "05_08_width",
          check=c_width_accuracy),
    Claim("5.9b", 0, "Batch 1 does more for sparsity and selectivity than single-class batches (B above A, SGD "
          "and Adam).", "5.9.2-5.9.3", "Fig 5.15", "05_09_class_diversity", check=c_batch_over_classes),
    Claim("5.10a", 0, "An appropriate conv layer raises the test accuracy too (all but Adagrad).", "5.10.4",
          "Fig 5.17", "05_10_cnn", check=c_cnn_accuracy),
]


# The dissertation's trends re-tested on the grids section 6.2 asked for ("a more robust
# relationship ... if there are more experiments"): its own grid joined with the wider grid's
# cells, by the same rule. Ids: the claim's own, with "w" (widened).
WIDER = "06_02_wider_grids"
WIDER_CLAIMS = [
    Claim("11w", 0, "More hidden layers raise sparsity and selectivity for Adadelta and Adam, over 1 to 8 layers.",
          "5.4.6, 6.2", "Fig 5.6", WIDER, check=c_wider_depth),
    Claim("16aw", 0, "The smaller the batch, the higher for SGD and Adam (batch 1 best), over batches of 1 to 2,000.",
          "5.6, 6.2", "Fig 5.11", WIDER, check=c_wider_batch_small),
    Claim("16bw", 0, "The best batch size is 200 for Adagrad and 50 for Adadelta, among batches of 1 to 2,000.",
          "5.6, 6.2", "Fig 5.11", WIDER, check=c_wider_batch_optimum),
    Claim("17w", 0, "Wider layers raise sparsity and selectivity, except SGD at batch 50 (both fall) and SGD at "
          "batch 1 (selectivity falls), over 16 to 2,048 units.", "5.8, 6.2", "Fig 5.13", WIDER, check=c_wider_width),
    Claim("5.8aw", 0, "Test accuracy rises with the number of hidden units, over 16 to 2,048 units.", "5.8.3, 6.2",
          "Fig 5.13", WIDER, check=c_wider_width_accuracy),
    Claim("18w", 0, "Fewer classes per batch raise them for SGD and Adam, not for Adagrad and Adadelta, over 1 to 5 "
          "and 10 classes per batch.", "5.9, 6.2", "Fig 5.14", WIDER, check=c_wider_class_diversity),
]
EVERY_CLAIM = CLAIMS + SECTION_CLAIMS + WIDER_CLAIMS


def _row(claim: Claim, ev: Evidence, metrics) -> dict:
    base = dict(id=claim.id, bullet=claim.bullet, claim=claim.claim, section=claim.section, figure=claim.figure,
                chapter=claim.chapter, test=_test_of(claim.check) if claim.check else "not tested")
    if claim.check is None:
        return dict(base, evidence=claim.reason, verdict=NOT_CHECKABLE)
    try:
        node = claim.check(ev, metrics)
    except NotRun as err:
        return dict(base, evidence=f"not run ({err})", verdict=NOT_RUN)
    except NotApplicable as err:
        return dict(base, evidence=f"n/a: {err}", verdict=NOT_APPLICABLE)
    verdict, evidence = judge(node), describe(node)
    if verdict == NOT_RUN:  # say what is missing, once each, rather than every part's absence
        evidence = "; ".join(dict.fromkeys(missing(node)))
    elif excluded(node):
        evidence = f"Excluded (rule 5): {'; '.join(dict.fromkeys(excluded(node)))}. " + evidence
    if verdict == ONE_SEED:
        evidence += f". One seed: the bare numbers point to '{judge(node, lean=True)}'."
    return dict(base, evidence=evidence, verdict=verdict)


def checks(scale="smoke", store=None, seeds=None, metrics=("sparsity", "selectivity_avg"),
           ev: Evidence | None = None, ids=None) -> pd.DataFrame:
    """Every 6.1 bullet with the test our runs make of it, the numbers and the verdict.

    ``metrics``: the values a claim about "sparsity and selectivity" is tested on (every part
    on each of them); the dissertation's are Hoyer (``sparsity``) and CCMAS
    (``selectivity_avg``). A check that relates a sparsity to a selectivity metric needs one
    of each, else it is "not run". Columns: id, bullet, claim, section, figure, chapter (the
    notebook stem(s) of our chapter), test, evidence, verdict. ``ids``: only these rows (of
    ``CLAIMS``, ``SECTION_CLAIMS`` and ``WIDER_CLAIMS``), in that order.
    """
    ev = ev or Evidence(scale, store, seeds)
    pool = CLAIMS if ids is None else [c for i in ids for c in EVERY_CLAIM if c.id == i]
    return pd.DataFrame([_row(c, ev, tuple(metrics)) for c in pool])


BY_METRIC = {"Hoyer": "sparsity", "Gini": "gini", "CCMAS": "selectivity_avg",
             "informedness": "informedness", "AUROC": "auroc"}


def by_metric(scale="smoke", store=None, seeds=None, metrics=BY_METRIC, ev: Evidence | None = None,
              ids=None) -> pd.DataFrame:
    """Claim x metric: each claim's verdict tested on one metric at a time (Hoyer and Gini for
    sparsity; CCMAS, maximum informedness and AUROC for selectivity). The metrics measure
    different properties of a code (maximum informedness: how well one unit's threshold tells
    its best class from the rest; CCMAS: how far its preferred class's mean activation stands
    above the others'), so a verdict that differs between them says the claim depends on which
    property is measured, not that one metric is biased. ``ids``: only these claims (as
    ``checks``)."""
    ev = ev or Evidence(scale, store, seeds)
    cols = {}
    for name, m in metrics.items():
        t = checks(scale, store, seeds, metrics=(m,), ev=ev, ids=ids)
        cols[name] = t.verdict.to_numpy()
    out = pd.DataFrame(cols, index=pd.Index(t.id + " " + t.claim, name="claim"))
    return out


def chapter_checks(chapter: str, scale="smoke", store=None, seeds=None, ev: Evidence | None = None) -> pd.DataFrame:
    """The claims a chapter (notebook stem) illustrates: its section's own conclusions
    (``SECTION_CLAIMS``), the 6.1 bullets that name it and, for the wider grids' chapter, the
    dissertation's trends re-tested on the widened grids (``WIDER_CLAIMS``). One row per claim: id, claim,
    section, figure, test, evidence and verdict under the dissertation's two metrics (as
    ``checks``), then the verdict under each metric alone (``by_metric``'s columns). A claim
    about accuracy alone has the same verdict under every metric."""
    ids = [c.id for c in SECTION_CLAIMS + CLAIMS + WIDER_CLAIMS if chapter in c.chapter.split(", ")]
    if not ids:
        raise ValueError(f"no claim names chapter {chapter!r}; chapters with claims: "
                         f"{', '.join(sorted({s for c in EVERY_CLAIM for s in c.chapter.split(', ')}))}")
    if ev is None:
        from .store import Store
        store = store if isinstance(store, Store) else Store(store)
        ev = Evidence(scale, store, seeds)
    main = checks(scale, store, seeds, ev=ev, ids=ids)
    per = by_metric(scale, store, seeds, ev=ev, ids=ids).reset_index(drop=True)
    return pd.concat([main[["id", "claim", "section", "figure", "test", "evidence", "verdict"]], per], axis=1)


COLOURS = {HOLDS: "background-color: #d4edda", FAILS: "background-color: #f8d7da", UNSURE: "background-color: #e2e3e5",
           ONE_SEED: "background-color: #eeeeee", NOT_RUN: "background-color: #fff3cd",
           NOT_APPLICABLE: "color: #6c757d", NOT_CHECKABLE: "font-style: italic"}
MARKERS = (f"{NOT_RUN}: a run the check needs is not in the store at this scale (or diverged); "
           f"{NOT_APPLICABLE}: the check cannot be made on this metric (relating sparsity to selectivity needs one "
           f"metric of each; the during-training capture records no informedness or AUROC); {NOT_CHECKABLE}: a "
           f"speculation, or no criterion stored runs can test. A condition whose hidden layer is entirely dead "
           f"(every unit constant) is excluded from sparsity and selectivity evidence, and the numbers say so.")


def colour(verdict: str) -> str:
    """The CSS a verdict's table cell gets (green holds, red does not, grey undecided, ...)."""
    return COLOURS.get(verdict, "")


def folded(text: str) -> str:
    """Evidence as HTML: escaped, and when long its first words with the rest on click."""
    import html
    if len(text) < 160:
        return html.escape(text)
    return f"<details><summary>{html.escape(text[:120])}...</summary>{html.escape(text)}</details>"


def claims_view(table: pd.DataFrame):
    """``chapter_checks``'s table as a chapter shows it: a pandas Styler with the claim, where the
    dissertation makes it, the numbers (folded when long) and the verdicts, coloured."""
    import html
    metrics = [c for c in table.columns if c in BY_METRIC]
    shown = pd.DataFrame({"#": table.id, "claim": table.claim.map(html.escape),
                          "dissertation": (table.section + "; " + table.figure).str.strip("; ").map(html.escape),
                          "numbers (Hoyer and CCMAS)": table.evidence.map(folded),
                          "Hoyer and CCMAS": table.verdict, **{m: table[m] for m in metrics}})
    left = [{"selector": "td, th", "props": "text-align: left; vertical-align: top"}]
    return (shown.style.hide(axis="index").map(colour, subset=["Hoyer and CCMAS", *metrics])
            .set_table_styles(left).set_caption(html.escape(MARKERS)))


def rule() -> str:
    """The verdict rule as the module docstring states it (for the chapter), followed by every
    tolerance and cut-off it names, with the value the checks use (from ``TOLERANCES``)."""
    text = __doc__.split("Verdict rule\n------------\n", 1)[1].strip()
    # a list, not a pipe table: the chapter shows this as a Markdown output, which renders no tables
    rows = "\n".join(f"- `{name}` = {_shown(value)}: {meaning}" for name, (value, meaning) in TOLERANCES.items())
    return f"{text}\n\nThe tolerances and cut-offs, as the checks use them:\n\n{rows}"
