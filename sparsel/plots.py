"""The dissertation's figure forms, drawn from ``summary.mean_se`` tables.

Every function returns the matplotlib Figure; ``provenance`` gives the line each figure
carries (scale, seeds, runs, code versions) so a reader knows what produced it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd

from .summary import rate_course

LABELS = {"accuracy": "test accuracy (fraction)", "sparsity": "sparsity (Hoyer)",
          "selectivity_avg": "selectivity (CCMAS)", "loss": "loss (cross-entropy)",
          "selectivity_std": "selectivity std", "sparsity_std": "sparsity std", "gini": "sparsity (Gini)",
          "informedness": "selectivity (max informedness)", "auroc": "selectivity (AUROC)",
          "train_accuracy": "training accuracy (fraction)", "epoch": "epoch",
          "acc_x_sparsity": "accuracy × sparsity (Hoyer)", "acc_x_selectivity": "accuracy × selectivity (CCMAS)",
          "forgetting": "forgetting (best − final accuracy on S)", "retention": "accuracy on S after phase B",
          "sparsity_A": "sparsity (Hoyer) after phase A", "gini_A": "sparsity (Gini) after phase A",
          "selectivity_A": "selectivity (CCMAS) after phase A", "gap": "loss gap, test − train (nats)",
          "rise": "test-loss rise past its minimum (nats)",
          "informedness_A": "selectivity (informedness) after phase A", "overlap_end": "overlap of S and T codes"}
# what the grids' `param` means on an x axis
XLABELS = {"lr": "learning rate", "weight_decay": "weight decay (L2 coefficient)", "momentum": "momentum",
           "rho": "rho", "beta1": "beta1", "beta2": "beta2", "batch_size": "batch size (images)",
           "width": "hidden units", "layers": "hidden layers", "con": "consecutive same-class batches",
           "optimizer": "optimizer", "model": "network", "order": "training order", "diversity": "classes per batch",
           "p": "p (power of the squared-gradient sum)", "alpha": "alpha",
           "combined": "each part alone, then both together"}
TRIO = ("accuracy", "sparsity", "selectivity_avg")

# One colour per optimizer for the whole book; a chapter's conditions differ by line style.
PALETTE = {"sgd": "#1f77b4", "adagrad": "#ff7f0e", "adadelta": "#2ca02c", "adam": "#d62728",
           "rmsprop": "#9467bd", "nesterov": "#8c564b", "adamw": "#e377c2", "adamax": "#7f7f7f",
           "nadam": "#bcbd22", "adagrad_mod": "#17becf", "adadelta_mod": "#aec7e8", "adagrad_p": "#ffbb78",
           "adadelta_p": "#98df8a", "vsgd": "#393b79", "vsgd_b": "#637939",
           "vsgd_authors": "#843c39", "vsgd_authors_original": "#ad494a", "vsgd_authors_slow": "#e7969c",
           "vsgd_fd": "#7b4173", "vsgd_fd_slow": "#ce6dbd"}
NAMES = {"sgd": "SGD", "adagrad": "Adagrad", "adadelta": "Adadelta", "adam": "Adam", "rmsprop": "RMSprop",
         "nesterov": "SGD (Nesterov)", "adamw": "AdamW", "adamax": "Adamax", "nadam": "NAdam",
         "vsgd": "vSGD", "vsgd_b": "vSGD-b", "vsgd_authors": "vSGD (authors' code)",
         "vsgd_authors_original": "vSGD (authors' code, no outlier test)",
         "vsgd_authors_slow": "vSGD (authors' code, paper's slow start)",
         "vsgd_fd": "vSGD-fd (authors' code)", "vsgd_fd_slow": "vSGD-fd (authors' code, slow start)"}
# Condition words a reader would misread, renamed where they are drawn (the stored labels stay):
# class_diversity's "original" condition is its shuffled batches of every class, not the
# dissertation's runs, which ``curves`` draws as "(dissertation)".
WORDS = {"original": "shuffled"}
# An ordered numeric condition (batch size, width, depth) of one optimizer is told apart by a
# sequential colour, not by seven dash patterns of one colour; viridis stops short of its
# yellow end, which is lost on white.
SEQUENTIAL = plt.get_cmap("viridis")
SEQUENTIAL_SPAN = (0.0, 0.85)
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

# Legible at the book's width: figures are drawn for a full-width cell (~1,000 px).
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 9,
                     "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.dpi": 100, "savefig.dpi": 100})


def _split(key) -> tuple[str | None, str]:
    """(optimizer, the rest) of a condition label such as 'adam HL5'; (None, label) otherwise."""
    text = str(key)
    head, _, rest = text.partition(" ")
    return (head, rest) if head in PALETTE else (None, text)


class _Styles:
    """Colour by optimizer (``PALETTE``), line style and marker by the rest of the condition,
    assigned in order of appearance within one figure (labels without an optimizer get the
    default colour cycle)."""

    def __init__(self):
        self.rests, self.others = {}, {}

    def __call__(self, key) -> dict:
        opt, rest = _split(key)
        if opt is None:
            i = self.others.setdefault(rest, len(self.others))
            return dict(color=f"C{i % 10}", linestyle=LINESTYLES[(i // 10) % len(LINESTYLES)], marker=MARKERS[0])
        j = self.rests.setdefault(rest, len(self.rests))
        return dict(color=PALETTE[opt], linestyle=LINESTYLES[j % len(LINESTYLES)], marker=MARKERS[j % len(MARKERS)])


def word(text) -> str:
    """A condition word as a reader reads it (``WORDS``): 'original' -> 'shuffled'."""
    return WORDS.get(str(text), str(text))


def label(key) -> str:
    """A condition or optimizer as a reader reads it: 'adam HL5' -> 'Adam HL5', 'sgd original' -> 'SGD shuffled'."""
    opt, rest = _split(key)
    return word(key) if opt is None else " ".join(x for x in (NAMES.get(opt, opt), word(rest)) if x)


KNOBS = ("momentum", "rho", "beta1", "beta2", "alpha")  # an optimizer's own knob: named with it


def _xlabel(summary, x):
    if x == "value" and "param" in summary and len(summary):
        param = summary["param"].iloc[0]
        text = XLABELS.get(param, param)
        opts = summary["optimizer"].unique() if "optimizer" in summary else []
        # 'Adam beta1' where one optimizer's runs are drawn, 'beta1' where AdamW's, Adamax's... are too
        return f"{label(opts[0])} {text}" if param in KNOBS and len(opts) == 1 else text
    return XLABELS.get(x, LABELS.get(x, x))


def _empty(ax, what="no runs of this figure in this build"):
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _axis(ax, df, x, metric=None):
    """Axis labels in words, whole-number epoch ticks and a light grid."""
    ax.set_xlabel(_xlabel(df, x))
    if metric:
        ax.set_ylabel(LABELS.get(metric, metric))
    if x == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _legend_below(fig, axes, ncol=None, title=None):
    """One legend for the figure, below the panels, never over the data (``ncol``: entries per
    row, at most 4 unless given)."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if not labels:
        fig.tight_layout()
        return
    ncol = min(ncol or 4, len(labels))
    renderer = fig.canvas.get_renderer()
    while True:  # fewer entries a row until the legend fits the figure's width (one narrow panel)
        legend = fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, title=title,
                            title_fontsize=plt.rcParams["legend.fontsize"])
        if ncol == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            break
        legend.remove()
        ncol -= 1
    rows = -(-len(labels) // ncol) + (1 if title else 0)
    fig.tight_layout(rect=(0, min(0.45, 0.075 * rows + 0.02), 1, 1))


PROVENANCE_VERSIONS = 3  # code versions a page's scale line names one by one


def provenance(df: pd.DataFrame, scale: str) -> str:
    """One line of Markdown (glue it with ``markdown=True``): scale, data size, seeds, run count
    and the code versions behind ``df``."""
    seeds = sorted(df.seed.unique()) if "seed" in df else []
    versions = sorted(df.code_version.unique()) if "code_version" in df else []
    n_train = df.train_size.iloc[0] if "train_size" in df and len(df) else None
    data = "all 60,000 training images" if n_train is None or n_train != n_train else f"{int(n_train):,} training images"
    epochs = sorted(df.epochs.unique()) if "epochs" in df and len(df) else []
    span = "?" if not epochs else str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}"
    # a page over many campaigns can have a dozen versions: name up to three, count the rest
    code = (", ".join(versions) if len(versions) <= PROVENANCE_VERSIONS else
            f"{len(versions)} versions ({', '.join(versions[:2])}, ...; `sparsel export` lists each run's)")
    return (f"{scale.upper()} SCALE: {data}, {span} epochs, seeds {', '.join(map(str, seeds))}, "
            f"{df.run_key.nunique() if 'run_key' in df else '?'} runs, code {code}")


def seeds_words(df: pd.DataFrame) -> str:
    """'1 seed' or 'N seeds': what a caption says the means and error bars are over."""
    n = int(df.seed.nunique()) if "seed" in df and len(df) else 0
    return f"{n} seed" + ("" if n == 1 else "s")


def _se(g: pd.DataFrame, m: str) -> np.ndarray:
    """The standard errors of ``m`` to draw: NaN where there is none to show. ``mean_se`` gives
    a mean over one run SE 0 (and NaN where no run measured it); such a point gets no band or
    error bar rather than a zero-width one, so a reader never takes one run for a tight spread."""
    se = g[f"{m}_se"].to_numpy(float) if f"{m}_se" in g else np.full(len(g), np.nan)
    return np.where(se > 0, se, np.nan)


def _band(ax, x, m, se, label, **kw):
    """A line with a +/- ``se`` band; NaN ``se`` (see ``_se``) leaves that stretch without one."""
    kw = {k: v for k, v in kw.items() if k != "marker"}
    line, = ax.plot(x, m, label=label, **kw)
    if np.isfinite(se).any():
        ax.fill_between(x, m - se, m + se, where=np.isfinite(se), color=line.get_color(), alpha=0.18,
                        linewidth=0)
    return line


def _errorbar(ax, x, y, se, capsize=2.5, **kw):
    """Points (joined by ``linestyle``) with +/- ``se`` bars where ``se`` is finite (see ``_se``):
    no bar and no caps at a mean over one run."""
    line, = ax.plot(x, y, **kw)
    has = np.isfinite(se)
    if has.any():
        ax.errorbar(x[has], y[has], yerr=se[has], linestyle="none", capsize=capsize, color=line.get_color())
    return line


def _ordered(summary: pd.DataFrame, hue: str) -> dict | None:
    """{hue value: its number} when ``hue`` walks one numeric condition (``value`` of one
    ``param``) of at most one optimizer, e.g. one optimizer's batch sizes; None otherwise."""
    if hue != "condition" or not {"param", "value"} <= set(summary.columns) or not len(summary):
        return None
    keys = summary.drop_duplicates(hue)
    if summary["param"].nunique() != 1 or len({_split(k)[0] for k in keys[hue]}) != 1:
        return None
    values = pd.to_numeric(keys["value"], errors="coerce")
    if values.isna().any() or values.nunique() != len(keys):
        return None
    return dict(zip(keys[hue], values))


def _sequential(numbers: dict) -> dict:
    """{key: colour}: ``SEQUENTIAL`` over the rank of each key's number (ranks, so that batch
    sizes 1..1000 spread evenly)."""
    ranked = sorted(numbers, key=numbers.get)
    lo, hi = SEQUENTIAL_SPAN
    return {k: SEQUENTIAL(lo + (hi - lo) * i / max(len(ranked) - 1, 1)) for i, k in enumerate(ranked)}


def _number(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def curves(summary: pd.DataFrame, hue="condition", metrics=TRIO, title=None, x="epoch", original=None):
    """Metrics over epochs, one line per ``hue`` value, mean +/- SE bands (Fig 5.1 form).

    Lines are coloured by optimizer and styled by the rest of the condition (``_Styles``); when
    the conditions walk one numeric setting of one optimizer (batch size, width, depth: see
    ``_ordered``), they are coloured along ``SEQUENTIAL`` in its order instead, solid, and the
    legend, titled by the setting, lists its values in order.

    ``original``: the dissertation's runs in the same form (``original.curves``); each of its
    ``hue`` values that is drawn here gets a wide, pale line of the same colour and style,
    "(dissertation)".
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.9 * len(metrics), 3.4), squeeze=False)
    style = _Styles()
    numbers = _ordered(summary, hue)
    keys = list(dict.fromkeys(summary[hue])) if len(summary) else []
    if numbers:
        colours = _sequential(numbers)
        keys = sorted(keys, key=numbers.get)
        styles = {k: dict(color=colours[k], linestyle="-") for k in keys}
        names = {k: _number(numbers[k]) for k in keys}
    else:
        styles = {k: style(k) for k in keys}
        names = {k: label(k) for k in keys}
    for ax, m in zip(axes[0], metrics):
        if not len(summary):
            _empty(ax)
            continue
        for key in keys:
            g = summary[summary[hue] == key].sort_values(x)
            st = styles[key]
            _band(ax, g[x].to_numpy(float), g[m].to_numpy(float), _se(g, m), names[key], **st)
            if original is not None and m in original and key in set(original[hue]):
                o = original[original[hue] == key].sort_values(x)
                if o[m].notna().any():
                    _band(ax, o[x].to_numpy(float), o[m].to_numpy(float), _se(o, m),
                          f"{names[key]} (dissertation)", color=st["color"], linestyle=st["linestyle"],
                          linewidth=4, alpha=0.3)
        _axis(ax, summary, x, m)
    if title:
        fig.suptitle(title)
    if numbers:  # one row, in the setting's order, titled by what the numbers are
        _legend_below(fig, axes, ncol=len(keys), title=_xlabel(summary, "value"))
    else:
        _legend_below(fig, axes)
    return fig


def versus(summary: pd.DataFrame, x="value", hue="optimizer", metrics=TRIO, logx=False, title=None,
           marks=None, categorical=False):
    """Last-epoch value against a condition, mean +/- SE error bars (Figs 5.8-5.14 form; none
    at a mean over one run).

    ``marks``: {label: x} draws a vertical line (e.g. the baseline setting). ``categorical``:
    x values are categories (e.g. mlp, cnn): points side by side, not joined by lines.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.9 * len(metrics), 3.4), squeeze=False)
    order = list(dict.fromkeys(summary[x])) if categorical and len(summary) else []
    groups = list(dict.fromkeys(summary[hue])) if len(summary) else []
    style = _Styles()
    for ax, m in zip(axes[0], metrics):
        if not len(summary):
            _empty(ax)
            continue
        for i, (key, g) in enumerate(summary.groupby(hue, sort=False)):
            st = style(key)
            if categorical:  # side by side within each category, no joining line
                xs = g[x].map(order.index).to_numpy(float) + (i - (len(groups) - 1) / 2) * 0.8 / max(len(groups), 1)
            else:
                xs = g[x].to_numpy(float)
            idx = np.argsort(xs)
            _errorbar(ax, xs[idx], g[m].to_numpy(float)[idx], _se(g, m)[idx], marker=st["marker"], ms=4.5,
                      color=st["color"], linestyle="none" if categorical else st["linestyle"], label=label(key))
        if categorical:  # categories of several words are broken over lines by the caller ("\n")
            names = [word(o) for o in order]
            slant = len(order) > 3 and not any("\n" in n for n in names)
            ax.set_xticks(range(len(order)), names, rotation=20 if slant else 0)
        if logx:
            ax.set_xscale("log")
        for name, xv in (marks or {}).items():
            ax.axvline(xv, color="k", lw=0.8, linestyle=":", label=str(name))
        ax.set_xlabel(_xlabel(summary, x))
        ax.set_ylabel(LABELS.get(m, m))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


def scatter(summary: pd.DataFrame, x, y, hue="condition", title=None, diagonal=False, ax=None, legend=True):
    """Scatter of two metrics (one point per epoch or condition), e.g. sparsity vs selectivity (Fig 5.4).
    ``legend=False``: none on the axes (``scatters`` draws one for all its panels)."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
    style = _Styles()
    if not len(summary):
        _empty(ax)
    for key, g in summary.groupby(hue, sort=False):
        st = style(key)
        ax.scatter(g[x], g[y], s=16, color=st["color"], marker=st["marker"], label=label(key))
    if diagonal and len(summary):
        lo = np.nanmin([summary[x].min(), summary[y].min()])
        hi = np.nanmax([summary[x].max(), summary[y].max()])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(alpha=0.3)
    if len(summary) and legend:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    if fig is not None:
        fig.tight_layout()
    return fig or ax.figure


def scatters(summary: pd.DataFrame, pairs, hue="condition", title=None, yscale=None):
    """One ``scatter`` panel per (x, y) metric pair, side by side, and one legend below them all.
    ``yscale``: a matplotlib scale for every y axis, e.g. ``dict(value="symlog", linthresh=0.01)``
    for a quantity that spans decades and can be negative.

    When the ``hue`` values cross optimizers with another setting (``'adam HL5'``: colour =
    optimizer, marker = the rest, as ``_Styles`` draws them) the legend is factored: one entry per
    colour and one per marker (4 + 5, not 4 x 5 entries), titled by ``summary``'s ``param``.
    """
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 3.9), squeeze=False)
    for ax, (x, y) in zip(axes[0], pairs):
        scatter(summary, x, y, hue=hue, ax=ax, legend=False)
        if yscale and len(summary):
            ax.set_yscale(**yscale)
    if title:
        fig.suptitle(title)
    keys = list(dict.fromkeys(summary[hue])) if len(summary) else []
    opts = list(dict.fromkeys(_split(k)[0] for k in keys))
    rests = list(dict.fromkeys(_split(k)[1] for k in keys))
    if len(keys) < 6 or None in opts or len(opts) < 2 or len(rests) < 2:
        _legend_below(fig, axes)
        return fig
    from matplotlib.lines import Line2D
    style = _Styles()  # the same order of appearance as each panel's, so the same markers
    marks = {}
    for k in keys:
        marks.setdefault(_split(k)[1], style(k)["marker"])
    by_colour = [Line2D([], [], color=PALETTE[o], marker="o", linestyle="none", label=label(o)) for o in opts]
    by_marker = [Line2D([], [], color="0.3", marker=marks[r], linestyle="none", label=word(r)) for r in rests]
    setting = _xlabel(summary, "value") if "param" in summary else "condition"
    fig.legend(handles=by_colour, loc="lower center", bbox_to_anchor=(0.3, 0), ncol=len(opts), frameon=False,
               title="colour: optimizer", title_fontsize=plt.rcParams["legend.fontsize"])
    fig.legend(handles=by_marker, loc="lower center", bbox_to_anchor=(0.72, 0), ncol=len(rests), frameon=False,
               title=f"marker: {setting}", title_fontsize=plt.rcParams["legend.fontsize"])
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


def layer_bars(summary: pd.DataFrame, hue="optimizer", metrics=("sparsity", "selectivity_avg"), title=None):
    """Per-layer bars with SE (Fig 5.7 form): x = layer, one bar group per ``hue`` value."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    groups = list(dict.fromkeys(summary[hue])) if len(summary) else []
    layers = sorted(summary.layer.unique(), key=int) if len(summary) else []
    width = 0.8 / max(len(groups), 1)
    style = _Styles()
    for ax, m in zip(axes[0], metrics):
        if not len(summary):
            _empty(ax)
            continue
        for i, key in enumerate(groups):
            g = summary[summary[hue] == key].set_index("layer").reindex(layers)
            se = _se(g, m)
            ax.bar(np.arange(len(layers)) + i * width, g[m], width, label=label(key), color=style(key)["color"])
            has = np.isfinite(se)
            if has.any():
                ax.errorbar((np.arange(len(layers)) + i * width)[has], g[m].to_numpy(float)[has], yerr=se[has],
                            linestyle="none", capsize=2, color="k")
        # the layer's number under its group, "hidden layer" once on the axis: four long labels ran together
        ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, [str(layer) for layer in layers])
        ax.set_xlabel("hidden layer (1: next to the input)")
        ax.set_ylabel(LABELS.get(m, m))
        ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
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
              x="epoch", logy=False):
    """One metric over epochs, one panel per ``panel`` value, one line per ``hue`` (mean +/- SE;
    no band where a mean rests on one run). ``logy``: a log y axis (losses spanning decades)."""
    keys = list(dict.fromkeys(summary[panel])) if len(summary) else [None]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.9 * len(keys), 3.4), squeeze=False, sharey=True)
    style = _Styles()
    for ax, k in zip(axes[0], keys):
        if k is None:
            _empty(ax)
            continue
        for key, g in summary[summary[panel] == k].groupby(hue, sort=False):
            g = g.sort_values(x)
            _band(ax, g[x].to_numpy(float), g[metric].to_numpy(float), _se(g, metric), label(key), **style(key))
        ax.set_title(label(k))
        _axis(ax, summary, x)
        if logy:
            ax.set_yscale("log")
    axes[0][0].set_ylabel(LABELS.get(metric, metric))
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


def fit_scatter(df: pd.DataFrame, x: str, y: str, hue="condition", ax=None, title=None):
    """``y`` against ``x``, one point per row (run), with the least-squares line and its 95%
    confidence band (for the mean of ``y`` at each ``x``; t quantile ~ 2)."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
    style = _Styles()
    for key, g in df.groupby(hue, sort=False):
        st = style(key)
        ax.scatter(g[x], g[y], s=14, color=st["color"], marker=st["marker"], label=label(key))
    d = df[[x, y]].astype(float).dropna()
    if len(d) > 2 and d[x].nunique() > 1:
        X = np.column_stack([np.ones(len(d)), d[x]])
        beta, *_ = np.linalg.lstsq(X, d[y], rcond=None)
        resid = d[y] - X @ beta
        cov = resid @ resid / (len(d) - 2) * np.linalg.inv(X.T @ X)
        xs = np.linspace(d[x].min(), d[x].max(), 50)
        Xs = np.column_stack([np.ones(50), xs])
        half = 2 * np.sqrt(np.einsum("ij,jk,ik->i", Xs, cov, Xs))
        ax.plot(xs, Xs @ beta, "k-", lw=1)
        ax.fill_between(xs, Xs @ beta - half, Xs @ beta + half, color="k", alpha=0.12, linewidth=0)
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if fig is not None:
        _legend_below(fig, [ax])
    return fig or ax.figure


def per_seed(df: pd.DataFrame, panel="condition", hue=None, metrics=TRIO, x="epoch", title=None):
    """Every seed's own curve (no averaging): one row of panels per metric, one column per
    ``panel`` value; with ``hue``, lines coloured/styled by it. ``df``: rows of ``results``
    (one split and layer). The static book's stand-in for a widget that picks one condition."""
    keys = list(dict.fromkeys(df[panel])) if len(df) else [None]
    fig, axes = plt.subplots(len(metrics), len(keys), figsize=(3.4 * len(keys), 2.6 * len(metrics)),
                             squeeze=False, sharex=True, sharey="row")
    style = _Styles()
    for j, k in enumerate(keys):
        for i, m in enumerate(metrics):
            ax = axes[i][j]
            if k is None:
                _empty(ax)
                continue
            sub = df[df[panel] == k]
            for key, g in sub.groupby([hue, "seed"] if hue else ["seed"], sort=False):
                name = key[0] if hue else k
                st = style(name)
                g = g.sort_values(x)
                ax.plot(g[x], g[m], color=st["color"], linestyle=st["linestyle"], lw=0.9, alpha=0.8,
                        label=label(name) if hue else None)
            if i == 0:
                ax.set_title(label(k))
            _axis(ax, df, x, m if j == 0 else None)
            if i < len(metrics) - 1:
                ax.set_xlabel("")
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


def unit_profiles(means, selectivity, ranks, title=None):
    """Mean activation per digit of single units, small multiples: ``means`` [10, units] (class
    means), ``selectivity`` [units] (CCMAS), ``ranks``: positions in the order of decreasing
    selectivity (0 = most selective; -1 = least)."""
    means, selectivity = np.asarray(means), np.asarray(selectivity)
    order = np.argsort(-selectivity, kind="stable")
    fig, axes = plt.subplots(2, -(-len(ranks) // 2), figsize=(2.3 * -(-len(ranks) // 2), 4.6), sharey=True,
                             squeeze=False)
    for ax, r in zip(axes.flat, ranks):
        u = int(order[r])
        ax.bar(range(10), means[:, u], color="0.35")
        ax.set_title(f"rank {r % len(order)}: unit {u}\nCCMAS {selectivity[u]:.2f}", fontsize=9)
        ax.set_xticks(range(10))
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean activation")
    for ax in axes[-1]:
        ax.set_xlabel("digit")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def vsgd_rates(rates: pd.DataFrame, ink, title=None):
    """Two panels from ``engine.vsgd_rates`` rows, inked pixels only (``ink``: [784] fractions of
    images that ink each pixel, ``data.ink_frequency``): left, over the batches, the median of
    the pixels' median first-layer rates; right, at the last step, each pixel's rate against its
    ink, with a line through the medians of 12 log-spaced ink bands. Log scales: a zero rate
    (the warm-up's, or a band's median) is not drawn."""
    ink = np.asarray(ink, dtype=float)
    rates = rates.assign(ink=ink[rates.pixel.to_numpy()])
    inked = rates[rates.ink > 0]  # a never-inked pixel's weights never move
    last = inked[inked.step == inked.step.max()]
    edges = np.geomspace(inked.ink.min(), 1.0, 13) if len(inked) else np.array([0.0, 1.0])
    centres = np.sqrt(edges[:-1] * edges[1:])
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.6))
    course = rate_course(rates, ink)
    for o in inked.condition.unique():
        line = course.loc[o][lambda c: c > 0]
        axes[0].plot(line.index, line.values, label=label(o), color=PALETTE.get(o))
        e = last[last.condition == o]
        drawn = e[e.rate > 0]
        axes[1].scatter(drawn.ink, drawn.rate, s=4, alpha=0.25, color=PALETTE.get(o), linewidths=0)
        mid = e.groupby(pd.cut(e.ink, edges, include_lowest=True), observed=False).rate.median()
        axes[1].plot(centres, mid.where(mid > 0).to_numpy(), color=PALETTE.get(o), lw=2)
    axes[0].set_xlabel("batch")
    axes[0].set_ylabel("median first-layer rate")
    axes[0].set_title("over the batches (median over inked pixels)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("fraction of training images that ink the pixel")
    axes[1].set_ylabel("median rate of the pixel's weights")
    axes[1].set_title(f"after batch {int(rates.step.max()):,} (line: median per band)")
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes, ncol=2)
    return fig


def saturation(rows: pd.DataFrame, layer: int = 1, title=None):
    """From ``engine.saturation`` rows, ``layer``'s stuck shares over the batches, one line per
    condition (seeds pooled): left, the fraction of (unit, image) pairs whose activation slope
    is exactly 0; right, the fraction of units stuck on every probe image."""
    rows = rows[rows.layer == layer]
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2), sharey=True)
    for o in rows.condition.unique():
        g = rows[rows.condition == o].groupby("step")[["stuck", "saturated"]].mean()
        for ax, col in zip(axes, ("stuck", "saturated")):
            ax.plot(g.index, g[col], label=label(o), color=PALETTE.get(o))
    axes[0].set_ylabel("fraction")
    axes[0].set_title(f"layer {layer}: unit-image pairs with slope 0")
    axes[1].set_title(f"layer {layer}: units with slope 0 on every image")
    for ax in axes:
        ax.set_xlabel("batch")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes, ncol=3)
    return fig
