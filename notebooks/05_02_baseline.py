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
# # Baseline: four optimizers (sections 5.1-5.3)
#
# A 784-256-10 sigmoid network trained on MNIST with batch 50 for 30 epochs by each of the four
# optimizers at Table 5.1's settings (SGD lr 0.1, Adagrad lr 0.1, Adadelta lr 1.0, Adam lr
# 0.001). Sparsity and selectivity are measured on the test set after every epoch, and also
# before training (epoch 0), which the original did not record.
#
# **Deviations.** Each seed trains independently (the original ran the four optimizers one after
# another on one RNG stream). Besides the original's "training" values, taken from activations
# captured *during* the training pass (`train_during`), we record a clean pass over the training
# set after each epoch (`train`).

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["sgd", "adam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale
live_widgets = True      # draw the interactive controls (the book builder turns them off: its pages show every choice)
browse_optimizer = "adam"  # whose hidden units the unit browser shows

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from sparsel.glue import glue
from sparsel import experiments, findings, metrics, original, plots, summary

df = summary.load("baseline", scale, store, seeds, device, train_missing, **only)
scale_line = plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else "")
glue("scale_line", scale_line, markdown=True)
glue("n_seeds", plots.seeds_words(df))
t = summary.table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```
#
# ## Test accuracy, sparsity and selectivity over epochs (Fig 5.1)

# %% mystnb={"figure": {"caption": "The four optimizers at Table 5.1's settings (Fig 5.1). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-baseline-4"}}
fig = plots.curves(t, hue="condition", title="Baseline: ours (thin) and the dissertation's runs (wide, pale)",
                   original=original.curves("baseline"))

# %%
last = t[t.epoch == t.epoch.max()].set_index("condition")
for o in last.index:
    for m in ("accuracy", "sparsity", "selectivity_avg"):
        glue(f"{o}_{m}", last.at[o, m])
most_sparse = last.sparsity.idxmax()
glue("most_sparse", plots.label(most_sparse))
display(last[["accuracy", "accuracy_se", "sparsity", "sparsity_se", "selectivity_avg", "selectivity_avg_se", "n"]].round(4))

# %% [markdown]
# After the last epoch test accuracy is {glue:text}`sgd_accuracy:.3f` for SGD,
# {glue:text}`adagrad_accuracy:.3f` for Adagrad, {glue:text}`adadelta_accuracy:.3f` for Adadelta
# and {glue:text}`adam_accuracy:.3f` for Adam. The most sparse network is
# {glue:text}`most_sparse`'s (sparsity {glue:text}`adagrad_sparsity:.3f` for Adagrad against
# {glue:text}`sgd_sparsity:.3f`, {glue:text}`adadelta_sparsity:.3f` and {glue:text}`adam_sparsity:.3f`
# for SGD, Adadelta and Adam). The dissertation found Adagrad the most sparse, and the opposite time
# course for Adagrad: its sparsity and selectivity start high after the first epoch and fall,
# while the others rise.
#
# ## Training vs test (Figs 5.2-5.3)

# %% mystnb={"figure": {"caption": "Sparsity and selectivity on the test set, on the training images as captured during each epoch's training pass (Fig 5.2 compares these two), and on the training images in a clean pass after each epoch (ours), one line per optimizer and measurement. Lines: means over {glue:text}`n_seeds` after each epoch from the first (epoch 0, before training, is not drawn); bands: \u00b11 standard error over seeds (none with one seed).", "name": "fig-baseline-7"}}
splits = summary.table(df, split="train_during").assign(split="train (during training)")
clean = summary.table(df, split="train").assign(split="train (clean pass)")
test = t.assign(split="test")
both = pd.concat([test, splits, clean])
both["line"] = both.condition + " / " + both.split
fig = plots.curves(both[both.epoch > 0], hue="line", metrics=("sparsity", "selectivity_avg"),
                   title="Train vs test")

# %% mystnb={"figure": {"caption": "Train (during training) against test values, one point per epoch (Fig 5.3). One point per condition and epoch, means over {glue:text}`n_seeds`.", "name": "fig-baseline-8"}}
pair = test.merge(splits, on=["condition", "epoch"], suffixes=("_test", "_train"))
pair = pair[pair.epoch > 0]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for ax, m in zip(axes, ("sparsity", "selectivity_avg")):
    view = pair.rename(columns={f"{m}_train": "train", f"{m}_test": "test"})
    plots.scatter(view, "train", "test", hue="condition", diagonal=True, ax=ax, title=plots.LABELS[m])
fig.tight_layout()
gap = (pair.sparsity_train - pair.sparsity_test).abs().groupby(pair.epoch).mean()
glue("gap_first", gap.iloc[0])
glue("gap_last", gap.iloc[-1])
glue("gap_words", "smaller than after the first, as in the dissertation" if gap.iloc[-1] < gap.iloc[0]
     else "not smaller than after the first, unlike the dissertation")

# %% [markdown]
# Each dot is one epoch of one optimizer; the dashed line is train = test. The mean absolute
# train/test sparsity gap is {glue:text}`gap_first:.4f` after the first epoch and
# {glue:text}`gap_last:.4f` after the last: {glue:text}`gap_words`. The clean post-epoch pass agrees with the test set more closely than the
# during-training capture, whose first epochs mix activations of very different weights.

# %% [markdown]
# ## Training and test loss (Fig 6.1)
#
# Section 6.2 worries that the networks might over-fit; the loss of the training pass (during
# each epoch) beside the test loss after it shows whether and when they part.

# %% mystnb={"figure": {"caption": "Cross-entropy loss during each epoch's training pass (dashed) and on the test set after it (solid), per optimizer (Fig 6.1). Lines: means over {glue:text}`n_seeds`; bands: \u00b11 standard error.", "name": "fig-baseline-loss"}}
loss = pd.concat([t.assign(split="test"), splits.assign(split="train (during training)")])
loss["line"] = loss.condition + " " + loss.split
fig = plots.curves(loss[loss.epoch > 0], hue="line", metrics=("loss",), title="Training and test loss")

# %% [markdown]
# ## The dissertation's runs beside ours
#
# The dissertation's own per-seed numbers (read from its result files into `results/original/`),
# at each condition's last epoch: ours, the original's, and ours minus the original's in units of
# the combined standard error. By the book's rule a difference beyond 2 SE is more than
# run-to-run noise: {glue:text}`orig_words`.

# %%
vs = original.compare(last, "baseline")
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
    ("Adagrad vs SGD", "adagrad", "sgd"),
    ("Adam vs SGD", "adam", "sgd"),
    ("Adadelta vs SGD", "adadelta", "sgd"),
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
# ## Explore
#
# Every seed's own curve, for each optimizer. In Jupyter the controls below pick one optimizer
# and metric; the book shows all of them at once.

# %% mystnb={"figure": {"caption": "Each seed's own curve (no averaging), one column per optimizer.", "name": "fig-baseline-per-seed"}}
per_seed = df[(df.split == "test") & (df.layer == "mean")]
fig = plots.per_seed(per_seed, panel="condition", hue="condition")

# %% tags=["widget"]
import ipywidgets as widgets

per_seed = df[(df.split == "test") & (df.layer == "mean")]


def explore(optimizer="adam", metric="sparsity"):
    fig, ax = plt.subplots(figsize=(6, 3))
    for seed, g in per_seed[per_seed.condition == optimizer].groupby("seed"):
        ax.plot(g.epoch, g[metric], lw=0.8, label=f"seed {seed}")
    ax.set_xlabel("epoch"); ax.set_ylabel(plots.LABELS.get(metric, metric)); ax.legend(fontsize=7)
    ax.set_title(f"{optimizer}: per-seed {metric}")
    plt.show()


if live_widgets:
    widgets.interact(explore, optimizer=sorted(per_seed.condition.unique()),
                     metric=["accuracy", "loss", "sparsity", "selectivity_avg", "selectivity_std"]);

# %% [markdown]
# ## Browse the hidden units
#
# The store keeps numbers, not weights. For the unit browser it also keeps one network's *unit
# profile*, each hidden unit's mean activation per digit on the test set, computed once by
# retraining the run's spec and seed on the reference loop. The note under the figure compares
# its selectivity with the stored run's, which may have trained on another device or trainer.
# The units are sorted by their CCMAS selectivity.

# %%
cell = [c for c in experiments.cells("baseline", scale, seeds) if c.condition == browse_optimizer][0]
profile = summary.unit_profile(cell.spec, store, device)
means = torch.as_tensor(profile["means"][0])
sel = metrics.ccmas_from_class_means(means, torch.as_tensor(profile["counts"]), cell.spec.ccmas_eps)
ranked = sel.argsort(descending=True)
stored = df[(df.run_key == cell.spec.key) & (df.split == "test") & (df.layer == "1")].sort_values("epoch")
glue("profile_note", f"This network ({browse_optimizer}, seed {cell.spec.seed}, retrained on {profile['device']} by "
     f"code {profile['code_version']}) has mean CCMAS selectivity {float(sel.mean()):.4f}"
     + (f"; the stored run has {stored.selectivity_avg.iloc[-1]:.4f} after its last epoch." if len(stored) else
        " (the stored run is not on this page: `only` leaves it out)."))


# %% tags=["widget"]
def unit(rank=0):
    u = int(ranked[rank])
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.bar(range(10), means[:, u].cpu().numpy())
    ax.set_xticks(range(10)); ax.set_xlabel("digit"); ax.set_ylabel("mean activation")
    ax.set_title(f"{browse_optimizer}: unit {u}, rank {rank}, selectivity {sel[u]:.3f}")
    fig.tight_layout()
    plt.show()


if live_widgets:
    widgets.interact(unit, rank=widgets.IntSlider(value=0, min=0, max=len(ranked) - 1));

# %% mystnb={"figure": {"caption": "Mean activation per digit of the four most and the four least selective units (CCMAS) of one run; in Jupyter the slider above shows any unit.", "name": "fig-baseline-units"}}
fig = plots.unit_profiles(means.cpu().numpy(), sel.cpu().numpy(), ranks=[0, 1, 2, 3, -4, -3, -2, -1],
                          title=f"{plots.label(browse_optimizer)}: the most and the least selective units")

# %% [markdown]
# {glue:text}`profile_note`

# %% [markdown]
# ## The dissertation's claims, checked
#
# The conclusions this chapter illustrates, each tested on this page's runs by the rule of the
# [findings chapter](06_01_findings.ipynb): first under the dissertation's two metrics (Hoyer and
# CCMAS, with the numbers the verdict rests on), then under each of five metrics alone. A claim
# about accuracy alone reads the same under every metric; **not run** marks a claim that needs
# runs this page's scale does not have yet, **n/a** a check the metric cannot make.

# %%
claims = findings.chapter_checks("05_02_baseline", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_02_baseline.csv <data/05_02_baseline.csv>`.

# %%
glue("reproduce", summary.reproduce("baseline", df), markdown=True)
glue("original_note", original.note("baseline"), markdown=True)
summary.page_csv(summary.table(df), "05_02_baseline")

