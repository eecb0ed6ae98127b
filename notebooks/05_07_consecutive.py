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
# # Consecutive same-class images at batch 1 (section 5.7)
#
# Batch size 1, with the training images fed in chunks of k consecutive images of one class:
# con 1 (an ordinary shuffle), con 5 and con 10, against the batch-50 baseline. 30 epochs.
#
# **Deviations.** The original drew one chunk order and reused it for every seed and epoch; here
# the chunk order is drawn from each run's seed, afresh every epoch. The original discussed SGD
# and Adam only; we run all four.

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
from sparsel import findings, original, plots, summary

df = summary.load("consecutive", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch (Fig 5.12) and curves (Fig 7.4)

# %% mystnb={"figure": {"caption": "Batch 1 with k consecutive same-class images against the batch-50 baseline: last epoch (Fig 5.12), then curves (Fig 7.4). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-consecutive-5"}}
fig = plots.versus(last, hue="optimizer", categorical=True, title="Last epoch: baseline vs con k")
curves = summary.table(df)
for o in ("sgd", "adam"):
    plots.curves(curves[curves.optimizer == o], hue="condition", title=plots.label(o))
for o in ("sgd", "adam"):
    glue(f"{o}_con1_dir", summary.compare(last, f"{o} con 1", f"{o} baseline"))
    glue(f"{o}_con10_dir", summary.compare(last, f"{o} con 10", f"{o} con 1"))

# %% [markdown]
# Sparsity at batch 1 (con 1) against the batch-50 baseline: for SGD {glue:text}`sgd_con1_dir`; for
# Adam {glue:text}`adam_con1_dir`. Ten same-class images in a row (con 10) against con 1: for SGD
# {glue:text}`sgd_con10_dir`; for Adam {glue:text}`adam_con10_dir`. The dissertation concluded
# that the small batch raises sparsity and selectivity for SGD and Adam, whatever the class runs;
# the verdict on that claim under Hoyer and CCMAS
# (5.7a, in the table at the end of this page) is: {glue:text}`verdict_5_7a`.

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("SGD: con 10 vs con 1", "sgd con 10", "sgd con 1"),
    ("Adam: con 10 vs con 1", "adam con 10", "adam con 1"),
    ("SGD: con 1 (batch 1) vs baseline", "sgd con 1", "sgd baseline"),
    ("Adam: con 1 (batch 1) vs baseline", "adam con 1", "adam baseline"),
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
# ## The dissertation's claims, checked
#
# The conclusions this chapter illustrates, each tested on this page's runs by the rule of the
# [findings chapter](06_01_findings.ipynb): first under the dissertation's two metrics (Hoyer and
# CCMAS, with the numbers the verdict rests on), then under each of five metrics alone. A claim
# about accuracy alone reads the same under every metric; **not run** marks a claim that needs
# runs this page's scale does not have yet, **n/a** a check the metric cannot make.

# %%
claims = findings.chapter_checks("05_07_consecutive", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_07_consecutive.csv <data/05_07_consecutive.csv>`.

# %%
glue("reproduce", summary.reproduce("consecutive", df), markdown=True)
glue("original_note", original.note("consecutive"), markdown=True)
summary.page_csv(summary.table(df), "05_07_consecutive")

