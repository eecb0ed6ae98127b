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
# # Accuracy × sparsity and accuracy × selectivity (further work, section 6.3.4)
#
# Section 6.3.4 suggests one plot instead of three: weight sparsity and selectivity by test
# accuracy, so that a network is only credited for the sparsity it reaches while it classifies.
# The dissertation tried it on the baseline (its Fig 6.2) and found it added little, "the test
# accuracy is always very high (nearly 90% or more)", so the products trace the plain curves.
# We draw it from the baseline runs (no new runs), then add what the dissertation's figure could
# not show: conditions where accuracy is *not* high, from section 5.5's learning-rate grid, where
# some networks fail to train. There the product and the plain metric can part ways.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["sgd", "adam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale

# %%
import pandas as pd

from sparsel.glue import glue
from sparsel import plots, summary

df = summary.load("baseline", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
test = df[(df.split == "test") & (df.layer == "mean")].assign(
    acc_x_sparsity=lambda t: t.accuracy * t.sparsity, acc_x_selectivity=lambda t: t.accuracy * t.selectivity_avg)
products = ("acc_x_sparsity", "acc_x_selectivity")
t = summary.mean_se(test, by=("condition", "epoch"), metrics=("accuracy", "sparsity", "selectivity_avg", *products))

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```
#
# ## The products over epochs (Fig 6.2) beside the plain metrics (Fig 5.1)

# %% mystnb={"figure": {"caption": "Accuracy \u00d7 sparsity and accuracy \u00d7 selectivity over epochs (Fig 6.2), then the plain metrics (Fig 5.1). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-accuracy-products-4"}}
fig = plots.curves(t, hue="condition", metrics=products, title="Baseline: accuracy-weighted metrics")
fig = plots.curves(t, hue="condition", metrics=("sparsity", "selectivity_avg"), title="Baseline: plain metrics")

# %% [markdown]
# ## How much does the weighting change the picture?
#
# The table gives each optimizer's last epoch, plain and weighted; below it, the correlation over
# every optimizer and epoch after the first between each plain metric and its product with
# accuracy. Near 1, the product adds nothing (the dissertation's finding); lower, accuracy varies
# enough to reorder the conditions.

# %%
ep = t[t.epoch > 0]
glue("r_sparsity", ep.sparsity.corr(ep.acc_x_sparsity))
glue("r_selectivity", ep.selectivity_avg.corr(ep.acc_x_selectivity))
glue("acc_min", ep.accuracy.min())
# the last epoch of each optimizer (the figure above has every epoch)
ep[ep.epoch == ep.epoch.max()].set_index("condition")[
    ["accuracy", "sparsity", "acc_x_sparsity", "selectivity_avg", "acc_x_selectivity"]].round(3)

# %% [markdown]
# Correlation of sparsity with accuracy × sparsity: {glue:text}`r_sparsity:.3f`; of selectivity
# with accuracy × selectivity: {glue:text}`r_selectivity:.3f`. The lowest test accuracy among
# these epochs is {glue:text}`acc_min:.3f`: the higher it is, the less the weighting can change.
#
# ## Where networks fail to train: the learning-rate grid
#
# Section 5.5 trains every optimizer at fifteen learning rates from $10^{-5}$ to $10^3$, and at
# the extremes a network can fail to learn. Its runs (read from the store as the hyperparameters
# chapter left them; none is trained here) give conditions with low accuracy that the baseline
# lacks. Below, each learning-rate condition at its last epoch, least accurate first.

# %%
from sparsel.store import Store

hp = summary.results("hyperparameters", scale, store if isinstance(store, Store) else Store(store), seeds,
                     missing="drop")
grid = summary.last_table(hp[hp.param == "lr"]) if len(hp) else pd.DataFrame(columns=["accuracy", "sparsity", "selectivity_avg"])
grid = grid.assign(acc_x_sparsity=grid.accuracy * grid.sparsity,
                   acc_x_selectivity=grid.accuracy * grid.selectivity_avg).dropna(subset=["sparsity"])
glue("grid_n", len(grid))
glue("grid_n_chance", int((grid.accuracy <= summary.CHANCE).sum()))
glue("chance", summary.CHANCE)
for m in ("sparsity", "selectivity"):
    plain, prod = ("sparsity" if m == "sparsity" else "selectivity_avg"), f"acc_x_{m}"
    glue(f"grid_r_{m}", grid[plain].corr(grid[prod]) if len(grid) > 2 else float("nan"))
    glue(f"grid_best_{m}", f"{grid[plain].idxmax()} (accuracy {grid.accuracy[grid[plain].idxmax()]:.3f})"
         if len(grid) else "not run")
    glue(f"grid_best_{m}_product", f"{grid[prod].idxmax()} (accuracy {grid.accuracy[grid[prod].idxmax()]:.3f})"
         if len(grid) else "not run")
grid.sort_values("accuracy")[["accuracy", "sparsity", "acc_x_sparsity", "selectivity_avg", "acc_x_selectivity"]].head(12).round(3)

# %% [markdown]
# Over the {glue:text}`grid_n` learning-rate conditions, {glue:text}`grid_n_chance` of them at or
# below {glue:text}`chance` accuracy (chance is 0.1), the correlation of sparsity with accuracy ×
# sparsity is {glue:text}`grid_r_sparsity:.3f` and of selectivity with accuracy × selectivity
# {glue:text}`grid_r_selectivity:.3f`. The sparsest condition is {glue:text}`grid_best_sparsity`;
# by accuracy × sparsity it is {glue:text}`grid_best_sparsity_product`. The most selective is
# {glue:text}`grid_best_selectivity`; by accuracy × selectivity, {glue:text}`grid_best_selectivity_product`.
# Where the two picks differ, the product has done what section 6.3.4 asks of it: it no longer
# credits a network for a sparsity (or selectivity) it reaches without classifying.

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`06_03_accuracy_products.csv <data/06_03_accuracy_products.csv>`.

# %%
glue("reproduce", summary.reproduce("baseline", df), markdown=True)
glue("original_note", "The original runs of the baseline are beside ours in the baseline chapter.", markdown=True)
summary.page_csv(summary.table(df), "06_03_accuracy_products")

