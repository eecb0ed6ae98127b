# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Batch size (section 5.6)
#
# Batch sizes 1, 5, 10, 50, 200, 500 and 1000 at Table 5.1's learning rates (not rescaled), 30
# epochs. Batch 1 is 60,000 optimizer steps per epoch.
#
# **Deviations.** None in the settings.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["sgd", "adam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale
live_widgets = True      # draw the interactive controls (the book builder turns them off: its pages show every choice)

# %%
import matplotlib.pyplot as plt

from sparsel.glue import glue
from sparsel import findings, original, plots, summary

df = summary.load("batch_size", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch against batch size (Fig 5.11)

# %% mystnb={"figure": {"caption": "Last epoch against batch size (Fig 5.11); the vertical line marks the baseline. Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-batch-size-5"}}
fig = plots.versus(last, hue="optimizer", logx=True, title="Last epoch vs batch size", marks={"baseline": 50})
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_bs_dir", summary.compare(last, f"{o} bs=1", f"{o} bs=50"))
    g = last[last.optimizer == o].dropna(subset=["sparsity"])
    glue(f"{o}_bs_best", int(g.value[g.sparsity.idxmax()]) if len(g) else "not run")


# %%
def size(condition):
    return f"{int(last.at[condition, 'value'])}"  # a condition named by its batch size


for o in ("sgd", "adagrad", "adadelta", "adam"):
    rows = last.index[last.optimizer == o]
    glue(f"{o}_bs_top", summary.best_words(last, rows, "sparsity", size))
    glue(f"{o}_bs_top_sel", summary.best_words(last, rows, "selectivity_avg", size))

# %% [markdown]
# Sparsity at batch 1 against batch 50: for SGD {glue:text}`sgd_bs_dir`; for Adam
# {glue:text}`adam_bs_dir`. The sparsest batch size (Hoyer) is {glue:text}`sgd_bs_top` for
# SGD; {glue:text}`adagrad_bs_top` for Adagrad; {glue:text}`adadelta_bs_top` for Adadelta; and
# {glue:text}`adam_bs_top` for Adam. The most selective (CCMAS) is {glue:text}`sgd_bs_top_sel`
# for SGD; {glue:text}`adagrad_bs_top_sel` for Adagrad; {glue:text}`adadelta_bs_top_sel` for
# Adadelta; and {glue:text}`adam_bs_top_sel` for Adam. The dissertation found 1, 200, 50 and 1.
# A best batch size that is not distinguishable from the runner-up (within twice the combined
# standard error) does not single out one batch size.
#
# ## Curves over epochs (Fig 7.3)

# %% mystnb={"figure": {"caption": "Curves over epochs for each batch size, one optimizer per figure (Fig 7.3). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-batch-size-7"}}
curves = summary.table(df)
for o in ("sgd", "adagrad", "adadelta", "adam"):
    sub = curves[curves.optimizer == o]
    if len(sub):
        plots.curves(sub, hue="condition", title=plots.label(o))

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("SGD: batch 1 vs 50", "sgd bs=1", "sgd bs=50"),
    ("Adam: batch 1 vs 50", "adam bs=1", "adam bs=50"),
]
effects = summary.effect_table(last, pairs)
for key, words in summary.effect_words(last, pairs, effects).items():
    glue(f"eff_{key}", words)
effects

# %% [markdown]
# Each cell is a − b at the last epoch (mean over seeds) ± its combined standard error, with
# **higher** or **lower** where the difference exceeds twice that error (**one seed**: no error bar;
# **not run**: a condition missing or diverged). Hoyer and Gini give the difference the same sign in
# {glue:text}`eff_agree_sparsity` of the {glue:text}`eff_n` effects, CCMAS and maximum informedness
# in {glue:text}`eff_agree_selectivity`. For {glue:text}`eff_label` it reads
# {glue:text}`eff_sparsity` under Hoyer against {glue:text}`eff_gini` under Gini, and
# {glue:text}`eff_selectivity_avg` under CCMAS against {glue:text}`eff_informedness` under maximum
# informedness. Where a row's direction differs between a dissertation metric and its alternative,
# the effect depends on the metric chosen, not only on the network. The metrics of a pair measure
# different properties (maximum informedness asks how well one threshold on a unit separates a
# class from the rest, CCMAS how far one class's mean activation exceeds the others'), so a
# disagreement shows that the effect is specific to a metric, not that either metric is biased.

# %% [markdown]
# ## Explore
#
# Each seed's own curves at batch 1 and at the batch-50 baseline, for every optimizer. In
# Jupyter the controls below pick any optimizer and batch size; the book shows this view.

# %% mystnb={"figure": {"caption": "Each seed's own curve (no averaging) at batch 1 and batch 50, one column per optimizer.", "name": "fig-batch-size-per-seed"}}
per_seed = df[(df.split == "test") & (df.layer == "mean")]
pair = per_seed[per_seed.batch_size.isin([1, 50])].assign(batch=lambda d: "batch " + d.batch_size.astype(str))
fig = plots.per_seed(pair, panel="optimizer", hue="batch")

# %% tags=["widget"]
import ipywidgets as widgets

per_seed = df[(df.split == "test") & (df.layer == "mean")]


def explore(optimizer="sgd", batch_size=1):
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, m in zip(axes, ("accuracy", "sparsity", "selectivity_avg")):
        for bs, style in ((batch_size, "-"), (50, "--")):
            sub = per_seed[(per_seed.optimizer == optimizer) & (per_seed.batch_size == bs)]
            for seed, g in sub.groupby("seed"):
                ax.plot(g.epoch, g[m], style, lw=0.9, label=f"bs={bs} seed {seed}")
        ax.set_xlabel("epoch"); ax.set_ylabel(plots.LABELS[m]); ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"{optimizer}, batch {batch_size} (solid) vs batch 50 (dashed)")
    fig.tight_layout()
    plt.show()


if live_widgets:
    widgets.interact(explore, optimizer=["sgd", "adagrad", "adadelta", "adam"],
                     batch_size=sorted(per_seed.batch_size.unique()));

# %% [markdown]
# ## The dissertation's claims, checked
#
# The conclusions this chapter illustrates, each tested on this page's runs by the rule of the
# [findings chapter](06_01_findings.ipynb): first under the dissertation's two metrics (Hoyer and
# CCMAS, with the numbers the verdict rests on), then under each of five metrics alone. A claim
# about accuracy alone reads the same under every metric; **not run** marks a claim that needs
# runs this page's scale does not have yet, **n/a** a check the metric cannot make.

# %%
claims = findings.chapter_checks("05_06_batch_size", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_06_batch_size.csv <data/05_06_batch_size.csv>`.

# %%
glue("reproduce", summary.reproduce("batch_size", df), markdown=True)
glue("original_note", original.note("batch_size"), markdown=True)
summary.page_csv(summary.table(df), "05_06_batch_size")

