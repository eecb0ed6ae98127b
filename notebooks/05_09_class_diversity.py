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
# # Classes per batch (section 5.9)
#
# Batches of 50 holding images of 1 class (single), 2 classes x 25 (pair) or 5 classes x 10
# (5nums), against ordinary shuffled batches (original). Then Fig 5.15: single-class batches of
# 10 (A) against batch 1 with 10 consecutive same-class images (B). 30 epochs.
#
# **Deviations.** The original pair/5nums builder dropped about 5% of the images each epoch;
# here every image is used once per epoch (images that cannot fill a class slot at the end of an
# epoch form the last, mixed batches).

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

df = summary.load("class_diversity", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:text}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch (Fig 5.14)

# %%
div = last[last.param == "diversity"]
fig = plots.versus(div, hue="optimizer", categorical=True, title="Last epoch vs classes per batch")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_single_dir", summary.direction(last.at[f"{o} single", "sparsity"], last.at[f"{o} original", "sparsity"]))
    glue(f"{o}_single_acc", last.at[f"{o} single", "accuracy"])
    glue(f"{o}_original_acc", last.at[f"{o} original", "accuracy"])

# %% [markdown]
# Single-class batches give SGD {glue:text}`sgd_single_dir` sparsity than shuffled batches and
# Adam {glue:text}`adam_single_dir`, at a cost in accuracy (SGD {glue:text}`sgd_single_acc:.3f` vs
# {glue:text}`sgd_original_acc:.3f`; Adam {glue:text}`adam_single_acc:.3f` vs
# {glue:text}`adam_original_acc:.3f`). The dissertation saw the rise for SGD and Adam only.
#
# ## Small batch or few classes? (Fig 5.15)

# %%
ab = summary.table(df[df.param == "fig5_15"])
fig = plots.curves(ab, hue="condition", title="A: single-class batches of 10  vs  B: con 10 at batch 1")
for o in ("sgd", "adam"):
    glue(f"{o}_b_vs_a", summary.direction(last.at[f"{o} B: con 10 bs=1", "sparsity"],
                                          last.at[f"{o} A: single bs=10", "sparsity"]))

# %% [markdown]
# B (batch 1) ends {glue:text}`sgd_b_vs_a` in sparsity than A for SGD and
# {glue:text}`adam_b_vs_a` for Adam. The dissertation concluded that batch size 1 does more for
# sparsity and selectivity than narrowing the classes in a batch.
