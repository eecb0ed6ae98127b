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
# # Combining conditions (section 5.12)
#
# SGD at batch 1 with momentum 0.9, against SGD at batch 1 and SGD with momentum 0.9 at batch 50;
# Adam with single-class batches and 768 units, against each part alone. 30 epochs.
#
# **Deviations.** We add each optimizer's baseline for reference.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["sgd", "adam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale

# %%
import matplotlib.pyplot as plt

from sparsel.glue import glue
from sparsel import plots, summary

df = summary.load("combined", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:text}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch and curves (Fig 5.19)

# %%
for o in ("sgd", "adam"):
    plots.versus(last[last.optimizer == o], x="value", hue="optimizer", categorical=True, title=o)
curves = summary.table(df)
for o in ("sgd", "adam"):
    plots.curves(curves[curves.optimizer == o], hue="condition", title=o)
c = last.sparsity
glue("adam_vs_768", summary.direction(c["adam single + 768 units"], c["adam 768 units"]))
glue("adam_vs_single", summary.direction(c["adam single + 768 units"], c["adam single"]))
glue("sgd_vs_bs1", summary.direction(c["sgd bs=1 + momentum=0.9"], c["sgd bs=1"]))

# %% [markdown]
# Adam's combined network is {glue:text}`adam_vs_768` in sparsity than 768 units alone and
# {glue:text}`adam_vs_single` than single-class batches alone; SGD's combination is
# {glue:text}`sgd_vs_bs1` than batch 1 alone. The dissertation found the combination helped Adam
# and hurt SGD.
