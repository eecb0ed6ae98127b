"""Generalization from train and test loss (section 6.3.3), and how it goes with sparsity and
selectivity.

The dissertation measured generalization by test accuracy alone and proposed (6.3.3) to read
the training and test loss too, sorting runs into the three patterns of its Fig 6.1: both losses
fall (good generalization), the test loss climbs back while the training loss keeps falling
(over-fitting, where early stopping would help), or the test loss hardly falls at all.

Every run records, after every epoch and at epoch 0 (before training), the loss and accuracy
of a clean pass over the training set (split ``train``) and over the test set (``test``), with
the hidden layers' metrics. ``run_measures`` turns those rows into one row per run:

* ``gap``: test loss minus training loss at the last epoch (nats per image);
* ``accuracy_gap``: training minus test accuracy at the last epoch (fraction);
* ``rise``: the test loss at the last epoch minus its minimum over epochs (nats per image):
  how far it climbed back after its best epoch;
* ``best_epoch``: the epoch of that minimum (where stopping early on the test loss would stop);
* ``pattern``: Fig 6.1's three cases (``pattern()``), or 'diverged';
* the last epoch's test metrics, and each metric's change from the best epoch to the last
  (``<metric>_after_best``).

``rank_table`` then asks, per seed, whether the conditions that end sparser or more selective
also generalize better (Spearman rho over conditions), pooled, within each optimizer, and
with test accuracy held fixed (a partial rank correlation).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .findings import ASSOCIATION, Z, _mse, spearman
from .summary import CHANCE

RISE = 0.1   # over-fitting: the test loss ends more than 10 % above its minimum over epochs
STALL = 0.5  # poor: the test loss never fell below half its value before training
PATTERNS = {
    "good": "both losses fall to the end (or the test loss ends within 10 % of its best)",
    "over-fitting": "the test loss ends more than 10 % above its minimum while training goes on",
    "poor": "the test loss never fell below half its value before training",
    "diverged": "the loss became infinite or NaN",
}
# the generalization measures a table's rows name: higher accuracy is better, a higher gap or rise worse
MEASURES = {"accuracy": "test accuracy", "gap": "loss gap, test - train", "rise": "test-loss rise past its minimum"}
METRICS = ("sparsity", "gini", "selectivity_avg", "informedness", "auroc")  # summary.ROBUSTNESS's order


def pattern(test_loss, rise: float = RISE, stall: float = STALL) -> str:
    """Fig 6.1's pattern of one run's test loss over epochs (a sequence, epoch 0 first).

    'diverged' when any value is not finite; 'poor' when its minimum stays above ``stall`` x its
    first value; 'over-fitting' when its last value exceeds its minimum by more than ``rise`` x
    that minimum; else 'good'."""
    v = np.asarray(test_loss, dtype=float)
    if not len(v) or not np.isfinite(v).all():
        return "diverged"
    lo = v.min()
    if lo > stall * v[0]:
        return "poor"
    return "over-fitting" if v[-1] - lo > rise * lo else "good"


def run_measures(df: pd.DataFrame, metrics=METRICS, layer: str = "mean") -> pd.DataFrame:
    """One row per run of tidy results (``summary.results``; several experiments may be
    concatenated: a run shared by two of them is counted once, under the first).

    Columns: experiment, condition, optimizer, seed, run_key, epochs, pattern, gap,
    accuracy_gap, rise, best_epoch, accuracy, loss, each of ``metrics`` at the last epoch, its
    change from the best epoch to the last (``<metric>_after_best``, and
    ``accuracy_after_best``), and ``dead`` (the layer's dead fraction is 1 at the last epoch).
    Losses in nats per image, accuracies as fractions; a diverged run's measures are NaN."""
    missing = {"run_key", "epoch", "split", "layer", "loss", "accuracy"} - set(df.columns)
    if missing:
        raise ValueError(f"run_measures needs the columns of summary.results; missing {sorted(missing)}")
    d = df[df.layer == layer]
    test = d[d.split == "test"].drop_duplicates(["run_key", "epoch"])
    train = d[d.split == "train"].drop_duplicates(["run_key", "epoch"]).set_index(["run_key", "epoch"])
    rows = []
    for key, g in test.groupby("run_key", sort=False):
        g = g.sort_values("epoch")
        last = g.iloc[-1]
        loss = g["loss"].to_numpy(dtype=float)
        kind = pattern(loss)
        if kind == "diverged":
            gap = acc_gap = rise = best = math.nan
            at_best = None
        else:
            i = int(np.argmin(loss))
            at_best = g.iloc[i]
            best, rise = int(at_best.epoch), float(loss[-1] - loss[i])
            tr = train.loc[(key, int(last.epoch))] if (key, int(last.epoch)) in train.index else None
            gap = float(last.loss - tr["loss"]) if tr is not None else math.nan
            acc_gap = float(tr["accuracy"] - last.accuracy) if tr is not None else math.nan
        row = dict(experiment=last.get("experiment"), condition=last.get("condition"),
                   optimizer=last.get("optimizer"), seed=last.get("seed"), run_key=key,
                   epochs=int(last.epoch), pattern=kind, gap=gap, accuracy_gap=acc_gap, rise=rise,
                   best_epoch=best, accuracy=float(last.accuracy), loss=float(last.loss),
                   dead=bool(last.get("dead_fraction", 0) >= 1))
        for m in ("accuracy", *metrics):
            v = float(last[m]) if m in last and pd.notna(last[m]) else math.nan
            row[m] = v
            row[f"{m}_after_best"] = v - float(at_best[m]) if at_best is not None and m in at_best else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def learned(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose code and loss can be compared: above ``summary.CHANCE`` test accuracy,
    neither diverged nor 'poor' (a test loss that never fell below half its start: at the
    learning-rate grid's extremes such runs reach some accuracy with losses of 10^3-10^4
    nats, their lowest often before training), hidden layer not dead."""
    return runs[(runs.accuracy > CHANCE) & ~runs.pattern.isin(["diverged", "poor"]) & ~runs.dead.astype(bool)]


def partial_spearman(x, y, z) -> float:
    """The rank correlation of ``x`` and ``y`` with ``z`` held fixed:
    (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)) on Spearman's r (``findings.spearman``);
    NaN when ``z`` or either of the others is a perfect rank function of it."""
    rxy, rxz, ryz = spearman(x, y), spearman(x, z), spearman(y, z)
    if not all(np.isfinite([rxy, rxz, ryz])) or max(abs(rxz), abs(ryz)) > 1 - 1e-12:  # |r| = 1 up to rounding
        return math.nan
    return (rxy - rxz * ryz) / math.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))


def _mean_se(v: pd.Series) -> tuple[float, float]:
    """Mean and SE over seeds (``findings._mse``: population std / sqrt(n), as
    ``summary.mean_se``); the SE is NaN with one seed (no error bar), both NaN with none."""
    mean, se, n = _mse(v)
    return mean, (se if n > 1 else math.nan)


def _per_seed(runs, fn) -> pd.Series:
    return pd.Series({s: fn(g) for s, g in runs.groupby("seed")}, dtype=float)


def rank_table(runs: pd.DataFrame, measures=tuple(MEASURES), metrics=METRICS, how: str = "pooled",
               min_points: int = 5) -> pd.DataFrame:
    """Per seed, Spearman rho between each generalization measure and each metric over the
    runs of that seed (one run per condition), then mean and SE over seeds.

    ``how``: 'pooled' (every run of the seed), 'within' (rho within each optimizer's runs,
    averaged over the optimizers with at least ``min_points`` runs: differences between
    optimizers left out), or 'partial' (test accuracy held fixed; not for the accuracy measure).
    Returns rows = measures, columns <metric> (mean rho), <metric>_se, <metric>_n (seeds) and
    ``points`` (runs per seed, the smallest)."""
    if how not in ("pooled", "within", "partial"):
        raise ValueError(f"how={how!r}: use 'pooled', 'within' or 'partial'")

    def rho(g, y, m):
        g = g[np.isfinite(g[y].to_numpy(float)) & np.isfinite(g[m].to_numpy(float))]
        if how == "within":
            per = [spearman(o[y], o[m]) for _, o in g.groupby("optimizer") if len(o) >= min_points]
            per = [r for r in per if np.isfinite(r)]
            return float(np.mean(per)) if per else math.nan
        if len(g) < min_points:
            return math.nan
        return partial_spearman(g[y], g[m], g["accuracy"]) if how == "partial" else spearman(g[y], g[m])

    out = []
    for y in measures:
        row = dict(measure=y)
        for m in metrics:
            v = _per_seed(runs, lambda g: rho(g, y, m)).dropna()
            if how == "partial" and y == "accuracy":
                v = v.iloc[:0]
            row[m], row[f"{m}_se"] = _mean_se(v)
            row[f"{m}_n"] = len(v)
        row["points"] = int(runs.groupby("seed").size().min()) if len(runs) else 0
        out.append(row)
    return pd.DataFrame(out).set_index("measure")


def pm(value: float, se: float, digits: int = 2) -> str:
    """'+0.56 ± 0.01'; '+0.56 (one seed)' without an SE; 'n/a' without a value."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f} ± {se:.{digits}f}" if np.isfinite(se) else f"{value:+.{digits}f} (one seed)"


def rho_view(table: pd.DataFrame, names=None) -> pd.DataFrame:
    """``rank_table`` as text cells (``pm``), columns named by ``names`` ({metric: words})."""
    names = names or {}
    cells = {}
    for m in [c for c in table.columns if f"{c}_se" in table.columns]:
        cells[names.get(m, m)] = [pm(r, s) for r, s in zip(table[m], table[f"{m}_se"])]
    return pd.DataFrame(cells, index=[MEASURES.get(i, i) for i in table.index])


def rho_words(rho: float, se: float) -> str:
    """'+0.561 ± 0.010, strong'; '+0.561 (one seed)' (``pm``, then ``strength``): three digits,
    so a value by a cut-off (-0.497, weak) does not read as on it."""
    return pm(rho, se, 3) + (f", {strength(rho, se)}" if np.isfinite(rho) and np.isfinite(se) else "")


def strength(rho: float, se: float) -> str:
    """A mean rank correlation in one word, by the findings chapter's cut-offs: 'strong' beyond
    +-``findings.ASSOCIATION`` and ``findings.Z`` SE; 'weak' beyond Z SE only; 'unclear'
    within Z SE of zero; 'one seed' without an SE."""
    if not np.isfinite(rho):
        return "not measurable"
    if not np.isfinite(se):
        return "one seed"
    if abs(rho) <= Z * se:
        return "unclear"
    return "strong" if abs(rho) > ASSOCIATION else "weak"


def control_words(tables: dict, metric: str, measure: str = "gap") -> str:
    """How one metric's rho fares under the controls: ``tables`` {name: ``rank_table``}, the
    first the reference (pooled), e.g. 'pooled +0.56, within each optimizer +0.56, accuracy
    held fixed +0.48: keeps its sign and at least half its size under both'."""
    (ref_name, ref), *rest = tables.items()
    r0 = ref.at[measure, metric]
    vals = [f"{name} {t.at[measure, metric]:+.2f}" for name, t in tables.items()]
    if not np.isfinite(r0) or any(not np.isfinite(t.at[measure, metric]) for _, t in rest):
        return ", ".join(vals)
    others = [t.at[measure, metric] for _, t in rest]
    if all(np.sign(r) == np.sign(r0) and abs(r) >= abs(r0) / 2 for r in others):
        verdict = "keeps its sign and at least half its size under " + ("both" if len(others) == 2 else "each")
    elif all(np.sign(r) == np.sign(r0) for r in others):
        verdict = "keeps its sign but loses more than half its size under " + " or ".join(
            name for (name, t) in rest if abs(t.at[measure, metric]) < abs(r0) / 2)
    else:
        verdict = "changes sign under " + " and ".join(
            name for (name, t) in rest if np.sign(t.at[measure, metric]) != np.sign(r0))
    return ", ".join(vals) + ": " + verdict


def pattern_counts(runs: pd.DataFrame, by="experiment") -> pd.DataFrame:
    """Runs per ``PATTERNS`` pattern for each ``by`` value (a row 'all' at the end)."""
    t = runs.groupby([by, "pattern"]).size().unstack(fill_value=0)
    t = t.reindex(columns=[p for p in PATTERNS if p != "diverged" or p in t.columns], fill_value=0)
    t.loc["all"] = t.sum()
    return t


def after_best(runs: pd.DataFrame, metrics=("accuracy", *METRICS), by="experiment") -> pd.DataFrame:
    """What training past the test loss's minimum did: per seed, the mean over runs of each
    metric's change from the best epoch to the last, then mean and SE over seeds, per ``by``
    value (columns <metric>, <metric>_se, plus best_epoch and epochs: the mean epochs)."""
    rows = []
    for key, g in runs.groupby(by, sort=False):
        row = {by: key}
        for m in metrics:
            row[m], row[f"{m}_se"] = _mean_se(g.groupby("seed")[f"{m}_after_best"].mean().dropna())
        row["best_epoch"], row["epochs"] = g.best_epoch.mean(), g.epochs.mean()
        rows.append(row)
    return pd.DataFrame(rows).set_index(by)


def load(scale: str = "smoke", store=None, seeds=None, device="auto", train_missing: bool = True,
         names=None) -> tuple[pd.DataFrame, dict]:
    """The tidy rows (``summary.results``; hidden-layer mean, train and test splits only) of
    every experiment in ``names`` (default: the dissertation's ten), and {experiment: runs not
    in the store}. With ``train_missing`` the missing runs are trained first (``summary.load``);
    without, each experiment contributes the runs it has."""
    from .experiments import DISSERTATION, cells
    from .store import Store
    from .summary import load as load_one, results
    store = store if isinstance(store, Store) else Store(store)
    frames, missing = [], {}
    for e in names or DISSERTATION:
        d = (load_one(e, scale, store, seeds, device) if train_missing
             else results(e, scale, store, seeds, missing="drop"))
        keys = {c.spec.key for c in cells(e, scale, seeds)}
        if len(keys) > d.run_key.nunique():
            missing[e] = len(keys) - d.run_key.nunique()
        frames.append(d[(d.layer == "mean") & d.split.isin(["train", "test"])])
    return pd.concat(frames, ignore_index=True), missing


def condition_words(runs: pd.DataFrame, condition: str) -> str:
    """One condition's runs in words: its patterns over seeds, the epoch of the lowest test
    loss, how far the test loss climbed after it and the last epoch's loss gap (mean +/- SE)."""
    g = runs[runs.condition == condition]
    if not len(g):
        return "not run"
    kinds = g.pattern.value_counts()
    n = len(g)
    said = "; ".join(f"{k} in {v} of {n} seed{'s' if n > 1 else ''}" for k, v in kinds.items())

    def pm(col, digits):
        v = g[col].dropna()
        if not len(v):
            return "n/a"
        if len(v) == 1:
            return f"{v.iloc[0]:.{digits}f}"
        return f"{v.mean():.{digits}f} ± {v.std(ddof=0) / math.sqrt(len(v)):.{digits}f}"
    return (f"{said}; lowest test loss at epoch {pm('best_epoch', 1)} of {int(g.epochs.max())}, the last "
            f"epoch's {pm('rise', 3)} nats above it; loss gap {pm('gap', 3)} nats")


def direction_words(table: pd.DataFrame, measure: str, names: dict, up: str, down: str) -> str:
    """Which way ``measure`` goes as each metric rises, from a ``rank_table``: e.g. 'larger by
    Hoyer sparsity and CCMAS selectivity; smaller by AUROC' (``up``/``down``: the words for a
    positive/negative mean rho). Only metrics whose rho is clear of zero (``strength`` not
    'unclear'; with one seed, any non-zero rho) are named; the rest are listed as unclear."""
    sides = {up: [], down: [], "unclear": []}
    for m, words in names.items():
        r = table.at[measure, m] if m in table.columns else math.nan
        if not np.isfinite(r):
            continue
        if r == 0 or strength(r, table.at[measure, f"{m}_se"]) == "unclear":
            sides["unclear"].append(words)
        else:
            sides[up if r > 0 else down].append(words)

    def listed(xs):
        return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]
    said = [f"{side} by {listed(xs)}" for side, xs in sides.items() if xs and side != "unclear"]
    if sides["unclear"]:
        said.append(f"unclear by {listed(sides['unclear'])}")
    return "; ".join(said) if said else "not measurable (too few runs that learned)"
