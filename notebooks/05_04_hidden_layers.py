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
# # Depth: 1 to 5 hidden layers (section 5.4)
#
# Networks of 1 to 5 sigmoid hidden layers of 256 units, batch 50, Table 5.1's settings, 50
# epochs, all four optimizers. With several layers the reported value is the plain mean of the
# per-layer values (Eq. 5.1); we also record the activation-weighted mean the dissertation
# proposes (Eq. 5.2) and every layer separately.
#
# **Deviations.** The original ran 5 layers only for Adadelta and Adam in its figures (SGD and
# Adagrad stayed at chance); we run all four, so the chance-level runs are visible. The
# per-layer figure (5.7) uses the 4-layer runs of this grid, not a separate run.

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
from IPython.display import display

from sparsel.glue import glue
from sparsel import findings, original, plots, summary

df = summary.load("hidden_layers", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```

# %% [markdown]
# ## Last epoch against depth (Fig 5.6, Table 5.3)

# %% mystnb={"figure": {"caption": "Last epoch against the number of hidden layers (Fig 5.6). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-hidden-layers-5"}}
fig = plots.versus(last, x="value", hue="optimizer", title="Last epoch vs number of hidden layers")
display(last[["accuracy", "sparsity", "selectivity_avg", "n"]].round(4))
for o in ("adadelta", "adam"):
    glue(f"{o}_depth", summary.compare(last, f"{o} HL5", f"{o} HL1"))

# %%
# which depths failed to learn (accuracy at or below CHANCE): their sparsity says little
for o in ("sgd", "adagrad"):
    glue(f"{o}_hl5_acc", summary.value(last, f"{o} HL5", "accuracy"))
untrained = last[last.accuracy <= summary.CHANCE]
glue("chance", summary.CHANCE)
glue("untrained_words", ", ".join(plots.label(c) for c in untrained.index) or "none")
# layers entirely dead (every unit constant over the test images) in some seed: Eq. 5.1 averages them in
layers = summary.mean_se(summary.last_epoch(df[(df.split == "test") & df.layer.str.isdigit()]),
                         by=("condition", "layer"))
dead = layers[layers.n_dead > 0]
glue("dead_layers", "; ".join(f"{plots.label(c)} layer {k}: {d} of {n} seeds" for c, k, d, n in
                              zip(dead.condition, dead.layer, dead.n_dead, dead.n)) or "none")

# %% [markdown]
# Sparsity with five hidden layers against one: for Adadelta {glue:text}`adadelta_depth`; for
# Adam {glue:text}`adam_depth`. The dissertation found both rising. With five hidden layers SGD
# ends at test accuracy {glue:text}`sgd_hl5_acc:.3f` and Adagrad at
# {glue:text}`adagrad_hl5_acc:.3f` (chance is 0.1). The conditions at or below
# {glue:text}`chance`, networks that did not learn and whose sparsity says little:
# {glue:text}`untrained_words`. The dissertation's Table 5.3 omits SGD and Adagrad at five layers
# "due to low accuracy".
#
# Hidden layers that are entirely dead at the last epoch (every unit constant over the test
# images), with the seeds in which they are: {glue:text}`dead_layers`. A dead layer has no code;
# its Hoyer value is that of a constant pattern and its CCMAS 0, and the plain mean over layers
# (Eq. 5.1), which this figure and the dissertation report, averages those values in with the
# live layers'. The per-layer figures below show each layer apart.
#
# ## Curves over epochs (Fig 7.1)

# %% mystnb={"figure": {"caption": "Curves over epochs for each depth, one optimizer per figure (Fig 7.1). Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-hidden-layers-7"}}
curves = summary.table(df)
for o in ("sgd", "adagrad", "adadelta", "adam"):
    sub = curves[curves.optimizer == o]
    if len(sub):
        plots.curves(sub, hue="condition", title=plots.label(o))

# %% [markdown]
# ## Sparsity vs selectivity, accuracy vs both (Figs 5.4-5.5)
#
# One dot per epoch and depth (means over seeds). The dissertation reads these as "sparsity and
# selectivity usually rise together, but not always".

# %% mystnb={"figure": {"caption": "Sparsity against selectivity, and accuracy against each (Figs 5.4-5.5): colour is the optimizer, marker the number of hidden layers. One point per condition and epoch, means over {glue:text}`n_seeds`.", "name": "fig-hidden-layers-9"}}
ep = curves[curves.epoch > 0]
fig = plots.scatters(ep, [("sparsity", "selectivity_avg"), ("accuracy", "sparsity"), ("accuracy", "selectivity_avg")],
                     hue="condition")
glue("r_sparsity_selectivity", ep.sparsity.corr(ep.selectivity_avg))

# %% [markdown]
# Across all epochs and depths (one point per condition and epoch, means over seeds) the Pearson
# correlation of sparsity with selectivity is {glue:text}`r_sparsity_selectivity:.2f`. The claims
# table below tests "rise together" another way: Spearman's rank correlation over the epochs of
# each run, per seed, so its number differs from this one.
#
# ## Each layer of the 4-layer networks (Fig 5.7) and Eq. 5.2

# %% mystnb={"figure": {"caption": "Each layer of the 4-layer networks at the last epoch (Fig 5.7). Bars: means over {glue:text}`n_seeds`; whiskers: \u00b11 standard error.", "name": "fig-hidden-layers-11"}}
four = summary.last_epoch(df[df.value == 4])
per_layer = summary.mean_se(four[(four.split == "test") & four.layer.str.isdigit()], by=("optimizer", "layer"))
fig = plots.layer_bars(per_layer, hue="optimizer", title="4 hidden layers, last epoch")
plain = summary.table(four, layer="mean", by=("optimizer",)).set_index("optimizer")
weighted = summary.table(four, layer="weighted", by=("optimizer",)).set_index("optimizer")
print("sparsity, plain mean (Eq. 5.1) vs activation-weighted (Eq. 5.2):")
print((plain[["sparsity"]].rename(columns={"sparsity": "Eq. 5.1"})
       .join(weighted[["sparsity"]].rename(columns={"sparsity": "Eq. 5.2"}))).round(4))

# %% [markdown]
# ### Each layer over epochs (Fig 7.2)

# %% mystnb={"figure": {"caption": "Each hidden layer of the 4-layer networks after every epoch, one panel per optimizer (Fig 7.2): sparsity, then selectivity. Lines: means over {glue:text}`n_seeds`; bands: \u00b11 standard error.", "name": "fig-hidden-layers-per-layer"}}
deep = df[(df.value == 4) & (df.split == "test") & df.layer.str.isdigit()]
by_layer = summary.mean_se(deep, by=("optimizer", "layer", "epoch")).assign(layer=lambda d: "hidden layer " + d.layer)
fig = plots.curves_by(by_layer, panel="optimizer", hue="layer", metric="sparsity", title="4 hidden layers: sparsity")
fig = plots.curves_by(by_layer, panel="optimizer", hue="layer", metric="selectivity_avg",
                      title="4 hidden layers: selectivity")

# %% [markdown]
# The weighted form leans towards the layers that are most active overall; where one layer is
# far sparser than the rest, the two summaries disagree, which is the dissertation's worry about
# Eq. 5.1 (section 5.4.6, limitations).

# %% [markdown]
# ## Does the effect survive other metrics?
#
# Hoyer sparsity depends on the number of units and CCMAS selectivity on the units' resting level
# (the metrics chapter, section 4.1, shows both); the table re-measures this chapter's main effects
# as last-epoch differences a − b under those two and under Gini sparsity, maximum informedness and
# AUROC, which do not share these dependences.

# %%
pairs = [
    ("Adadelta: 5 vs 1 hidden layers", "adadelta HL5", "adadelta HL1"),
    ("Adam: 5 vs 1 hidden layers", "adam HL5", "adam HL1"),
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
claims = findings.chapter_checks("05_04_hidden_layers", scale, store, seeds)
for claim_id, verdict in zip(claims.id, claims.verdict):
    glue(f"verdict_{claim_id.replace('.', '_')}", verdict)
findings.claims_view(claims)

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`05_04_hidden_layers.csv <data/05_04_hidden_layers.csv>`.

# %%
glue("reproduce", summary.reproduce("hidden_layers", df), markdown=True)
glue("original_note", original.note("hidden_layers"), markdown=True)
summary.page_csv(summary.table(df), "05_04_hidden_layers")

