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
# We draw it from the baseline runs (no new runs) and add what the dissertation's figure could
# not show: where accuracy is *not* high, as at smoke scale or in the conditions where a network
# fails to train, the product and the plain metric part ways.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["sgd", "adam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale

# %%
from sparsel.glue import glue
from sparsel import plots, summary

df = summary.load("baseline", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""))
glue("n_seeds", plots.seeds_words(df))
test = df[(df.split == "test") & (df.layer == "mean")].assign(
    acc_x_sparsity=lambda t: t.accuracy * t.sparsity, acc_x_selectivity=lambda t: t.accuracy * t.selectivity_avg)
products = ("acc_x_sparsity", "acc_x_selectivity")
t = summary.mean_se(test, by=("condition", "epoch"), metrics=("accuracy", "sparsity", "selectivity_avg", *products))

# %% [markdown]
# ```{note}
# Figures on this page: {glue:text}`scale_line`.
# ```
#
# ## The products over epochs (Fig 6.2) beside the plain metrics (Fig 5.1)

# %% mystnb={"figure": {"caption": "Accuracy \u00d7 sparsity and accuracy \u00d7 selectivity over epochs (Fig 6.2), then the plain metrics (Fig 5.1). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-accuracy-products-4"}}
fig = plots.curves(t, hue="condition", metrics=products, title="Baseline: accuracy-weighted metrics")
fig = plots.curves(t, hue="condition", metrics=("sparsity", "selectivity_avg"), title="Baseline: plain metrics")

# %% [markdown]
# ## How much does the weighting change the picture?
#
# The correlation, over every optimizer and epoch after the first, between each plain metric and
# its product with accuracy. Near 1, the product adds nothing (the dissertation's finding);
# lower, accuracy varies enough to reorder the conditions.

# %%
ep = t[t.epoch > 0]
glue("r_sparsity", ep.sparsity.corr(ep.acc_x_sparsity))
glue("r_selectivity", ep.selectivity_avg.corr(ep.acc_x_selectivity))
glue("acc_min", ep.accuracy.min())
ep[["condition", "epoch", "accuracy", "sparsity", "acc_x_sparsity", "selectivity_avg", "acc_x_selectivity"]].round(3)

# %% [markdown]
# Correlation of sparsity with accuracy × sparsity: {glue:text}`r_sparsity:.3f`; of selectivity
# with accuracy × selectivity: {glue:text}`r_selectivity:.3f`. The lowest test accuracy among
# these epochs is {glue:text}`acc_min:.3f`: the higher it is, the less the weighting can change.

# %% [markdown]
# ## Reproduce this page
#
# {glue:text}`reproduce` {glue:text}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`06_03_accuracy_products.csv <data/06_03_accuracy_products.csv>`.

# %%
glue("reproduce", summary.reproduce("baseline", df))
glue("original_note", "The original runs of the baseline are beside ours in the baseline chapter.")
summary.page_csv(summary.table(df), "06_03_accuracy_products")

