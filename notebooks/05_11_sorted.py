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
# # Sorted training data (section 5.11)
#
# Training images ordered by class (in MNIST order within a class), batch 50, the same order
# every epoch, 100 epochs; against shuffled batches for 100 epochs.
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

df = summary.load("sorted", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Curves (Fig 7.10) and last epoch (Fig 5.18)

# %% mystnb={"figure": {"caption": "Sorted against shuffled training data: curves per optimizer (Fig 7.10), then the last epoch (Fig 5.18). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds. Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-sorted-5"}}
curves = summary.table(df)
for o in ("sgd", "adagrad", "adadelta", "adam"):
    plots.curves(curves[curves.optimizer == o], hue="condition", title=plots.label(o))
fig = plots.versus(last, x="value", hue="optimizer", categorical=True, title="Last epoch: unsorted vs sorted")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_sorted_dir", summary.compare(last, f"{o} sorted", f"{o} unsorted"))
    glue(f"{o}_sorted_acc", summary.compare(last, f"{o} sorted", f"{o} unsorted", "accuracy"))

# %%
# the end of a sorted epoch: how many steps the last digit gets, on this page's training set
from sparsel.data import load_mnist
from sparsel.experiments import SCALES

labels = load_mnist(train_size=SCALES[scale]["train_size"], test_size=10).y_train
sorted_batch = int(df.batch_size.iloc[0])
last_digit = int(labels.max())
glue("last_digit", last_digit)
glue("last_digit_images", int((labels == last_digit).sum()))
glue("last_digit_steps", -(-int((labels == last_digit).sum()) // sorted_batch))
glue("sorted_batch", sorted_batch)

# %% [markdown]
# Sparsity after sorted training against shuffled: SGD {glue:text}`sgd_sorted_dir`; Adam
# {glue:text}`adam_sorted_dir`; Adagrad {glue:text}`adagrad_sorted_dir`; Adadelta
# {glue:text}`adadelta_sorted_dir`. Test accuracy, sorted against shuffled: SGD
# {glue:text}`sgd_sorted_acc`; Adam {glue:text}`adam_sorted_acc`; Adagrad
# {glue:text}`adagrad_sorted_acc`; Adadelta {glue:text}`adadelta_sorted_acc`. The dissertation's
# claim 20 has sorted data raise sparsity and selectivity for SGD and Adam at a cost in accuracy.
#
# Why sorted training would cost accuracy is a hypothesis this page does not test: every epoch
# ends with {glue:text}`last_digit_steps` steps on digit {glue:text}`last_digit` alone (its
# {glue:text}`last_digit_images` training images at batch {glue:text}`sorted_batch`), right before
# the test images are measured, so the network may lean towards the last digits. The class
# diversity chapter (section 5.9) tests the same mechanism for single-class batches by draining
# the classes evenly; no such control exists for sorted data here.

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("SGD: sorted vs unsorted", "sgd sorted", "sgd unsorted"),
    ("Adam: sorted vs unsorted", "adam sorted", "adam unsorted"),
    ("Adagrad: sorted vs unsorted", "adagrad sorted", "adagrad unsorted"),
    ("Adadelta: sorted vs unsorted", "adadelta sorted", "adadelta unsorted"),
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
claims = findings.chapter_checks("05_11_sorted", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_11_sorted.csv <data/05_11_sorted.csv>`.

# %%
glue("reproduce", summary.reproduce("sorted", df), markdown=True)
glue("original_note", original.note("sorted"), markdown=True)
summary.page_csv(summary.table(df), "05_11_sorted")

