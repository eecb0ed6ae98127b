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
from sparsel import findings, original, plots, summary

df = summary.load("combined", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch and curves (Fig 5.19)

# %% mystnb={"figure": {"caption": "Each combination against its parts: last epoch, then curves (Fig 5.19). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-combined-5"}}
# the grid's values "part A"/"part B" differ by optimizer: each category is named by what it is
# (short, over lines: four categories share a panel's width)
PARTS = {"sgd baseline": "baseline\n(batch 50)", "sgd bs=1": "batch 1", "sgd momentum=0.9": "momentum\n0.9",
         "sgd bs=1 + momentum=0.9": "both", "adam baseline": "baseline", "adam 768 units": "768\nunits",
         "adam single": "single-\nclass", "adam single + 768 units": "both"}
for o in ("sgd", "adam"):
    sub = last[last.optimizer == o]
    plots.versus(sub.assign(value=sub.condition.map(PARTS).fillna(sub.value)), x="value", hue="optimizer",
                 categorical=True, title=plots.label(o))
curves = summary.table(df)
for o in ("sgd", "adam"):
    plots.curves(curves[curves.optimizer == o], hue="condition", title=plots.label(o))
glue("adam_vs_768", summary.compare(last, "adam single + 768 units", "adam 768 units"))
glue("adam_vs_single", summary.compare(last, "adam single + 768 units", "adam single"))
units = df.drop_duplicates("condition").set_index("condition").hidden.map(sum)  # hidden units per condition
for name, c in (("adam_units", "adam single + 768 units"), ("single_units", "adam single")):
    glue(name, f"{units[c]:,}" if c in units.index else "not run")
glue("sgd_vs_bs1", summary.compare(last, "sgd bs=1 + momentum=0.9", "sgd bs=1"))

# %% [markdown]
# Sparsity of Adam's combined network (single-class batches and 768 units) against 768 units
# alone: {glue:text}`adam_vs_768`; against single-class batches alone: {glue:text}`adam_vs_single`.
# SGD's combination (batch 1 and momentum 0.9) against batch 1 alone: {glue:text}`sgd_vs_bs1`.
# The dissertation found the combination helped Adam
# and hurt SGD.

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("Adam: combined vs 768 units alone", "adam single + 768 units", "adam 768 units"),
    ("Adam: combined vs single-class alone", "adam single + 768 units", "adam single"),
    ("SGD: batch 1 alone vs combined", "sgd bs=1", "sgd bs=1 + momentum=0.9"),
    ("SGD: momentum 0.9 alone vs combined", "sgd momentum=0.9", "sgd bs=1 + momentum=0.9"),
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
# disagreement shows that the effect is specific to a metric, not that either metric is biased. Adam's combined network has
# {glue:text}`adam_units` units against its single-class part's {glue:text}`single_units`, so Hoyer's dependence on the
# number of units enters the second row: the Gini column is the width-fair reading there.

# %% [markdown]
# ## The dissertation's claims, checked
#
# The conclusions this chapter illustrates, each tested on this page's runs by the rule of the
# [findings chapter](06_01_findings.ipynb): first under the dissertation's two metrics (Hoyer and
# CCMAS, with the numbers the verdict rests on), then under each of five metrics alone. A claim
# about accuracy alone reads the same under every metric; **not run** marks a claim that needs
# runs this page's scale does not have yet, **n/a** a check the metric cannot make.

# %%
claims = findings.chapter_checks("05_12_combined", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_12_combined.csv <data/05_12_combined.csv>`.

# %%
glue("reproduce", summary.reproduce("combined", df), markdown=True)
glue("original_note", original.note("combined"), markdown=True)
summary.page_csv(summary.table(df), "05_12_combined")

