"""The original runs' numbers (the dissertation's own result files), beside ours.

``results/original/<experiment>.csv.gz`` holds the per-seed, per-epoch values behind the
dissertation's figures for the experiments whose reproduction has been checked (see the README
there for provenance). This module maps the original's condition names onto our condition
labels, so a chapter can overlay the original curves and tabulate the difference in SE units.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FOLDER = Path(__file__).resolve().parents[1] / "results" / "original"
METRICS = {"test_accuracy": "accuracy", "sparsity": "sparsity", "selectivity_avg": "selectivity_avg"}
# original condition -> our condition label, per optimizer ({o}: our optimizer name)
CONDITIONS = {
    "baseline": {"baseline_bs50": "{o}"},
    "class_diversity": {"single_bs50": "{o} single", "pair_bs50(2x25)": "{o} pair", "5nums_bs50(5x10)": "{o} 5nums",
                        "single_bs10": "{o} A: single bs=10", "con10_bs1": "{o} B: con 10 bs=1"},
    "cnn": {"cnn": "{o} cnn", "no_cnn_baseline": "{o} mlp"},
}
# the original's "train" rows came from activations captured during training
SPLITS = {"test": "test", "train": "train_during"}


def available(experiment: str) -> bool:
    return (FOLDER / f"{experiment}.csv.gz").exists() and experiment in CONDITIONS


def load(experiment: str) -> pd.DataFrame:
    """The original's per-seed rows of ``experiment`` with our labels: condition, optimizer,
    seed, epoch, split, accuracy, sparsity, selectivity_avg (NaN where not recorded)."""
    if not available(experiment):
        raise LookupError(f"no original runs for {experiment!r} in {FOLDER} (have: "
                          f"{', '.join(sorted(p.name.split('.')[0] for p in FOLDER.glob('*.csv.gz')))})")
    raw = pd.read_csv(FOLDER / f"{experiment}.csv.gz")
    raw = raw[raw.seed.astype(str) != "mean"]
    names = CONDITIONS[experiment]
    raw = raw[raw.condition.isin(names)]
    # the CNN file's MLP baseline ran 30 epochs; the experiment compares the first n_epochs of the CNN
    if experiment == "cnn":
        raw = raw[raw.epoch <= raw[raw.condition == "cnn"].n_epochs.max()]
    opt = raw.optimizer.str.lower()
    out = pd.DataFrame({
        "condition": [names[c].format(o=o) for c, o in zip(raw.condition, opt)],
        "optimizer": opt.to_numpy(), "seed": raw.seed.astype(int).to_numpy(), "epoch": raw.epoch.to_numpy(),
        "split": raw.metric_set.map(SPLITS).to_numpy()})
    for src, dst in METRICS.items():
        out[dst] = pd.to_numeric(raw[src], errors="coerce").to_numpy()
    return out


def curves(experiment: str, split: str = "test") -> pd.DataFrame:
    """Mean and SE over seeds per condition and epoch, in ``summary.mean_se``'s form (columns
    condition, epoch, <metric>, <metric>_se, n), for ``plots.curves(..., original=...)``."""
    d = load(experiment)
    d = d[d.split == split]
    rows = []
    for (cond, epoch), g in d.groupby(["condition", "epoch"]):
        row = dict(condition=cond, optimizer=g.optimizer.iloc[0], epoch=epoch, n=g.seed.nunique())
        for m in METRICS.values():
            v = g[m].dropna().to_numpy(float)
            row[m] = v.mean() if len(v) else np.nan
            row[f"{m}_se"] = v.std(ddof=0) / np.sqrt(len(v)) if len(v) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def last_epoch(experiment: str, split: str = "test") -> pd.DataFrame:
    """Mean and SE (population std / sqrt(n), the original's own error bars) over seeds at each
    condition's last epoch; indexed by our condition label."""
    d = load(experiment)
    d = d[d.split == split]
    d = d[d.epoch == d.groupby("condition").epoch.transform("max")]
    rows = []
    for cond, g in d.groupby("condition"):
        row = dict(condition=cond, optimizer=g.optimizer.iloc[0], n=g.seed.nunique(), epoch=int(g.epoch.iloc[0]))
        for m in METRICS.values():
            v = g[m].dropna().to_numpy(float)
            row[m] = v.mean() if len(v) else np.nan
            row[f"{m}_se"] = v.std(ddof=0) / np.sqrt(len(v)) if len(v) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("condition")


def compare(ours_last: pd.DataFrame, experiment: str, metrics=tuple(METRICS.values())) -> pd.DataFrame:
    """Original vs ours at the last epoch, per condition both have: each metric's two means,
    the difference (ours - original) and that difference in units of the combined SE."""
    orig = last_epoch(experiment)
    rows = []
    for cond in [c for c in ours_last.index if c in orig.index]:
        row = {"condition": cond}
        for m in metrics:
            a, b = ours_last.at[cond, m], orig.at[cond, m]
            se = float(np.hypot(ours_last.at[cond, f"{m}_se"], orig.at[cond, f"{m}_se"]))
            row[f"{m} ours"], row[f"{m} original"] = a, b
            row[f"{m} diff / SE"] = (a - b) / se if se > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("condition") if rows else pd.DataFrame()


# Ours against the original is judged by the book's one rule (findings.Z): beyond 2 combined SE
# a difference is more than run-to-run noise. (With many cells some pass 2 SE by chance: the
# sentence gives the count, so a reader sees how many, not a verdict per cell.)
from .findings import Z as BEYOND  # noqa: E402  (here, beside the reason)


def compare_words(table: pd.DataFrame, scale: str) -> str:
    """One sentence on a ``compare`` table for a chapter's prose: the largest |ours - original|
    in SE units, where, and how many cells lie beyond ``BEYOND`` (2) SE, the book's rule; at smoke
    scale it says the numbers are not comparable (a 1,000-image, one-seed network against the
    original's full runs)."""
    cols = [c for c in table.columns if c.endswith("diff / SE")]
    z = table[cols].abs() if cols else pd.DataFrame()
    if z.empty or not np.isfinite(z.to_numpy(float)).any():
        return "no condition with an error bar in common with the original runs"
    where = z.stack().idxmax()
    out = (f"the largest difference is {z.to_numpy(float)[np.isfinite(z.to_numpy(float))].max():.1f} combined SE "
           f"({where[0]}, {where[1].replace(' diff / SE', '')}); {int((z > BEYOND).to_numpy().sum())} of "
           f"{int(np.isfinite(z.to_numpy(float)).sum())} values differ by more than {BEYOND} SE, the book's "
           f"rule for a difference beyond run-to-run noise")
    if scale != "full":
        out = (f"at {scale} scale the two are not comparable (our networks saw 1,000 images with one seed), "
               f"so this only exercises the comparison: {out}")
    return out


def note(experiment: str) -> str:
    """One sentence for a chapter: whether the original runs' numbers are beside ours on it."""
    from .experiments import DISSERTATION
    if experiment not in DISSERTATION:
        return "The dissertation proposed but never ran this experiment, so there are no original runs to compare."
    if available(experiment):
        return "The original runs' per-seed numbers for this experiment are drawn and tabulated beside ours above."
    have = ", ".join(sorted(p.name.split(".")[0] for p in FOLDER.glob("*.csv.gz")))
    return (f"No per-seed numbers of the original runs are available for this experiment yet "
            f"(`results/original/` holds {have}), so this page cannot set them beside ours.")
