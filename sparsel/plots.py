"""The dissertation's figure forms, drawn from ``summary.mean_se`` tables.

Every function returns the matplotlib Figure; ``provenance`` gives the line each figure
carries (scale, seeds, runs, code versions) so a reader knows what produced it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

LABELS = {"accuracy": "test accuracy", "sparsity": "sparsity (Hoyer)", "selectivity_avg": "selectivity (CCMAS)",
          "loss": "loss", "selectivity_std": "selectivity std", "sparsity_std": "sparsity std"}
TRIO = ("accuracy", "sparsity", "selectivity_avg")


def provenance(df: pd.DataFrame, scale: str) -> str:
    """One line: scale, data size, seeds, run count and the code versions behind ``df``."""
    seeds = sorted(df.seed.unique()) if "seed" in df else []
    versions = sorted(df.code_version.unique()) if "code_version" in df else []
    n_train = df.train_size.iloc[0] if "train_size" in df and len(df) else None
    data = "all 60,000 training images" if n_train is None or n_train != n_train else f"{int(n_train):,} training images"
    return (f"{scale.upper()} SCALE: {data}, seeds {', '.join(map(str, seeds))}, "
            f"{df.run_key.nunique() if 'run_key' in df else '?'} runs, code {', '.join(versions)}")


def _band(ax, x, m, se, label, **kw):
    line, = ax.plot(x, m, label=label, **kw)
    ax.fill_between(x, m - se, m + se, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def curves(summary: pd.DataFrame, hue="condition", metrics=TRIO, title=None, x="epoch", original=None):
    """Metrics over epochs, one line per ``hue`` value, mean +/- SE bands (Fig 5.1 form).

    ``original``: the original runs' table in the same form (``original.curves``); each of its
    ``hue`` values that is drawn here gets a dashed line of the same colour, "(original)".
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.3), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for key, g in summary.groupby(hue, sort=False):
            g = g.sort_values(x)
            line = _band(ax, g[x].to_numpy(float), g[m].to_numpy(float), g[f"{m}_se"].fillna(0).to_numpy(float),
                         str(key))
            if original is not None and m in original and key in set(original[hue]):
                o = original[original[hue] == key].sort_values(x)
                if o[m].notna().any():
                    _band(ax, o[x].to_numpy(float), o[m].to_numpy(float), o[f"{m}_se"].fillna(0).to_numpy(float),
                          f"{key} (original)", color=line.get_color(), linestyle="--", linewidth=1)
        ax.set_xlabel(x)
        ax.set_ylabel(LABELS.get(m, m))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    rows = -(-len(labels) // 4)
    # below the panels, never over the data
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07 * rows, 1, 1))
    return fig


def versus(summary: pd.DataFrame, x="value", hue="optimizer", metrics=TRIO, logx=False, title=None,
           marks=None, categorical=False):
    """Last-epoch value against a condition, mean +/- SE error bars (Figs 5.8-5.14 form).

    ``marks``: {hue value: x} draws a vertical line (the baseline setting).
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.3), squeeze=False)
    order = list(dict.fromkeys(summary[x])) if categorical else None
    for ax, m in zip(axes[0], metrics):
        for key, g in summary.groupby(hue, sort=False):
            xs = g[x].map(order.index).to_numpy(float) if categorical else g[x].to_numpy(float)
            idx = np.argsort(xs)
            ax.errorbar(xs[idx], g[m].to_numpy(float)[idx], yerr=g[f"{m}_se"].fillna(0).to_numpy(float)[idx],
                        marker="o", ms=3.5, capsize=2, label=str(key))
        if categorical:
            ax.set_xticks(range(len(order)), [str(o) for o in order], rotation=30, fontsize=8)
        if logx:
            ax.set_xscale("log")
        for xv in (marks or {}).values():
            ax.axvline(xv, color="k", lw=0.8)
        ax.set_xlabel(x if x != "value" else (summary["param"].iloc[0] if "param" in summary else x))
        ax.set_ylabel(LABELS.get(m, m))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def scatter(summary: pd.DataFrame, x, y, hue="condition", title=None, diagonal=False, ax=None):
    """Scatter of two metrics (one point per epoch or condition), e.g. sparsity vs selectivity (Fig 5.4)."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
    for key, g in summary.groupby(hue, sort=False):
        ax.scatter(g[x], g[y], s=12, label=str(key))
    if diagonal:
        lo = np.nanmin([summary[x].min(), summary[y].min()])
        hi = np.nanmax([summary[x].max(), summary[y].max()])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    if fig is not None:
        fig.tight_layout()
    return fig or ax.figure


def layer_bars(summary: pd.DataFrame, hue="optimizer", metrics=("sparsity", "selectivity_avg"), title=None):
    """Per-layer bars with SE (Fig 5.7 form): x = layer, one bar group per ``hue`` value."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.3), squeeze=False)
    groups = list(dict.fromkeys(summary[hue]))
    layers = sorted(summary.layer.unique(), key=int)
    width = 0.8 / len(groups)
    for ax, m in zip(axes[0], metrics):
        for i, key in enumerate(groups):
            g = summary[summary[hue] == key].set_index("layer").reindex(layers)
            ax.bar(np.arange(len(layers)) + i * width, g[m], width, yerr=g[f"{m}_se"].fillna(0), label=str(key),
                   capsize=2)
        ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, [f"HL{layer}" for layer in layers])
        ax.set_ylabel(LABELS.get(m, m))
        ax.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def batch_class_strip(classes: dict, last: int | None = 50, title=None):
    """The class of every batch along one epoch, one row per order (section 5.9's samplers).

    ``classes``: {label: int array of one class per batch, -1 for a batch of several classes}
    (``orders.batch_classes``). Mixed batches are grey crosses; ``last`` shades the final
    ``last`` batches, the ones just before the test measurement.
    """
    fig, axes = plt.subplots(len(classes), 1, figsize=(9, 1.9 * len(classes)), squeeze=False, sharex=True)
    for ax, (label, cls) in zip(axes[:, 0], classes.items()):
        cls = np.asarray(cls)
        x = np.arange(1, len(cls) + 1)
        one = cls >= 0
        ax.scatter(x[one], cls[one], c=cls[one], cmap="tab10", vmin=0, vmax=9, s=4, linewidths=0)
        ax.scatter(x[~one], np.full((~one).sum(), 4.5), marker="x", color="0.5", s=12, label="mixed batch")
        if last:
            ax.axvspan(len(cls) - last + 0.5, len(cls) + 0.5, color="0.85", zorder=0)
        ax.set_yticks(range(10))
        ax.tick_params(axis="y", labelsize=6)
        ax.set_ylabel("class")
        ax.set_title(str(label), fontsize=9, loc="left")
        if (~one).any():
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("batch of the epoch")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_by(summary: pd.DataFrame, panel="optimizer", hue="condition", metric="accuracy", title=None,
              x="epoch"):
    """One metric over epochs, one panel per ``panel`` value, one line per ``hue`` (mean +/- SE)."""
    keys = list(dict.fromkeys(summary[panel]))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.1), squeeze=False, sharey=True)
    for ax, k in zip(axes[0], keys):
        for key, g in summary[summary[panel] == k].groupby(hue, sort=False):
            g = g.sort_values(x)
            _band(ax, g[x].to_numpy(float), g[metric].to_numpy(float),
                  g[f"{metric}_se"].fillna(0).to_numpy(float), str(key))
        ax.set_title(str(k), fontsize=9)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel(LABELS.get(metric, metric))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
