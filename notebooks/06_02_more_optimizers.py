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
# # More optimizers, more past gradient (further work, section 6.2)
#
# The dissertation's clearest pattern is that "the more past gradient is taken into account
# when updating parameters, the higher the sparsity and selectivity" (momentum in SGD, rho in
# Adadelta, beta1 and beta2 in Adam; section 5.5), and section 6.2 asks for "more optimizers
# that can control the degree of the past gradient". Here are five more, each at torch.optim's
# defaults and along the knob that sets how much past gradient it keeps: RMSprop's alpha (the
# decay of its squared-gradient average), Nesterov SGD's momentum, and beta1 of AdamW, Adamax
# and NAdam (the decay of the gradient average). Knob values 0.1, 0.5, 0.9, 0.99, 0.999; batch
# 50, 30 epochs; learning rates are torch.optim's defaults (SGD's 0.1 for Nesterov).
#
# Where the claim holds, sparsity and selectivity rise with the knob for every optimizer,
# perhaps until the largest value hurts (as 0.999 did for SGD's momentum).

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["rmsprop", "nadam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale

# %%
import pandas as pd

from sparsel.glue import glue
from sparsel import original, plots, summary
from sparsel.experiments import KNOB

df = summary.load("more_optimizers", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)
last["past"] = 1 - last.value.astype(float)  # 1 - knob: a log axis that resolves 0.9 to 0.999

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```
#
# ## Last epoch against the knob
#
# The x axis is 1 − knob on a log scale, reversed, so the further right the more past gradient.

# %% mystnb={"figure": {"caption": "Last epoch against 1 \u2212 knob (log scale, reversed: right is more past gradient). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-more-optimizers-4"}}
fig = plots.versus(last, x="past", hue="optimizer", logx=True, metrics=("accuracy", "sparsity", "selectivity_avg"),
                   title="Last epoch vs past-gradient weight")
for ax in fig.axes:
    if ax.get_xlabel():
        ax.invert_xaxis()
        ax.set_xlabel("1 − knob (log; right: more past gradient)")

# %% [markdown]
# ## Does more past gradient mean sparser and more selective?
#
# Per optimizer, by the book's 2-SE rule: Hoyer sparsity and CCMAS selectivity with the knob at
# 0.99 against 0.5, and test accuracy at 0.999 against 0.99 (does too much past gradient hurt?).

# %%
rows = []
for o, knob in KNOB.items():
    a, b, c = (f"{o} {knob}={v:g}" for v in (0.5, 0.99, 0.999))
    rows.append({"optimizer": plots.label(o), "knob": knob,
                 "sparsity 0.99 vs 0.5": summary.compare(last, b, a),
                 "selectivity 0.99 vs 0.5": summary.compare(last, b, a, "selectivity_avg"),
                 "accuracy 0.999 vs 0.99": summary.compare(last, c, b, "accuracy")})
verdicts = pd.DataFrame(rows).set_index("optimizer")
words = [w.split(" (")[0] for w in verdicts["sparsity 0.99 vs 0.5"]]
glue("n_higher", words.count("higher"))
glue("n_lower", words.count("lower"))
glue("n_opts", len(words))
verdicts.style  # a Styler shows each cell whole (a DataFrame cuts long cells, hiding the SE)

# %% [markdown]
# Sparsity is higher at 0.99 than at 0.5 for {glue:text}`n_higher` of the {glue:text}`n_opts`
# optimizers and lower for {glue:text}`n_lower` (the rest: no clear difference, one seed or not
# run). The same pattern in the Gini and informedness columns below tells a real rise from
# Hoyer's or CCMAS's quirks.

# %%
pairs = [(f"{plots.label(o)}: {k} 0.99 vs 0.5", f"{o} {k}=0.99", f"{o} {k}=0.5") for o, k in KNOB.items()]
summary.effect_table(last, pairs)

# %% [markdown]
# ## Seeds that part ways
#
# A mean over seeds that end in different places hides two outcomes, and the 2-SE rule then
# reads "no clear difference" however far apart each outcome is. These are the conditions whose
# seeds end more than five points of test accuracy apart ({glue:text}`n_split` of the
# {glue:text}`n_conditions`), seed by seed, least accurate first. In {glue:text}`n_sparsest` of
# them the least accurate seed is also the sparsest, and in {glue:text}`n_least_selective` the
# least selective. Hoyer sparsity alone cannot tell a network that learnt a sparse code from one
# whose units fell quiet while it learnt less; CCMAS selectivity (last column) can, since it asks
# whether a quiet unit is quiet for some classes or for all.

# %%
splits = summary.seed_splits(df, metric="accuracy", gap=0.05)
words = summary.split_words(splits)
glue("n_split", words["n"])
glue("n_conditions", len(last))
glue("n_sparsest", words["sparsest"])
glue("n_least_selective", words["least_selective"])
splits.set_index(["condition", "seed"]).round(3)

# %% [markdown]
# ## Curves over epochs

# %% mystnb={"figure": {"caption": "Curves over epochs for each knob value, one optimizer per figure. Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-more-optimizers-10"}}
curves = summary.table(df)
for o in KNOB:
    sub = curves[curves.optimizer == o]
    if len(sub):
        plots.curves(sub, hue="condition", title=plots.label(o))

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`06_02_more_optimizers.csv <data/06_02_more_optimizers.csv>`.

# %%
glue("reproduce", summary.reproduce("more_optimizers", df), markdown=True)
glue("original_note", original.note("more_optimizers"), markdown=True)
summary.page_csv(summary.table(df), "06_02_more_optimizers")

