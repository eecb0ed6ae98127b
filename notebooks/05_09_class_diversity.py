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
# # Classes per batch (section 5.9)
#
# Batches of 50 holding images of 1 class (single), 2 classes x 25 (pair) or 5 classes x 10
# (5nums), against ordinary shuffled batches (original). Then Fig 5.15: single-class batches of
# 10 (A) against batch 1 with 10 consecutive same-class images (B). 30 epochs.
#
# **Deviations.** The original pair/5nums builder dropped about 5% of the images each epoch;
# here every image is used once per epoch (images that cannot fill a class slot at the end of an
# epoch form the last, mixed batches). Each batch's classes are drawn as the original drew them,
# uniformly among the classes with images left (order `classes`); we add the same batches with
# the classes drawn so that they drain evenly (order `classes_even`, the "(even)" conditions), to
# separate the class mix of a batch from what the uniform draw does to the end of an epoch.

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

df = summary.load("class_diversity", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch (Fig 5.14)

# %% mystnb={"figure": {"caption": "Last epoch against the classes per batch (Fig 5.14). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-class-diversity-5"}}
div = last[last.param == "diversity"]
fig = plots.versus(div, hue="optimizer", categorical=True, title="Last epoch vs classes per batch")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_single_dir", summary.compare(last, f"{o} single", f"{o} original"))
    glue(f"{o}_single_acc_dir", summary.compare(last, f"{o} single", f"{o} original", "accuracy"))
    glue(f"{o}_single_acc", summary.value(last, f"{o} single", "accuracy"))
    glue(f"{o}_original_acc", summary.value(last, f"{o} original", "accuracy"))

# %% [markdown]
# Sparsity with single-class batches against shuffled ones: SGD {glue:text}`sgd_single_dir`; Adam
# {glue:text}`adam_single_dir`. Test accuracy: SGD {glue:text}`sgd_single_acc_dir`; Adam
# {glue:text}`adam_single_acc_dir`. The dissertation saw the rise in sparsity for SGD and Adam only,
# at a cost in accuracy; the section on the end of an epoch, below,
# tests where that cost comes from.
#
# ### Over epochs (Fig 7.7)

# %% mystnb={"figure": {"caption": "Single, pair and 5nums batches against shuffled ones after every epoch, one figure per optimizer (Fig 7.7); wide pale lines, marked (dissertation): the dissertation's runs where they exist. Lines: means over {glue:text}`n_seeds`; bands: \u00b11 standard error.", "name": "fig-class-diversity-curves"}}
cd = summary.table(df[df.param == "diversity"])
for o in ("sgd", "adagrad", "adadelta", "adam"):
    sub = cd[cd.optimizer == o]
    if len(sub):
        plots.curves(sub, hue="condition", title=plots.label(o), original=original.curves("class_diversity"))

# %% [markdown]
# ## Small batch or few classes? (Fig 5.15)

# %% mystnb={"figure": {"caption": "A: single-class batches of 10 against B: 10 same-class images in a row at batch 1 (Fig 5.15), one figure per optimizer. Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-class-diversity-7"}}
ab = summary.table(df[df.param == "fig5_15"])
for o in ("sgd", "adagrad", "adadelta", "adam"):  # one figure per optimizer: A, B and the dissertation's A and B
    sub = ab[ab.optimizer == o]
    if len(sub):
        plots.curves(sub, hue="condition", original=original.curves("class_diversity"),
                     title=f"{plots.label(o)}: A, single-class batches of 10, vs B, con 10 at batch 1")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_b_vs_a", summary.compare(last, f"{o} B: con 10 bs=1", f"{o} A: single bs=10"))

# %% [markdown]
# Sparsity of B (batch 1) against A at the last epoch: SGD {glue:text}`sgd_b_vs_a`; Adam
# {glue:text}`adam_b_vs_a`. The dissertation concluded that batch size 1 does more for
# sparsity and selectivity than narrowing the classes in a batch; the verdict on that claim
# under Hoyer and CCMAS (5.9b, in the table at the end of this page) is: {glue:text}`verdict_5_9b`.

# %% [markdown]
# ## The end of an epoch: uniform draw or even drain?
#
# MNIST's classes differ in size. Drawn uniformly, every class with images left is equally likely
# to fill the next batch, so the small classes run out first and an epoch ends with its largest
# classes only: with single-class batches, a run of batches of one digit just before the test
# images are measured. The even drain draws each class in proportion to the images it has left,
# so the classes run out together and the end of an epoch is as mixed as its start. Below, the
# class of every batch of one epoch of single-class batches on all the training images (seed 1);
# the shaded batches are the last ones before the measurement.

# %% mystnb={"figure": {"caption": "The class of every batch of one epoch under each sampler; the shaded end is what the network sees just before it is measured.", "name": "fig-class-diversity-10"}}
import pandas as pd

from sparsel import orders
from sparsel.data import load_mnist
from sparsel.experiments import SCALES

BATCH, TAIL_K, TAIL_SEEDS = 50, 50, range(1, 41)  # the runs' batch size; tail window; seeds to average
DRAWS = {"uniform": "uniform draw (classes, as in the dissertation)", "even": "even drain (classes_even)"}
all_labels = load_mnist().y_train.numpy()
fig = plots.batch_class_strip(
    {title: orders.batch_classes(orders.class_batches(all_labels, BATCH, 1, orders.run_rng(1), draw=d),
                                 all_labels, BATCH) for d, title in DRAWS.items()},
    last=TAIL_K, title="Class of each batch along one epoch of single-class batches")

# the same statistics on all the training images and on this page's training set
page_size = SCALES[scale]["train_size"]
page_labels = all_labels if page_size is None else load_mnist(train_size=page_size, test_size=10).y_train.numpy()
tails = pd.DataFrame([dict(training_set=name, draw=d, **orders.tail_means(lab, BATCH, 1, d, TAIL_SEEDS, TAIL_K))
                      for name, lab in (("all", all_labels), ("this page", page_labels)) for d in DRAWS])
tails
for _, r in tails.iterrows():
    tag = "all" if r.training_set == "all" else "page"
    for col in ("final_run", "last_classes", "leftover_batches"):
        glue(f"tail_{tag}_{r.draw}_{col}", r[col])
glue("tail_k", TAIL_K)
glue("tail_seeds", len(TAIL_SEEDS))
glue("page_images", len(page_labels))
glue("page_batches", -(-len(page_labels) // BATCH))

# %%
import numpy as np

# The page's own training set: all the images at full scale (the tails above); a class-balanced
# subset at smoke scale, whose tails are short, so say what they are there.
sizes = np.bincount(page_labels, minlength=10)
page_run = tails[tails.training_set == "this page"].set_index("draw").final_run
glue("page_tail_words", "This page's runs train on all the training images, so these are the epoch ends they saw."
     if page_size is None else
     f"This page's runs train on {len(page_labels)} images ("
     + ("equal class sizes" if sizes.min() == sizes.max() else f"{sizes.min()} to {sizes.max()} images a class")
     + f", {-(-len(page_labels) // BATCH)} batches an epoch), whose final runs average "
     f"{page_run['uniform']:.2f} (uniform) and {page_run['even']:.2f} (even) batches.")

# %% [markdown]
# Averaged over {glue:text}`tail_seeds` seeds, the uniform draw's single-class batches end with a
# run of {glue:text}`tail_all_uniform_final_run:.1f` batches of the same class, and its last
# {glue:text}`tail_k` batches hold {glue:text}`tail_all_uniform_last_classes:.1f` distinct classes;
# the even drain ends with a run of {glue:text}`tail_all_even_final_run:.1f` and holds
# {glue:text}`tail_all_even_last_classes:.1f` classes. Both then close the epoch with the same
# {glue:text}`tail_all_uniform_leftover_batches:.0f` mixed batches of the images that cannot fill a
# slot. {glue:text}`page_tail_words`

# %% mystnb={"figure": {"caption": "The uniform draw (the original's) against the even drain: last epoch, then single-class test accuracy after each epoch. Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-class-diversity-12"}}
both = last[last.param.isin(["diversity", "diversity_even"])].copy()
both["draw"] = both.param.map({"diversity": "uniform", "diversity_even": "even"})
both = pd.concat([both, both[both.value == "original"].assign(draw="even")])  # the shuffled reference in both
both["series"] = both.optimizer + " " + both.draw
fig = plots.versus(both, hue="series", categorical=True, title="Last epoch: uniform draw vs even drain")
side = both.pivot_table(index=["optimizer", "value"], columns="draw",
                        values=["accuracy", "sparsity", "selectivity_avg"], sort=False)
side

tab = summary.table(df[df.param.isin(["diversity", "diversity_even"]) & df.value.isin(["single", "original"])])
tab["draw"] = tab.condition.map(lambda c: "even drain" if c.endswith("(even)") else
                                "shuffled" if c.endswith("original") else "uniform draw")
fig = plots.curves_by(tab, panel="optimizer", hue="draw", metric="accuracy",
                      title="Single-class batches: test accuracy after each epoch")
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_even_vs_uniform", summary.compare(last, f"{o} single (even)", f"{o} single", "accuracy"))

# %%
# Where does single-class batches' accuracy cost come from? The even drain against the shuffled
# runs (what is left of the cost) and against the uniform draw (what it recovers).
for o in ("sgd", "adagrad", "adadelta", "adam"):
    glue(f"{o}_even_vs_original", summary.compare(last, f"{o} single (even)", f"{o} original", "accuracy"))


said = {}
for o in ("sgd", "adam"):  # the two optimizers whose cost the dissertation reports
    said.setdefault(summary.tail_effect(last, o), []).append(plots.label(o))
# on the smoke subset (equal class sizes, few batches) the tails are short: say so there only
glue("tail_conclusion", "; ".join(f"for {' and '.join(names)} {text}" for text, names in said.items()) + (
    "." if page_size is None else
    ". On this subset the tails are short, so the comparison says little; the full-scale runs are the test."))

# %% [markdown]
# Test accuracy with single-class batches, even drain against uniform draw: SGD
# {glue:text}`sgd_even_vs_uniform`; Adam {glue:text}`adam_even_vs_uniform`. Even drain against
# shuffled batches: SGD {glue:text}`sgd_even_vs_original`; Adam {glue:text}`adam_even_vs_original`.
#
# Why this matters for reading Fig 5.14: the test images are measured right after the last batch
# of an epoch, and under the uniform draw the last batches are all of one class (single) or of the
# same one or two classes (pair). A network that has just taken a run of steps on one digit tends
# to lean towards it, so an accuracy cost measured this way can come from the epoch's tail rather than
# from the class mix of a batch as such. The even drain keeps the batches' class mix and removes
# the tail: where it recovers the accuracy, the tail caused the cost; where both draws agree, the
# class mix did. A per-epoch curve that dips for the uniform draw but not for the even drain points
# the same way. On this page's runs (2-SE rule, as everywhere in the book):
# {glue:text}`tail_conclusion`

# %% [markdown]
# ## The dissertation's runs beside ours
#
# The dissertation's own per-seed numbers (read from its result files into `results/original/`),
# at each condition's last epoch: ours, the original's, and ours minus the original's in units of
# the combined standard error. By the book's rule a difference beyond 2 SE is more than
# run-to-run noise: {glue:text}`orig_words`.

# %%
vs = original.compare(last, "class_diversity")
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
    ("SGD: single vs original", "sgd single", "sgd original"),
    ("Adam: single vs original", "adam single", "adam original"),
    ("SGD: single, uniform draw vs even drain", "sgd single", "sgd single (even)"),
    ("Adam: single, uniform draw vs even drain", "adam single", "adam single (even)"),
    ("SGD: B (con 10, batch 1) vs A (single, batch 10)", "sgd B: con 10 bs=1", "sgd A: single bs=10"),
    ("Adam: B (con 10, batch 1) vs A (single, batch 10)", "adam B: con 10 bs=1", "adam A: single bs=10"),
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
claims = findings.chapter_checks("05_09_class_diversity", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_09_class_diversity.csv <data/05_09_class_diversity.csv>`.

# %%
glue("reproduce", summary.reproduce("class_diversity", df), markdown=True)
glue("original_note", original.note("class_diversity"), markdown=True)
summary.page_csv(summary.table(df), "05_09_class_diversity")

