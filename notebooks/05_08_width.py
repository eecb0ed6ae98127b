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
# # Hidden width (section 5.8)
#
# One hidden layer of 64 to 768 units, at batch 1 and batch 50, 30 epochs.
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

# %%
import matplotlib.pyplot as plt

from sparsel.glue import glue
from sparsel import plots, summary

df = summary.load("width", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:text}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch against width (Fig 5.13)

# %%
last["line"] = last.optimizer + " bs=" + last.batch_size.astype(str)
fig = plots.versus(last, hue="line", title="Last epoch vs hidden units")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    for b in (1, 50):
        hi, lo = last.at[f"{o} bs={b} width=768", "sparsity"], last.at[f"{o} bs={b} width=64", "sparsity"]
        glue(f"{o}_bs{b}_width_dir", summary.direction(hi, lo))

# %% [markdown]
# From 64 to 768 units at batch 50, sparsity is {glue:text}`adagrad_bs50_width_dir` for Adagrad,
# {glue:text}`adadelta_bs50_width_dir` for Adadelta, {glue:text}`adam_bs50_width_dir` for Adam and
# {glue:text}`sgd_bs50_width_dir` for SGD; at batch 1 it is {glue:text}`sgd_bs1_width_dir` for SGD
# and {glue:text}`adam_bs1_width_dir` for Adam. The dissertation found wider layers sparser except
# SGD at batch 50.
#
# ## Curves over epochs (Figs 7.5-7.6)

# %%
curves = summary.table(df)
for b in (1, 50):
    for o in ("sgd", "adam"):
        sub = curves[(curves.optimizer == o) & (curves.batch_size == b)]
        plots.curves(sub, hue="condition", title=f"{o}, batch {b}")
