"""Results as tidy DataFrames, and their mean +/- standard error over seeds.

``results(experiment, scale)`` joins an experiment's grid with the store: one row per
(cell, epoch, split, layer). ``mean_se`` aggregates over seeds the dissertation's way
(SE = population std / sqrt(n)); a diverged seed is counted, not averaged in silently.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .experiments import GROUPS, cells as grid_cells
from .metrics import FIELDS
from .store import Store, code_version

METRICS = ("accuracy", "loss", *FIELDS)
# The columns of format 1 first, unchanged; then every other metric of the test split, and the
# trainer that made the run. A run that lacks a metric (computed before it existed) has it empty.
EXPORT_COLUMNS = ("experiment", "condition", "optimizer", "seed", "epoch", "layer", "test_accuracy",
                  "test_loss", "train_loss", "sparsity", "sparsity_std", "selectivity_avg",
                  "selectivity_std", "train_accuracy", "train_sparsity", "train_selectivity_avg",
                  "diverged", "param", "value", "batch_size", "hidden", "lr", "order", "order_k",
                  "epochs", "train_size", "test_size", "run_key", "code_version",
                  *[f for f in FIELDS if f not in ("sparsity", "sparsity_std", "selectivity_avg", "selectivity_std")],
                  "trainer")
# The metrics a chapter's "does the effect survive other metrics" table compares: the
# dissertation's two and one respected alternative to each (see the metrics chapter).
ROBUSTNESS = {"sparsity": "Hoyer sparsity", "gini": "Gini sparsity", "selectivity_avg": "CCMAS selectivity",
              "informedness": "max informedness", "auroc": "AUROC"}


def results(experiment: str, scale: str = "smoke", store: Store | None = None, seeds=None,
            missing: str = "raise", **only) -> pd.DataFrame:
    """Tidy rows of ``experiment`` at ``scale`` from ``store``.

    Columns: experiment, condition, param, value, run_key, the spec fields, code_version,
    diverged, epoch, split, layer and the metrics. ``missing``: 'raise' (default) names the
    runs not yet in the store and the command that computes them; 'drop' leaves them out.
    """
    store = store or Store()
    cs = grid_cells(experiment, scale, seeds, **only)
    keys = [c.spec.key for c in cs]
    runs = store.runs(keys)
    absent = sorted(set(keys) - set(runs.key))
    if absent and missing == "raise":
        raise LookupError(f"{len(absent)} of {len(set(keys))} runs of {experiment!r} at scale {scale!r} "
                          f"are not in {store.path}; compute them with: "
                          f"sparsel run {experiment} --scale {scale} --store {store.path}")
    grid = pd.DataFrame([dict(experiment=c.experiment, condition=c.condition, run_key=c.spec.key,
                              param=c.meta.get("param"), value=c.meta.get("value")) for c in cs])
    df = grid.merge(runs.rename(columns={"key": "run_key"}), on="run_key", how="inner")
    rec = store.records(runs.key).rename(columns={"key": "run_key"})
    return df.merge(rec, on="run_key", how="inner")


def export_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, epoch, layer) with test metrics and train loss/accuracy/metrics beside."""
    test = df[df.split == "test"].rename(columns={"accuracy": "test_accuracy", "loss": "test_loss"})
    train = df[df.split == "train"][["run_key", "condition", "epoch", "layer", "loss", "accuracy",
                                     "sparsity", "selectivity_avg"]]
    train = train.rename(columns={"loss": "train_loss", "accuracy": "train_accuracy",
                                  "sparsity": "train_sparsity", "selectivity_avg": "train_selectivity_avg"})
    out = test.merge(train, on=["run_key", "condition", "epoch", "layer"], how="left")
    out["diverged"] = out["diverged"].astype(bool)
    out["hidden"] = out["hidden"].map(lambda h: "x".join(map(str, h)))
    return out[[c for c in EXPORT_COLUMNS if c in out.columns]].sort_values(
        ["experiment", "condition", "seed", "epoch", "layer"]).reset_index(drop=True)


def mean_se(df: pd.DataFrame, by=("condition", "epoch"), metrics=METRICS) -> pd.DataFrame:
    """Mean and SE over seeds for each group ``by``: columns <metric>, <metric>_se, n, n_diverged.

    NaN values (diverged seeds, unmeasured metrics) are left out of each metric's mean and
    SE; ``n`` counts the seeds of the group and ``n_diverged`` those that diverged, so a
    reader sees when a mean rests on fewer seeds than ``n``. ``n_dead`` counts the seeds whose
    layer is entirely dead (``dead_fraction`` >= 1: every unit constant over the images): their
    sparsity and selectivity are what the formulas give a frozen layer (Hoyer of a constant
    pattern, CCMAS 0 by its epsilon), kept as stored; ``is_dead``/``state`` read it.
    """
    by = list(by)
    rows = []
    for key, g in df.groupby(by, sort=False, dropna=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            v = g[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            row[m] = v.mean() if len(v) else np.nan
            row[f"{m}_se"] = v.std(ddof=0) / np.sqrt(len(v)) if len(v) else np.nan
        row["n"] = int(g["seed"].nunique()) if "seed" in g else len(g)
        row["n_diverged"] = int(g.loc[g["diverged"].astype(bool), "seed"].nunique()) if "diverged" in g else 0
        if "dead_fraction" in g:
            dead = g["dead_fraction"].to_numpy(dtype=float) >= 1
            row["n_dead"] = int(g.loc[dead, "seed"].nunique()) if "seed" in g else int(dead.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def last_epoch(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of each run's final epoch."""
    return df[df.epoch == df.epochs]


def load(experiment: str, scale: str = "smoke", store=None, seeds=None, device="auto",
         train_missing: bool = True, progress: bool = False, **only) -> pd.DataFrame:
    """What a chapter calls: make sure the runs exist (training only the missing ones), then
    return ``results(...)``. With ``train_missing=False`` a missing run raises LookupError
    naming the command that computes it.
    """
    from .sweep import run_cells
    store = store if isinstance(store, Store) else Store(store)
    if train_missing:
        run_cells(grid_cells(experiment, scale, seeds, **only), store, device=device, progress=progress)
    return results(experiment, scale, store, seeds, **only)


def unit_profile(spec, store=None, device="auto") -> dict:
    """The unit profile of ``spec``'s trained network (``train.unit_profile``) from the store,
    trained and stored when absent (a read-only store is left as it is). Returns
    dict(means=[numpy [10, N] per hidden layer], counts=numpy [10], code_version, trainer,
    device, torch)."""
    from .train import unit_profile as compute
    store = store if isinstance(store, Store) else Store(store)
    got = store.profile(spec.key)
    if got is None:
        got = compute(spec, device=device)
        if not store.readonly:
            store.put_profile(spec.key, got)
            return store.profile(spec.key)
        got = dict(got, means=[m.numpy() for m in got["means"]], counts=got["counts"].numpy(),
                   code_version=code_version(), trainer="reference")
    return got


def table(df: pd.DataFrame, split="test", layer="mean", by=("condition", "epoch")) -> pd.DataFrame:
    """``mean_se`` of one split and layer, keeping the grid columns (optimizer, param, value...)."""
    sub = df[(df.split == split) & (df.layer == layer)]
    keep = [c for c in ("experiment", "condition", "param", "value", "optimizer", "batch_size", "hidden",
                        "order", "order_k", "epochs", "model", "k", "p") if c in sub.columns and c not in by]
    ms = mean_se(sub, by)
    info = sub.drop_duplicates(list(by))[list(by) + keep]
    return ms.merge(info, on=list(by), how="left")


def last_table(df: pd.DataFrame, split="test", layer="mean") -> pd.DataFrame:
    """``table`` at each run's final epoch, one row per condition (indexed by condition)."""
    return table(last_epoch(df), split, layer, by=("condition",)).set_index("condition", drop=False)


def effect_table(last: pd.DataFrame, pairs, metrics=ROBUSTNESS) -> pd.DataFrame:
    """Does an effect survive other metrics? For each (label, condition a, condition b) and
    metric: a - b (mean over seeds), its combined SE, and the direction. ``last``: a
    ``last_table`` (indexed by condition, with ``<metric>_se`` columns).

    Direction: 'higher' / 'lower' when |a - b| exceeds twice the combined SE (needs 2+ seeds
    each), 'no clear difference' within it, 'one seed' when there is no error bar, 'not run'
    when a condition is missing or diverged, '<condition> dead (no code)' for a sparsity or
    selectivity metric of a condition whose layer is dead in every seed.
    """
    rows = []
    for label, a, b in pairs:
        row = {"effect": label}
        for m, name in metrics.items():
            if a not in last.index or b not in last.index or m not in last.columns:
                row[name] = "not run"
                continue
            gone = [c for c in (a, b) if m in CODE_METRICS and is_dead(last, c)]
            if gone:
                row[name] = f"{' and '.join(gone)} dead (no code)"
                continue
            d = last.at[a, m] - last.at[b, m]
            se = float(np.hypot(last.at[a, f"{m}_se"], last.at[b, f"{m}_se"]))
            n = min(int(last.at[a, "n"]), int(last.at[b, "n"]))
            if not np.isfinite(d):
                word = "not run"
            elif n < 2:
                word = f"{d:+.3f} (one seed)"
            elif abs(d) <= 2 * se:
                word = f"{d:+.3f} ± {se:.3f}: no clear difference"
            else:
                word = f"{d:+.3f} ± {se:.3f}: {'higher' if d > 0 else 'lower'}"
            row[name] = word
        rows.append(row)
    return pd.DataFrame(rows).set_index("effect")


def provenance(store: Store, scale: str = "full") -> pd.DataFrame:
    """Per experiment: runs stored of the grid, the devices, trainers and code versions that made
    them, the compute they cost (run-hours: each run's share of its stack's wall time) and when.
    """
    import datetime
    rows = []
    every = store.runs()
    for name in grid_cells.__globals__["EXPERIMENTS"]:
        keys = {c.spec.key for c in grid_cells(name, scale)}
        r = every[every.key.isin(keys)]
        when = [datetime.datetime.fromtimestamp(t, datetime.timezone.utc).date().isoformat()
                for t in (r.finished.min(), r.finished.max())] if len(r) else ["", ""]
        rows.append(dict(experiment=name, runs=f"{len(r)} of {len(keys)}",
                         device=", ".join(f"{d} ({n})" for d, n in r.device.value_counts().items()),
                         trainer=", ".join(f"{d} ({n})" for d, n in r.trainer.value_counts().items()),
                         code=", ".join(sorted({v.split("+")[-1] for v in r.code_version})),
                         run_hours=round(r.seconds.sum() / 3600, 2),
                         dates=when[0] if when[0] == when[1] else f"{when[0]} to {when[1]}"))
    return pd.DataFrame(rows)


def effect_words(last: pd.DataFrame, pairs, effects: pd.DataFrame) -> dict:
    """What a chapter's prose says about its ``effect_table``: how many effects were run
    (``n``), in how many Hoyer and Gini agree in sign (``agree_sparsity``) and CCMAS and max
    informedness (``agree_selectivity``), the first effect that was run (``label``) and its
    cells (one key per metric of ``ROBUSTNESS``). A pair counts only where both conditions ran
    and have all four metrics (a diverged run or a dead layer has no sign to agree or disagree)."""
    compared = ["sparsity", "gini", "selectivity_avg", "informedness"]
    ran = [(a, b) for _, a, b in pairs if a in last.index and b in last.index
           and np.isfinite(last.loc[[a, b], compared].to_numpy(dtype=float)).all()]

    def sign(m):
        return np.sign([last.at[a, m] - last.at[b, m] for a, b in ran])
    shown = next((label for label, a, b in pairs if (a, b) in ran), pairs[0][0])
    return dict(n=len(ran), agree_sparsity=int((sign("sparsity") == sign("gini")).sum()),
                agree_selectivity=int((sign("selectivity_avg") == sign("informedness")).sum()),
                label=shown, **{m: effects.at[shown, col] for m, col in ROBUSTNESS.items()})


CHANCE = 0.2  # test accuracy at or below this (chance is 0.1) marks a network that did not learn
# what a dead layer has no value of: every recorded sparsity and selectivity metric (not accuracy,
# loss, or the dead fraction that says it is dead)
CODE_METRICS = frozenset(FIELDS) - {"dead_fraction"}
DEAD_WORDS = "dead: every hidden unit constant, no code to measure"


def is_dead(last: pd.DataFrame, condition: str) -> bool:
    """Whether ``condition``'s layer is dead in every seed of a ``last_table`` (``n_dead`` = ``n``)."""
    if condition not in last.index or "n_dead" not in last.columns:
        return False
    return int(last.at[condition, "n_dead"]) >= int(last.at[condition, "n"]) > 0


def state(last: pd.DataFrame) -> pd.Series:
    """Per condition of a ``last_table``, what a table's note column says of its network:
    ``DEAD_WORDS`` when its layer is dead in every seed, 'k of n seeds dead' when in some,
    'did not learn (chance accuracy)' at or below ``CHANCE``, else ''."""
    out = {}
    for c in last.index:
        k = int(last.at[c, "n_dead"]) if "n_dead" in last.columns else 0
        if is_dead(last, c):
            out[c] = DEAD_WORDS
        elif k:
            out[c] = f"{k} of {int(last.at[c, 'n'])} seeds dead"
        else:
            out[c] = "did not learn (chance accuracy)" if value(last, c, "accuracy") <= CHANCE else ""
    return pd.Series(out, dtype=object)


def value(last: pd.DataFrame, condition: str, column: str) -> float:
    """``last.at[condition, column]``, or NaN when the condition was not run (a chapter built
    with ``only`` or part of a grid): what prose glues, so a missing run reads 'nan', never a crash."""
    if condition in last.index and column in last.columns:
        return float(last.at[condition, column])
    return float("nan")


def compare(last: pd.DataFrame, a: str, b: str, metric: str = "sparsity", unit: str = "seeds") -> str:
    """How condition ``a`` compares with ``b`` on ``metric`` at the last epoch, in words for
    prose, with the rule every chapter and the findings use: 'higher' / 'lower' only when the
    difference exceeds twice its combined SE over 2+ seeds each; 'no clear difference' within
    that (the words of ``effect_table`` and the findings); a one-seed difference is shown
    without a direction word, since one seed has no error bar; a missing condition reads 'not run', a diverged one
    'undefined', and a sparsity or selectivity metric of a condition whose layer is dead in every
    seed 'undefined (... dead ...)', not the number the formulas give a frozen layer. When either network's accuracy is at
    or below ``CHANCE`` the words say so, since an untrained network's metric says little.
    ``last``: a ``last_table``; ``unit``: what its ``n`` counts (e.g. 'runs' where a condition's
    runs are several splits of each seed). Example: 'higher (0.412 vs 0.398; +0.014 ± 0.003, 3 seeds)'."""
    return _rule(last, a, b, metric, unit)[0]


def _rule(last, a, b, metric, unit="seeds"):
    """``compare``'s rule, worked once: (words, verdict, figures). ``verdict``: 'higher', 'lower',
    'same' (within 2 SE) or None (no direction: one seed, not run, diverged, dead); ``figures``:
    the numbers the words give, without the direction word ('' where there are none)."""
    if a not in last.index or b not in last.index:
        return "not run", None, ""
    x, y = value(last, a, metric), value(last, b, metric)
    gone = [c for c in (a, b) if metric in CODE_METRICS and is_dead(last, c)]
    if gone:
        return f"undefined ({' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} {DEAD_WORDS})", None, ""
    if not (np.isfinite(x) and np.isfinite(y)):
        return "undefined (a run diverged)", None, ""
    d = x - y
    se = float(np.hypot(value(last, a, f"{metric}_se"), value(last, b, f"{metric}_se")))
    n = min(int(last.at[a, "n"]), int(last.at[b, "n"]))
    if n < 2:
        verdict, figures = None, f"{x:.3f} vs {y:.3f}; {d:+.3f}, no error bar"
        words = f"no direction from one {unit.rstrip('s')} ({figures})"
    else:
        verdict = ("higher" if d > 0 else "lower") if abs(d) > 2 * se else "same"
        figures = f"{x:.3f} vs {y:.3f}; {d:+.3f} ± {se:.3f}, {n} {unit}"
        words = f"{'no clear difference' if verdict == 'same' else verdict} ({figures})"
    chance = [c for c in (a, b) if value(last, c, "accuracy") <= CHANCE]
    if chance:
        tail = f", but {' and '.join(chance)} {'is' if len(chance) == 1 else 'are'} at chance accuracy"
        words, figures = words + tail, figures + tail
    return words, verdict, figures


def contrast(last: pd.DataFrame, a: str, b: str, metric: str = "sparsity") -> str | None:
    """``compare``'s verdict as one word for computed prose: 'higher' / 'lower' (beyond 2 SE),
    'same' (within 2 SE), or None where the rule gives no direction (one seed, a condition not
    run, diverged or dead)."""
    return _rule(last, a, b, metric)[1]


def best_words(last: pd.DataFrame, conditions, metric: str, name=str) -> str:
    """Which of ``conditions`` (rows of ``last``) has the highest mean ``metric``, and whether it
    stands out from the runner-up by the 2-SE rule: a best that does not is no finding.
    ``name(condition)``: how the prose names a condition. Example: '1, not distinguishable from
    the runner-up, 200 (0.412 vs 0.408; +0.004 ± 0.013, 3 seeds)'."""
    g = last.loc[[c for c in conditions if c in last.index], metric].astype(float).dropna()
    g = g.sort_values(ascending=False, kind="stable")
    if not len(g):
        return "not run"
    best = name(g.index[0])
    if len(g) == 1:
        return best
    runner = name(g.index[1])
    _, verdict, figures = _rule(last, g.index[0], g.index[1], metric)
    if verdict is None:
        return f"{best} (no error bar to set it apart from the runner-up, {runner}: {figures})"
    if verdict == "higher":
        return f"{best} (above the runner-up, {runner}: {figures})"
    return f"{best}, not distinguishable from the runner-up, {runner} ({figures})"


def tail_effect(last: pd.DataFrame, o: str) -> str:
    """What class_diversity's even drain says about the accuracy single-class batches cost
    optimizer ``o``: the uniform draw ('<o> single', the dissertation's runs) ends every epoch
    on a run of one class, the even drain ('<o> single (even)') does not, 'original' is
    shuffled. Words for prose, by the 2-SE rule of ``contrast``."""
    cost = contrast(last, f"{o} single", f"{o} original", "accuracy")         # the cost
    even = contrast(last, f"{o} single (even)", f"{o} original", "accuracy")  # what the even drain leaves
    gain = contrast(last, f"{o} single (even)", f"{o} single", "accuracy")    # what it recovers
    if None in (cost, even, gain):
        return "the runs give no direction (one seed, or a condition not run)"
    if cost != "lower":
        return "single-class batches cost no accuracy to explain"
    if even in ("same", "higher") and gain == "higher":
        return ("the even drain recovers the shuffled runs' accuracy, so the cost comes from the class runs "
                "at the end of each epoch, not from the class mix of a batch")
    if even == "lower" and gain == "higher":
        return "the even drain recovers part of the cost: both the epoch's tail and the class mix contribute"
    if even == "lower":
        return "the even drain costs as much as the uniform draw, so the class mix of a batch costs the accuracy"
    return "the even drain lies within 2 SE of both, so the runs cannot tell the two causes apart"


def direction(a: float, b: float) -> str:
    """'higher', 'lower' or 'the same' (a relative to b), for prose that is computed, not typed."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return "undefined (a run diverged)"
    return "higher" if a > b else "lower" if a < b else "the same"


def seed_splits(df: pd.DataFrame, metric: str = "accuracy", gap: float = 0.05, split="test",
                layer="mean") -> pd.DataFrame:
    """The conditions whose seeds end apart: at the last epoch their best and worst seed's
    ``metric`` (accuracy: a fraction) differ by more than ``gap``. A mean over such seeds hides
    two outcomes, and ``compare``'s 2-SE rule calls it 'no clear difference' however far apart
    each outcome is. ``df``: ``results``. Returns one row per (condition, seed) of those
    conditions, worst seed first, with accuracy, sparsity and selectivity_avg; empty when none.
    Diverged seeds (NaN) are left out of the spread: ``mean_se`` counts them already."""
    last = last_epoch(df[(df.split == split) & (df.layer == layer)])
    cols = ["condition", "seed", *dict.fromkeys([metric, "accuracy", "sparsity", "selectivity_avg"])]
    finite = last[np.isfinite(last[metric].astype(float))]
    spread = finite.groupby("condition", sort=False)[metric].agg(lambda v: v.max() - v.min())
    order = {c: i for i, c in enumerate(spread[spread > gap].index)}  # the grid's order
    out = last[last.condition.isin(order)][cols]
    return (out.assign(_order=out.condition.map(order)).sort_values(["_order", metric], kind="stable")
            .drop(columns="_order").reset_index(drop=True))


def split_words(splits: pd.DataFrame) -> dict:
    """What prose says of ``seed_splits(df)`` (split by accuracy): the number of conditions
    (``n``), in how many the least accurate seed is also the sparsest (``sparsest``) and the
    least selective (``least_selective``)."""
    if splits.empty:
        return dict(n=0, sparsest=0, least_selective=0)
    by = splits.groupby("condition", sort=False)
    worst = splits.loc[by.accuracy.idxmin(), "seed"].to_numpy()
    return dict(n=by.ngroups, sparsest=int((splits.loc[by.sparsity.idxmax(), "seed"].to_numpy() == worst).sum()),
                least_selective=int((splits.loc[by.selectivity_avg.idxmin(), "seed"].to_numpy() == worst).sum()))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number(x: float) -> str:
    """A positive quantity spanning many orders of magnitude (a rate, a ratio) for prose, two
    significant digits: 0.0014, 2.6, 140, 9,600, 1.4 × 10⁷, 2.7 × 10⁻⁶."""
    if not math.isfinite(x) or x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{float(f'{x:.2g}'):,g}" if math.isfinite(x) else str(x)
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


INK_BANDS = (0.0, 0.01, 0.1, 0.5, 1.0)  # edges of the pixel ink-frequency bands of ``rate_bands``


def band_names(edges=INK_BANDS) -> list[str]:
    """The column names ``rate_bands`` gives its bands, e.g. "inked in 1-10 %"."""
    return [f"inked in {lo * 100:g}-{hi * 100:g} %" for lo, hi in zip(edges[:-1], edges[1:])]


def rate_bands(rates: pd.DataFrame, ink, edges=INK_BANDS) -> pd.DataFrame:
    """Per condition, the median learning rate of first-layer weights at the last step of
    ``rates`` (``engine.vsgd_rates`` rows: one median over hidden units per pixel) over the
    pixels of each ink-frequency band (``ink``: [784] fractions, ``data.ink_frequency``): bands
    (lo, hi], the first [0, hi], named by ``band_names``; never-inked pixels (whose weights never
    move) are left out, and a band with no pixel is NaN. Also the median over every inked
    pixel. Medians pool the seeds' pixels."""
    ink = pd.Series(np.asarray(ink, dtype=float), name="ink")
    end = rates[rates.step == rates.step.max()].join(ink, on="pixel")
    end = end[end.ink > 0]
    names = band_names(edges)
    end = end.assign(band=pd.cut(end.ink, list(edges), labels=names, include_lowest=True))
    out = end.pivot_table(index="condition", columns="band", values="rate", aggfunc="median", observed=False,
                          dropna=False).reindex(columns=names)
    out["every inked pixel"] = end.groupby("condition").rate.median()
    out.columns.name = None
    return out


def rate_course(rates: pd.DataFrame, ink) -> pd.Series:
    """Per (condition, step), the median over inked pixels of ``engine.vsgd_rates`` rows' rates
    (each a pixel's median over hidden units; ``ink``: [784] fractions, ``data.ink_frequency``).
    Never-inked pixels, whose weights never move, are left out; seeds' pixels are pooled."""
    inked = rates[np.asarray(ink, dtype=float)[rates.pixel.to_numpy()] > 0]
    return inked.groupby(["condition", "step"]).rate.median()


def rate_change_words(course: pd.Series, condition: str, name: str) -> str:
    """One or two sentences on how ``condition``'s median rate (``rate_course``) changed from
    the first step it moved (rate > 0: a warm-up's rate is 0) to the last; a fall of ten times
    or more is read as a stall. ``name``: how the prose calls the rule, e.g. "vSGD-fd"."""
    moving = course.loc[condition][lambda c: c > 0]
    if len(moving) < 2:
        return f"{name}'s rate after its warm-up was not measured (fewer than two readings after it)."
    first, end = moving.iloc[0], moving.iloc[-1]
    change = f"{number(first / end)} times lower" if end < first else f"{number(end / first)} times higher"
    words = (f"{name}'s median rate goes from {number(first)} after batch {moving.index[0]:,} to "
             f"{number(end)} after batch {moving.index[-1]:,}, {change}.")
    if first >= 10 * end:
        words += (" Read beside its test accuracy over the epochs above: a rate that has fallen so far leaves "
                  "the weights close to where the first batches put them.")
    return words


def _share(x: float) -> str:
    """A fraction as prose: "none" only where it is exactly 0, "<0.1%" where it rounds to 0."""
    return "none" if x == 0 else "<0.1%" if x < 0.0005 else f"{x:.1%}"


def saturation_words(rows: pd.DataFrame, names: dict, probe: int, layer: int = 1) -> str:
    """Prose on ``engine.saturation`` rows (``names``: condition -> how the prose calls it, in
    the order to tell them): at the last step, per condition, the share of ``layer``'s units
    stuck on all ``probe`` images and of (unit, image) pairs stuck; for a condition whose units
    end half saturated or more, also the first reading at which half of them were, and what
    that does to a step that is a rate times the gradient. Seeds are pooled; a run that
    diverged (NaN shares) is said to have."""
    rows = rows[rows.layer == layer]
    parts, frozen = [], False
    for c, name in names.items():
        g = rows[rows.condition == c].groupby("step")[["saturated", "stuck"]].mean()
        if not len(g):
            continue
        last = g.iloc[-1]
        if last.isna().any():
            parts.append(f"{name} diverged (its activations hold NaN)")
            continue
        words = f"{name} {_share(last.saturated)} ({_share(last.stuck)})"
        if last.saturated >= 0.5:
            frozen = True
            words += f", half of them by batch {g.index[g.saturated >= 0.5][0]:,}"
        parts.append(words)
    if not parts:
        return ""
    out = (f"After batch {rows.step.max():,}, the share of hidden units that pass no error back from any of "
           f"the {probe:,} images (in brackets: of unit-image pairs that pass none): {'; '.join(parts)}.")
    if frozen:
        out += (" A unit stuck on every image gets a zero gradient for its incoming weights and bias from each "
                "of them, and these rules step by a rate times the gradient: where most units are stuck, the "
                "hidden layer has all but stopped learning, and the output layer, which no sigmoid gates, "
                "learns on alone.")
    return out


def reproduce(experiment, df: pd.DataFrame) -> str:
    """The 'reproduce this page' line: the commands, the number of runs at each scale, and the
    compute the runs behind ``df`` (this page's ``results``) measured: run-hours (each run's
    share of its stack's wall time), devices and trainers, from the store. ``experiment``: a
    name, or a sequence of names for a page that reads several (one ``campaign`` command)."""
    names = [experiment] if isinstance(experiment, str) else list(experiment)
    n = {s: len({c.spec.key for e in names for c in grid_cells(e, s)}) for s in ("smoke", "full")}
    runs = df.drop_duplicates("run_key") if len(df) else df
    seconds = float(runs.seconds.sum()) if len(runs) else float("nan")
    cost = f"{seconds / 3600:.1f} run-hours" if seconds >= 360 else f"{seconds:.0f} run-seconds"
    devices = ", ".join(sorted(set(runs.device))) if len(runs) else "none"
    group = next((g for g, members in GROUPS.items() if list(members) == names), None)
    command = (f"sparsel run {names[0]}" if len(names) == 1 else
               f"sparsel campaign --experiments {group or ','.join(names)}")
    return (f"`{command} --scale smoke` ({n['smoke']} runs) or `--scale full` ({n['full']} runs, "
            f"`--device cuda` on a GPU), then `make book SCALE=full`. The {len(runs)} runs on this page took "
            f"{cost} to train on {devices}.")


def page_csv(table: pd.DataFrame, chapter: str) -> None:
    """Write a chapter's summary table to ``book/chapters/data/<chapter>.csv`` (the data behind
    its figures, downloadable from the page as ``data/<chapter>.csv``). Returns nothing, so the
    last line of a chapter prints nothing on the page."""
    from pathlib import Path
    folder = Path(__file__).resolve().parents[1] / "book" / "chapters" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / f"{chapter}.csv", index=False, float_format="%.6g")
