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
from sparsel import findings, original, plots, summary

df = summary.load("width", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch against width (Fig 5.13)

# %% mystnb={"figure": {"caption": "Last epoch against the number of hidden units, batch 1 and 50 (Fig 5.13). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-width-5"}}
last["line"] = last.optimizer + " bs=" + last.batch_size.astype(str)
fig = plots.versus(last, hue="line", title="Last epoch vs hidden units")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    for b in (1, 50):
        glue(f"{o}_bs{b}_width_dir", summary.compare(last, f"{o} bs={b} width=768", f"{o} bs={b} width=64"))

# %% [markdown]
# Sparsity with 768 units against 64, at batch 50: Adagrad {glue:text}`adagrad_bs50_width_dir`;
# Adadelta {glue:text}`adadelta_bs50_width_dir`; Adam {glue:text}`adam_bs50_width_dir`; SGD
# {glue:text}`sgd_bs50_width_dir`. At batch 1: SGD {glue:text}`sgd_bs1_width_dir`; Adam
# {glue:text}`adam_bs1_width_dir`. The dissertation found wider layers sparser except
# SGD at batch 50.
#
# ## Curves over epochs (Figs 7.5-7.6)

# %% mystnb={"figure": {"caption": "Curves over epochs for each width, one optimizer and batch size per figure (Figs 7.5-7.6). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-width-7"}}
curves = summary.table(df)
for b in (1, 50):
    for o in ("sgd", "adam"):
        sub = curves[(curves.optimizer == o) & (curves.batch_size == b)]
        plots.curves(sub, hue="condition", title=f"{plots.label(o)}, batch {b}")

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("Adagrad, batch 50: 768 vs 64 units", "adagrad bs=50 width=768", "adagrad bs=50 width=64"),
    ("Adadelta, batch 50: 768 vs 64 units", "adadelta bs=50 width=768", "adadelta bs=50 width=64"),
    ("Adam, batch 50: 768 vs 64 units", "adam bs=50 width=768", "adam bs=50 width=64"),
    ("SGD, batch 50: 768 vs 64 units", "sgd bs=50 width=768", "sgd bs=50 width=64"),
    ("SGD, batch 1: 768 vs 64 units", "sgd bs=1 width=768", "sgd bs=1 width=64"),
    ("Adam, batch 1: 768 vs 64 units", "adam bs=1 width=768", "adam bs=1 width=64"),
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
# disagreement shows that the effect is specific to a metric, not that either metric is biased. Here every row compares layers
# of different widths, so Hoyer's dependence on the number of units acts on all of them: the Gini
# column is the width-fair reading.

# %% [markdown]
# ## The dissertation's claims, checked
#
# The conclusions this chapter illustrates, each tested on this page's runs by the rule of the
# [findings chapter](06_01_findings.ipynb): first under the dissertation's two metrics (Hoyer and
# CCMAS, with the numbers the verdict rests on), then under each of five metrics alone. A claim
# about accuracy alone reads the same under every metric; **not run** marks a claim that needs
# runs this page's scale does not have yet, **n/a** a check the metric cannot make.

# %%
claims = findings.chapter_checks("05_08_width", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_08_width.csv <data/05_08_width.csv>`.

# %%
glue("reproduce", summary.reproduce("width", df), markdown=True)
glue("original_note", original.note("width"), markdown=True)
summary.page_csv(summary.table(df), "05_08_width")

