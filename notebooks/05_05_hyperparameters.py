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
# # Hyper-parameters (section 5.5)
#
# Table 5.4's grids, 30 epochs, batch 50: learning rate `logspace(-5, 3, 15)` and weight decay
# `logspace(-5, 1, 11)` for all four optimizers; SGD momentum and Adadelta rho in
# {0, 0.1, ..., 0.9, 0.999}; Adam beta1 (with beta2 = 0.999) and beta2 (with beta1 = 0.9) in
# {0.0001, 0.1, ..., 0.9, 0.999}. Every other argument is Table 5.1's.
#
# **Deviations.** The original measured selectivity at the last epoch only; we record every
# epoch. Large learning rates can diverge: those runs are marked diverged and left out of the
# means (never plotted as 0); the tables list how many seeds diverged.

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

df = summary.load("hyperparameters", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %%
def grid(param):
    return last[last.param == param]

base = {"sgd": 0.1, "adagrad": 0.1, "adadelta": 1.0, "adam": 1e-3}

# %% [markdown]
# ## Learning rate (Fig 5.9)

# %% mystnb={"figure": {"caption": "Last epoch against the learning rate (Fig 5.9). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-hyperparameters-6"}}
lr = grid("lr")
fig = plots.versus(lr, hue="optimizer", logx=True, title="Last epoch vs learning rate")
diverged = lr[lr.n_diverged > 0]
print("conditions with diverged seeds:", ", ".join(diverged.index) or "none")
for o in base:  # NaN for an optimizer this build did not run
    g = lr[lr.optimizer == o].dropna(subset=["accuracy", "sparsity"])
    glue(f"{o}_lr_best_acc", g.value[g.accuracy.idxmax()] if len(g) else float("nan"))
    glue(f"{o}_lr_best_sparsity", g.value[g.sparsity.idxmax()] if len(g) else float("nan"))
glue("n_diverged_lr", int((lr.n_diverged > 0).sum()))

# %%
# Claim 14a's filter (findings.best_lr_index): a network at or below CHANCE accuracy did not
# learn, and its sparsity (near 1 for SGD at chance) is not what the claim is about.
learned = lr[lr.accuracy > summary.CHANCE]
for o in base:
    g = learned[learned.optimizer == o].dropna(subset=["accuracy", "sparsity"])
    glue(f"{o}_lr_learned_acc", g.value[g.accuracy.idxmax()] if len(g) else float("nan"))
    glue(f"{o}_lr_learned_sparsity", g.value[g.sparsity.idxmax()] if len(g) else float("nan"))
    every = lr[lr.optimizer == o].dropna(subset=["sparsity"])
    glue(f"{o}_lr_best_sparsity_acc", every.accuracy[every.sparsity.idxmax()] if len(every) else float("nan"))
glue("chance", summary.CHANCE)
at_chance = lr[lr.accuracy <= summary.CHANCE]
glue("n_chance_lr", len(at_chance))
glue("chance_lr_words", "; ".join(
    f"{plots.label(o)} at " + ", ".join(f"{v:.3g}" for v in g.value) for o, g in at_chance.groupby("optimizer", sort=False))
    or "none")
# the weight-decay grid claim 13 correlates over (with 0 from the baseline runs)
glue("wd_lo", f"{min(findings.WEIGHT_DECAYS):.0e}")
glue("wd_hi", f"{max(findings.WEIGHT_DECAYS):g}")

# %% [markdown]
# Of the learning-rate conditions, {glue:text}`n_diverged_lr` had a diverged seed and
# {glue:text}`n_chance_lr` ended with a mean test accuracy at or below {glue:text}`chance`
# (chance is 0.1), that is, did not learn: {glue:text}`chance_lr_words`. An untrained network's
# sparsity says little (over all rates, SGD is sparsest at {glue:text}`sgd_lr_best_sparsity:.3g`,
# with accuracy {glue:text}`sgd_lr_best_sparsity_acc:.2f`), so, as the findings chapter's
# claim 14a does, we compare only the rates whose accuracy is above {glue:text}`chance`. Among
# those, the most accurate SGD learning rate is {glue:text}`sgd_lr_learned_acc:.3g` and the sparsest
# is {glue:text}`sgd_lr_learned_sparsity:.3g`; for Adam they are {glue:text}`adam_lr_learned_acc:.3g` and
# {glue:text}`adam_lr_learned_sparsity:.3g`. The dissertation's claim is that the sparsest setting
# lies slightly above the most accurate one.
#
# ## Weight decay (Fig 5.8)

# %% mystnb={"figure": {"caption": "Last epoch against weight decay (Fig 5.8). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-hyperparameters-8"}}
fig = plots.versus(grid("weight_decay"), hue="optimizer", logx=True, title="Last epoch vs weight decay")

# %% [markdown]
# The dissertation found any weight decay harmful to sparsity and selectivity. The findings
# chapter (claim 13) tests this per seed as a rank correlation of each metric with weight decay
# over 0 (the baseline chapter's runs, which share every other setting with this grid) and
# {glue:text}`wd_lo` ... {glue:text}`wd_hi`; its verdict: {glue:text}`verdict_13`.
#
# ## Momentum, rho, beta1, beta2 (Fig 5.10)

# %% mystnb={"figure": {"caption": "Last epoch against the past-gradient hyper-parameters: SGD momentum, Adadelta rho, Adam beta1 and beta2 (Fig 5.10); the vertical line marks the default. Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-hyperparameters-10"}}
fig = plots.versus(grid("momentum"), hue="optimizer", title="SGD momentum", marks={"default": 0.0})
fig = plots.versus(grid("rho"), hue="optimizer", title="Adadelta rho", marks={"default": 0.9})
fig = plots.versus(grid("beta1"), hue="optimizer", title="Adam beta1 (beta2 = 0.999)", marks={"default": 0.9})
fig = plots.versus(grid("beta2"), hue="optimizer", title="Adam beta2 (beta1 = 0.9)", marks={"default": 0.999})
glue("mom_dir", summary.compare(last, "sgd momentum=0.9", "sgd momentum=0"))

# %% [markdown]
# SGD's sparsity with momentum 0.9 against none: {glue:text}`mom_dir`. The
# dissertation reads the momentum and rho curves as "the more past gradient an update uses, the
# sparser and more selective the network, until too much (0.999) hurts".

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences. Weight decay 0 is the baseline chapter's runs, as
# in the findings chapter.

# %%
import pandas as pd

# Weight decay 0: the baseline runs (this grid's settings without decay), as claim 13 uses them.
no_decay = summary.last_table(summary.load("baseline", scale, store, seeds, device, train_missing, **only))
no_decay.index = no_decay.index + " weight_decay=0"
with_none = pd.concat([last, no_decay])
pairs = [
    ("SGD: weight decay 0.01 vs 0", "sgd weight_decay=0.01", "sgd weight_decay=0"),
    ("Adagrad: weight decay 0.01 vs 0", "adagrad weight_decay=0.01", "adagrad weight_decay=0"),
    ("Adadelta: weight decay 0.01 vs 0", "adadelta weight_decay=0.01", "adadelta weight_decay=0"),
    ("Adam: weight decay 0.01 vs 0", "adam weight_decay=0.01", "adam weight_decay=0"),
    ("SGD: momentum 0.9 vs 0", "sgd momentum=0.9", "sgd momentum=0"),
    ("Adadelta: rho 0.9 vs 0", "adadelta rho=0.9", "adadelta rho=0"),
]
effects = summary.effect_table(with_none, pairs)
for key, words in summary.effect_words(with_none, pairs, effects).items():
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
claims = findings.chapter_checks("05_05_hyperparameters", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_05_hyperparameters.csv <data/05_05_hyperparameters.csv>`.

# %%
glue("reproduce", summary.reproduce("hyperparameters", df), markdown=True)
glue("original_note", original.note("hyperparameters"), markdown=True)
summary.page_csv(summary.table(df), "05_05_hyperparameters")

