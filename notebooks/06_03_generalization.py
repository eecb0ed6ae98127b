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
# # Generalization from train and test loss (further work, section 6.3.3)
#
# The dissertation measured generalization by test accuracy alone. Section 6.3.3 proposes to
# read the training and test loss as well, in the three patterns of its Fig 6.1: both losses
# fall as training goes on (good generalization); the training loss keeps falling while the
# test loss climbs back (over-fitting, where stopping early would help); or the test loss
# hardly falls at all. "Using loss in addition to test accuracy might provide better insight
# into the relationship between generalization ability, sparsity, and selectivity."
#
# Every run of this study records, after every epoch and before training (epoch 0), the loss
# and accuracy of a clean pass over the 60,000 training images and over the 10,000 test images.
# No new runs are needed: this page reads the runs of the dissertation's ten experiments from
# the store. For each run (`sparsel.generalization.run_measures`):
#
# * the **loss gap**: test loss minus training loss at the last epoch (nats per image);
# * the **rise**: how far the test loss climbed from its lowest epoch to the last;
# * the **pattern** of Fig 6.1: *over-fitting* when the test loss ends more than 10 % above its
#   minimum, *poor* when it never fell below half its value before training, *good* otherwise.
#
# Then the question the section asks: do the networks that end sparser or more selective
# generalize better? Per seed, a Spearman rank correlation over all conditions between each
# generalization measure and each sparsity or selectivity metric, the dissertation's two and an
# alternative to each (Gini; maximum informedness and AUROC, see the metrics chapter).

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the baseline's grid, e.g. {"optimizer": ["sgd", "adam"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: use the runs there are)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale

# %%
import pandas as pd

from sparsel.glue import glue
from sparsel import experiments, generalization, plots, summary

df = summary.load("baseline", scale, store, seeds, device, train_missing, **only)
tidy, incomplete = generalization.load(scale, store, seeds, device, train_missing)
runs = generalization.run_measures(tidy)
glue("scale_line", plots.provenance(tidy, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(tidy))
glue("n_runs", len(runs))
glue("n_experiments", runs.experiment.nunique())
glue("incomplete", "every run of the ten experiments is in the store" if not incomplete else
     "runs missing from the store, left out: " + ", ".join(f"{e} {n}" for e, n in incomplete.items()))

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`. This page reads {glue:text}`n_runs` runs of
# {glue:text}`n_experiments` experiments ({glue:text}`incomplete`).
# ```
#
# ## Train and test loss of the baseline (the form of Fig 6.1)

# %% mystnb={"figure": {"caption": "The baseline's training loss (a clean pass over the training images after each epoch) and test loss, one panel per optimizer, log scale. Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-generalization-1"}}
base = df[(df.layer == "mean") & df.split.isin(["train", "test"])]
base = base.assign(split=base.split.map({"train": "training set", "test": "test set"}))
losses = summary.mean_se(base, by=("optimizer", "split", "epoch"), metrics=("loss",))
fig = plots.curves_by(losses, panel="optimizer", hue="split", metric="loss", logy=True,
                      title="Baseline: training and test loss")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"words_{o}", generalization.condition_words(runs, o))
four = runs[runs.condition.isin(["sgd", "adagrad", "adadelta", "adam"]) & (runs.experiment == "baseline")]
means = four.groupby("condition")[["best_epoch", "gap"]].mean()
for key, col, pick in (("earliest", "best_epoch", "idxmin"), ("latest", "best_epoch", "idxmax"),
                       ("widest", "gap", "idxmax"), ("narrowest", "gap", "idxmin")):
    glue(key, plots.label(getattr(means[col], pick)()) if means[col].notna().any() else "none")
adam = four[four.condition == "adam"]
glue("adam_rise", f"{adam.rise.mean():.3f}")
glue("adam_acc_after", f"{adam.accuracy_after_best.mean():+.4f}")

# %% [markdown]
# In the baseline (batch 50, Table 5.1's settings, 30 epochs):
#
# * **SGD**: {glue:text}`words_sgd`;
# * **Adagrad**: {glue:text}`words_adagrad`;
# * **Adadelta**: {glue:text}`words_adadelta`;
# * **Adam**: {glue:text}`words_adam`.
#
# The test loss was lowest earliest for {glue:text}`earliest` and latest for
# {glue:text}`latest`; the largest gap is {glue:text}`widest`'s, the smallest
# {glue:text}`narrowest`'s. The pattern reads the test loss alone; the gap says how far the
# training loss has left it behind. Adam's test loss ends {glue:text}`adam_rise` nats above its
# lowest (mean over seeds), while its test accuracy changes by {glue:text}`adam_acc_after` after
# that epoch: what the loss calls over-fitting, accuracy, the dissertation's one measure, hardly
# registers.
#
# ## The three patterns across the experiments
#
# Each run's pattern (Fig 6.1's three, and diverged runs): {glue:text}`pattern_rule`

# %%
glue("pattern_rule", "; ".join(f"{k}: {v}" for k, v in generalization.PATTERNS.items()) + ".")
counts = generalization.pattern_counts(runs)
glue("share_over", f"{counts.at['all', 'over-fitting'] / counts.loc['all'].sum():.0%}")
poor = counts.drop(index="all")["poor"]
glue("most_poor", f"{poor.idxmax()} ({poor.max()} of {poor.sum()})" if poor.sum() else "none: no run is poor")
counts

# %% [markdown]
# {glue:text}`share_over` of all runs end with a test loss more than 10 % above its best. The
# experiment with the most *poor* runs: {glue:text}`most_poor`.
#
# ## Do sparser, more selective networks generalize better?
#
# One point per condition (mean over seeds, last epoch), for the runs that learned: test
# accuracy above {glue:text}`chance`, not diverged, not *poor* (the {glue:text}`n_poor_acc` poor
# runs above that accuracy have test losses up to {glue:text}`poor_max_loss` nats, most of them
# at the learning-rate grid's extremes), hidden layer not dead. The loss gap is drawn on a scale
# that is linear near zero and logarithmic beyond 0.01 nats.

# %% mystnb={"figure": {"caption": "The loss gap (test minus training loss at the last epoch) against the last epoch's Hoyer sparsity, CCMAS selectivity and maximum informedness: one point per condition of the ten experiments, means over {glue:text}`n_seeds`, coloured by optimizer.", "name": "fig-generalization-2"}}
ok = generalization.learned(runs)
glue("chance", summary.CHANCE)
poor_acc = runs[(runs.pattern == "poor") & (runs.accuracy > summary.CHANCE)]
glue("n_poor_acc", len(poor_acc))
glue("poor_max_loss", f"{poor_acc.loss.max():,.0f}" if len(poor_acc) else "n/a")
per_condition = ok.groupby(["experiment", "condition", "optimizer"], as_index=False).mean(numeric_only=True)
per_condition = per_condition.sort_values("optimizer", key=lambda o: o.map(list(plots.PALETTE).index), kind="stable")
fig = plots.scatters(per_condition, [("sparsity", "gap"), ("selectivity_avg", "gap"), ("informedness", "gap")],
                     hue="optimizer", yscale=dict(value="symlog", linthresh=0.01))

# %% [markdown]
# The table gives, per seed, Spearman's rank correlation over the {glue:text}`n_points` runs of
# that seed between each generalization measure (rows) and each metric (columns), mean ± standard
# error over {glue:text}`n_seeds`. A positive value under the loss gap or the rise means the
# sparser (or more selective) networks have the larger gap or rise, worse generalization by that
# measure (though a closer fit alone widens the gap: see the controls below); a positive value
# under test accuracy means they classify better. In the text, *strong* means beyond ±0.5 and
# two standard errors (the findings chapter's cut-offs), *weak* beyond two standard errors but
# within ±0.5, *unclear* within two standard errors of zero.

# %%
names = summary.ROBUSTNESS
pooled = generalization.rank_table(ok)
glue("n_points", int(pooled.points.iloc[0]) if len(pooled) else 0)
for m in names:
    r, se = pooled.at["gap", m], pooled.at["gap", f"{m}_se"]
    glue(f"gap_{m}", generalization.rho_words(r, se))
    r, se = pooled.at["accuracy", m], pooled.at["accuracy", f"{m}_se"]
    glue(f"acc_{m}", generalization.rho_words(r, se))
glue("gap_directions", generalization.direction_words(pooled, "gap", names, "larger", "smaller"))
glue("acc_directions", generalization.direction_words(pooled, "accuracy", names, "more accurate", "less accurate"))
generalization.rho_view(pooled, names)

# %% [markdown]
# Sparser or more selective networks end with generalization gaps that are {glue:text}`gap_directions`
# (Hoyer {glue:text}`gap_sparsity`, Gini {glue:text}`gap_gini`, CCMAS
# {glue:text}`gap_selectivity_avg`, maximum informedness {glue:text}`gap_informedness`, AUROC
# {glue:text}`gap_auroc`). By test accuracy, the dissertation's own measure of generalization,
# they are {glue:text}`acc_directions` (Hoyer {glue:text}`acc_sparsity`, CCMAS
# {glue:text}`acc_selectivity_avg`, informedness {glue:text}`acc_informedness`). Where metrics
# that measure the same property split in sign, whether "selective networks generalize" depends
# on the metric chosen, and on whether generalization is read from accuracy or from the loss.
#
# Section 6.1 says that "increasing the sparsity and selectivity in the network is likely to harm
# generalization ability" (Fig 5.14, read from test accuracy; the findings chapter checks it
# there). Over all ten experiments at once, the two readings above answer it separately: the
# networks that end sparser and more selective have loss gaps that are
# {glue:text}`gap_directions`; by test accuracy they are {glue:text}`acc_directions`.
#
# Two things could make these correlations say more about the optimizers than about the codes:
# adaptive optimizers give both sparser codes and closer fits, and a better-fitted network has
# both a higher accuracy and a larger gap. The same table within each optimizer's runs (rho per
# optimizer, averaged over the four), and with test accuracy held fixed (partial rank
# correlation):

# %%
within = generalization.rank_table(ok, how="within")
partial = generalization.rank_table(ok, how="partial")
controls = {"pooled": pooled, "within each optimizer": within, "with accuracy held fixed": partial}
for m in ("sparsity", "selectivity_avg", "informedness"):
    glue(f"control_{m}", generalization.control_words(controls, m))
glue("epoch_span", f"{int(ok.epochs.min())} to {int(ok.epochs.max())}" if len(ok) else "n/a")
pd.concat({"within each optimizer": generalization.rho_view(within, names),
           "test accuracy held fixed": generalization.rho_view(partial.drop(index="accuracy"), names)})

# %% [markdown]
# The gap's rank correlation with Hoyer sparsity: {glue:text}`control_sparsity`. With CCMAS:
# {glue:text}`control_selectivity_avg`. With maximum informedness:
# {glue:text}`control_informedness`. An association that keeps its sign and size under both is
# not only a difference between optimizers, nor only the closer fit of the more accurate
# networks. Both controls still pool experiments of {glue:text}`epoch_span` epochs and several
# architectures; the table below holds the experiment fixed.
#
# ### Experiment by experiment
#
# The loss gap's rank correlation with each metric within each experiment's own conditions
# (runs shared by two experiments are counted under the first; n/a: fewer than five conditions
# that learned):

# %%
by_exp = pd.concat({e: generalization.rho_view(generalization.rank_table(g, measures=("gap",)), names)
                    for e, g in ok.groupby("experiment", sort=False)}).droplevel(1)
by_exp

# %% [markdown]
# ## Stopping early
#
# The dissertation's footnote to section 6.3.1 suggests early stopping "in a different meaning",
# to keep the sparsest, most selective network. What does training on past the test loss's
# lowest epoch do? Per seed, the mean over runs of each metric's change from that epoch to the
# last, then mean ± standard error over seeds (runs that learned):

# %%
after = generalization.after_best(ok)
short = {"accuracy": "accuracy", "sparsity": "Hoyer", "selectivity_avg": "CCMAS", "informedness": "informedness"}
view = pd.DataFrame({w: [generalization.pm(v, s, 3) for v, s in zip(after[m], after[f"{m}_se"])]
                     for m, w in short.items()}, index=after.index)
view["best epoch"] = after.best_epoch.round(1)
view["epochs"] = after.epochs.astype(int)
glue("after_acc_max", f"{after.accuracy.abs().max():.3f}")
overall = generalization.after_best(ok.assign(runs="all"), by="runs").loc["all"]
for m in ("sparsity", "selectivity_avg", "informedness"):
    glue(f"after_all_{m}", generalization.pm(overall[m], overall[f"{m}_se"], 3))
    falls = (after[m] + generalization.Z * after[f"{m}_se"].fillna(0) < 0).sum()
    glue(f"after_falls_{m}", f"{falls} of {after[m].notna().sum()}")
view

# %% [markdown]
# Where a change is small against its error, stopping at the lowest test loss would have cost
# nothing in sparsity or selectivity. Test accuracy changes after that epoch by at most
# {glue:text}`after_acc_max` in any experiment's mean; where it still rises after the test loss
# has turned, the loss and the accuracy disagree about when the network generalized best.
#
# Section 6.1 reads the dissertation's curves as a network that, "after reaching a certain degree
# of the test accuracy", lowers its sparsity and selectivity "to obtain better generalization
# ability". Read from the loss, the epochs after the test loss's lowest point are those in which
# generalization gets *worse*. Over all runs that learned, Hoyer sparsity changes across them by
# {glue:text}`after_all_sparsity`, CCMAS selectivity by {glue:text}`after_all_selectivity_avg` and
# maximum informedness by {glue:text}`after_all_informedness` (per seed, mean over runs; mean ±
# standard error over seeds); each falls (by more than two standard errors, where there are
# several seeds) in
# {glue:text}`after_falls_sparsity`, {glue:text}`after_falls_selectivity_avg` and
# {glue:text}`after_falls_informedness` experiments respectively.
#
# ## Reproduce this page
#
# {glue:md}`reproduce` The measures of every run on this page, one row per run:
# {download}`06_03_generalization.csv <data/06_03_generalization.csv>`.

# %%
glue("reproduce", summary.reproduce(experiments.DISSERTATION, tidy), markdown=True)
summary.page_csv(runs, "06_03_generalization")
