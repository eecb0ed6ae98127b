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
# # A convolutional front end (section 5.10)
#
# Two conv/ReLU/max-pool blocks (32 and 64 channels) before the 256-unit sigmoid layer, against
# the plain MLP, 5 epochs. Sparsity and selectivity are measured on the 256-unit layer.
#
# **Deviations.** None in the settings. The original saw Adagrad at lr 0.1 diverge with the CNN
# (selectivity 0/0). A run that diverges is shown as diverged here, not as 0; a run whose
# fully connected layer is dead (every unit constant over the test images, dead fraction 1) is
# marked dead: its sparsity and selectivity are what the formulas give a frozen layer (CCMAS 0
# by its epsilon), not a code, and the claims below leave them out.

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
import pandas as pd
from IPython.display import display

from sparsel.glue import glue
from sparsel import findings, original, plots, summary

df = summary.load("cnn", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch (Fig 5.17) and curves (Fig 7.9)

# %% mystnb={"figure": {"caption": "The conv network's fully connected layer against the MLP's hidden layer: last epoch (Fig 5.17), then curves (Fig 7.9). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-cnn-5"}}
fig = plots.versus(last, x="model", hue="optimizer", categorical=True, title="After 5 epochs: MLP vs CNN")
shown = last[["accuracy", "sparsity", "selectivity_avg", "dead_fraction", "n", "n_diverged"]].round(4)
# a dead layer (every unit constant) has no code: its numbers are the formulas' values for a frozen layer
shown["note"] = summary.state(last)
display(shown)
curves = summary.table(df)
fig = plots.curves(curves, hue="condition", title="MLP vs CNN: ours (thin), the dissertation's runs (wide, pale)",
                   original=original.curves("cnn"))
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_cnn_dir", summary.compare(last, f"{o} cnn", f"{o} mlp"))

# %% [markdown]
# Sparsity of the fully connected hidden layer with the conv layers in front, against the MLP's
# hidden layer: SGD {glue:text}`sgd_cnn_dir`; Adadelta {glue:text}`adadelta_cnn_dir`; Adam
# {glue:text}`adam_cnn_dir`; Adagrad {glue:text}`adagrad_cnn_dir`. The dissertation found it higher
# wherever the CNN kept its accuracy.

# %% [markdown]
# ## The two networks (Fig 5.16, Table 5.8)
#
# Traced from the models themselves: each layer's output shape and parameter count. The
# metrics are measured on the 256 sigmoid units of the fully connected layer in both.

# %%
from sparsel import models
from sparsel.spec import RunSpec
arch = {name: pd.DataFrame(models.describe(RunSpec(model=name))) for name in ("cnn", "mlp")}
glue("cnn_params", int(arch["cnn"].parameters.iloc[-1]))
glue("mlp_params", int(arch["mlp"].parameters.iloc[-1]))
pd.concat(arch, names=["network", "#"])

# %% [markdown]
# The CNN has {glue:text}`cnn_params:,` parameters against the MLP's {glue:text}`mlp_params:,`, most
# of them in the fully connected layer that reads the 64 feature maps.
#
# ## The dissertation's runs beside ours
#
# The dissertation's own per-seed numbers (read from its result files into `results/original/`),
# at each condition's last epoch: ours, the original's, and ours minus the original's in units of
# the combined standard error. By the book's rule a difference beyond 2 SE is more than
# run-to-run noise: {glue:text}`orig_words`.

# %%
vs = original.compare(last, "cnn")
glue("orig_words", original.compare_words(vs, scale))
vs.round(3)

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("SGD: CNN vs MLP", "sgd cnn", "sgd mlp"),
    ("Adadelta: CNN vs MLP", "adadelta cnn", "adadelta mlp"),
    ("Adam: CNN vs MLP", "adam cnn", "adam mlp"),
    ("Adagrad: CNN vs MLP", "adagrad cnn", "adagrad mlp"),
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
claims = findings.chapter_checks("05_10_cnn", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_10_cnn.csv <data/05_10_cnn.csv>`.

# %%
glue("reproduce", summary.reproduce("cnn", df), markdown=True)
glue("original_note", original.note("cnn"), markdown=True)
summary.page_csv(summary.table(df), "05_10_cnn")

