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
# # No more pesky learning rates: vSGD (further work, section 6.3.1)
#
# Section 6.3.1 relates its modified Adagrad and Adadelta to "no more pesky learning rates"
# (Schaul, Zhang & LeCun 2013) and asks for test accuracy, sparsity and selectivity under that
# optimizer too. vSGD sets a learning rate for every parameter from running averages of the
# gradient $\bar g$, of each sample's squared gradient $\bar v$ and of the curvature $\bar h$
# (a diagonal Gauss-Newton estimate, "bbprop"), averaged over a memory of $\tau$ steps:
#
# $$r = \frac{\bar g^2}{\bar v / n + (n - 1)\,\bar g^2 / n}, \qquad
#   \eta = \frac{r}{\bar h}, \qquad \tau \leftarrow (1 - r)\,\tau + 1,$$
#
# for batches of $n$ images. $r \in [0, 1]$ is the share of the batch gradient that is signal
# rather than sampling noise: where samples agree $r \to 1$ and the step tends to Newton's,
# $g / h$; where they disagree the rate falls and the memory grows, so vSGD keeps more past
# gradient exactly when the gradient is noisy. There is no learning rate to tune; the first
# steps start slow (the averages begin $d / 10$ times too large, $d$ the network's parameter
# count, and that start is forgotten over the first steps).
#
# Two variants: the paper's element-wise rule above (`vsgd`), and **vSGD-b** (`vsgd_b`), one rate
# per layer after the paper's per-block variant, with the layer's largest curvature as the
# divisor, $\eta_b = \sum_b \bar g^2 / (\max_b \bar h \cdot \sum_b (\bar v / n +
# (n-1) \bar g^2 / n))$ (the divisor, the largest of the block's averaged curvatures, is the one
# the block-variant code of one of the paper's authors takes: Sixin Zhang's `vsgd-bb.m` of 2012,
# kept in the public repository `rlowrance/vsgd`; that code's numerator sums the squared minibatch
# gradient, ours the paper's minibatch form above; the element-wise rule is the paper's
# Algorithm 1, each weight starting its averages at its first batch with any curvature). On
# MNIST the element-wise rule divides by the tiny curvature of weights from faintly inked pixels
# and takes Newton steps along each such weight alone; the layer's largest curvature bounds
# every step of vSGD-b. A third variant, `vsgd_authors`, is the element-wise rule as its authors'
# own code runs it (the class `vSGD` of Tom Schaul's public `py-optim`), which departs from the
# paper's Algorithm 1 in four details (its start, its first memory, an outlier test and a
# guard against division by zero): see "As its authors' code runs it". A fourth, `vsgd_fd`, is
# the authors' later vSGD-fd (Schaul & LeCun 2013), which measures the curvature by finite
# differences instead of bbprop, as their code runs it: see the last section.
#
# We run vSGD-b and the paper's element-wise rule at batch 10, 50 and 200; the authors' code at
# batch 50, as it is and with two of its departures undone (one of them, the paper's slow start,
# also at batch 10 and 200); and vSGD-fd at batch 50, as it is and slowed: 30 epochs each, beside
# the dissertation's four optimizers at the same batch sizes (the batch-size experiment's runs).
# The update rules are `sparsel.optim.vsgd_step`, `vsgd_b_step`, `vsgd_authors_step` and
# `vsgd_fd_step`; the tests check them against the paper's algorithm and the authors' code
# written out weight by weight, and the per-sample statistics (bbprop's and the finite
# differences) against autograd.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["vsgd_b"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale
weight_steps = 2000      # batches of the weight-size demonstration below (batch 50, seed 1)
early_steps = 100        # where that demonstration is read a second time, early on
rate_steps = 1200        # batches of the per-weight rate measurement (batch 50, seed 1; one full-scale epoch)
rate_every = 50          # read the rates every this many batches
stuck_steps = 200        # batches of the saturation measurement (batch 50, seed 1)
stuck_every = 5          # pass the probe images through every this many batches
stuck_probe = 1000       # the first this many training images are the probe

# %%
import matplotlib.pyplot as plt
import pandas as pd

from sparsel.glue import glue
from sparsel import data, engine, experiments, models, original, plots, summary
from sparsel.spec import RunSpec

df = summary.load("vsgd", scale, store, seeds, device, train_missing, **only)
# the four optimizers at the same batch sizes: the batch-size experiment's runs
four = summary.load("batch_size", scale, store, seeds, device, train_missing,
                    batch_size=list(experiments.VSGD_BATCHES))
both = pd.concat([df, four], ignore_index=True)
glue("scale_line", plots.provenance(df, scale) + f"; beside them {four.run_key.nunique()} runs of the batch-size "
     "experiment" + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(both))
last = summary.last_table(both)
last["value"] = last.batch_size.astype(float)


def learns(c):
    """Whether condition ``c`` ran and ends above chance accuracy (mean over seeds)."""
    return c in last.index and summary.value(last, c, "accuracy") > summary.CHANCE


# the authors'-code variants that did not learn stay out of the figures (a failed network's
# sparsity and selectivity describe no code); the tables keep them
failed = [c for c in last.index if c.startswith(("vsgd_authors", "vsgd_fd")) and not learns(c)]
glue("left_out", "Left out of the figures, as they did not learn: "
     + ", ".join(plots.label(c.split(" bs=")[0]) + f" at batch {c.split('bs=')[1]}" for c in failed)
     + " (in the tables below)." if failed else "")

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```
#
# ## Beside the four optimizers
#
# Last epoch against batch size: vSGD-b's and the element-wise rules' lines, the variants run at
# batch 50 alone as points, and the four optimizers at their Table 5.1 learning rates.
# {glue:text}`left_out`

# %% mystnb={"figure": {"caption": "Last epoch against batch size (log scale). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-vsgd-1"}}
fig = plots.versus(last.drop(failed), x="value", hue="optimizer", logx=True, title="vSGD beside the four optimizers")

# %%
div = both.drop_duplicates("run_key").groupby("condition", sort=False).agg(
    runs=("run_key", "size"), diverged=("diverged", "sum"))
table = last[["optimizer", "batch_size", "accuracy", "sparsity", "selectivity_avg", "n"]].join(div)
table["note"] = summary.state(last)
if not table.note.any():  # nothing to say of any network: no empty column
    table = table.drop(columns="note")
table.sort_values(["batch_size", "optimizer"]).style.format(precision=3, na_rep="—")

# %% [markdown]
# ## Sparser and more selective than which?
#
# With no learning rate to set, vSGD-b ends at test accuracy {glue:text}`acc_layer` at batch
# 50 and the element-wise rule at {glue:text}`acc_element`; against Adam at its Table 5.1 rate,
# vSGD-b's accuracy is {glue:text}`acc_vs_adam`.
#
# At batch 50, vSGD-b against each of the four optimizers and against the element-wise rule,
# by the book's 2-SE rule: {glue:text}`vsgd_words` Across the batch sizes vSGD-b's Hoyer
# sparsity goes {glue:text}`vsgd_trend`; the paper's element-wise rule's
# {glue:text}`element_trend`; SGD's {glue:text}`sgd_trend`.
#
# The same comparisons in Gini sparsity and informedness selectivity (section 6.3.5 asks for
# more metrics), so that an effect seen in one metric only is not taken for a property of the
# representation:

# %%
ref = "vsgd_b bs=50"
others = [f"{o} bs=50" for o in ("sgd", "adagrad", "adadelta", "adam")] + ["vsgd bs=50"]
pairs = [(f"vSGD-b vs {plots.label(c.split(' bs=')[0])}, batch 50", ref, c) for c in others]
parts = []
for _, a, b in pairs:
    if a in last.index and b in last.index:
        parts.append(f"than {plots.label(b.split(' bs=')[0])}: sparsity {summary.compare(last, a, b)}, "
                     f"selectivity {summary.compare(last, a, b, 'selectivity_avg')}")
glue("vsgd_words", ("; ".join(parts) + ".") if parts else "not run at this scale.")
for o, name in (("vsgd_b", "vsgd_trend"), ("vsgd", "element_trend"), ("sgd", "sgd_trend")):
    line = last[last.optimizer == o].sort_values("batch_size")
    glue(name, ", ".join(f"{v:.3f} at batch {b}" for b, v in zip(line.batch_size, line.sparsity))
         or "unmeasured (not run)")
for name, c in (("acc_layer", ref), ("acc_element", "vsgd bs=50")):
    glue(name, f"{summary.value(last, c, 'accuracy'):.3f}" if c in last.index else "not run")
glue("acc_vs_adam", summary.compare(last, ref, "adam bs=50", "accuracy") if {ref, "adam bs=50"} <= set(last.index)
     else "not run")
summary.effect_table(last, pairs)

# %% [markdown]
# ## What the element-wise rule does to the weights
#
# The stored metrics describe activations, not weights. To see why the two variants differ,
# train one network of each for {glue:text}`weight_steps` batches of 50 (seed 1, the same
# images in the same order) and follow each layer's largest absolute weight. The element-wise
# rule's first-layer weights reach {glue:text}`w1_element`; vSGD-b's {glue:text}`w1_layer`
# (at initialisation: {glue:text}`w1_start`). A first-layer weight of the element-wise rule
# grows where its pixel is faint in the images that reach it: its curvature, which scales with
# the pixel's square, is tiny, and the step divides by it. The authors' code and their
# vSGD-fd are drawn too (see the last two sections).

# %% mystnb={"figure": {"caption": "The largest absolute weight of each layer over the first batches, one network per variant (batch 50, seed 1; log scale). Layer 1: the input-to-hidden weights. The authors' code (both rules) moves no weight in its first 10 batches (its warm-up).", "name": "fig-vsgd-weights"}}
sc = experiments.SCALES[scale]
mnist = data.load_mnist(None, "cpu", sc["train_size"], sc["test_size"])
pair = [RunSpec(optimizer=o, seed=1, batch_size=50, train_size=sc["train_size"], test_size=sc["test_size"])
        for o in ("vsgd", "vsgd_b", "vsgd_authors", "vsgd_fd")]
weights = pd.DataFrame(engine.largest_weights(pair, mnist, steps=weight_steps, every=max(1, weight_steps // 100)))
fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), sharey=True)
for ax, layer in zip(axes, (1, 2)):
    for o, g in weights[weights.layer == layer].groupby("condition"):
        ax.plot(g.step, g.max_abs, label=plots.label(o), color=plots.PALETTE[o])
    ax.set_yscale("log")
    ax.set_title(f"layer {layer} ({'input to hidden' if layer == 1 else 'hidden to output'})")
    ax.set_xlabel("batch")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("largest |weight|")
axes[1].legend()
fig.tight_layout()
end = weights[(weights.step == weights.step.max()) & (weights.layer == 1)].set_index("condition").max_abs
glue("weight_steps", f"{weight_steps:,}")
glue("w1_element", f"{end['vsgd']:.3g}")
glue("w1_layer", f"{end['vsgd_b']:.3g}")
glue("w1_start", f"{weights[(weights.step == 0) & (weights.layer == 1)].max_abs.max():.3g}")

def largest(layer, at):
    """Each variant's largest |weight| of ``layer`` at the last recorded step <= ``at``."""
    rows = weights[(weights.layer == layer) & (weights.step <= at)]
    return rows[rows.step == rows.step.max()].set_index("condition").max_abs


first_early, output_end = largest(1, early_steps), largest(2, weight_steps)
glue("early_steps", f"{weights.step[weights.step <= early_steps].max():,}")
for o in ("vsgd", "vsgd_authors", "vsgd_fd"):
    glue(f"w1_early_{o}", f"{first_early[o]:.3g}")
    glue(f"w2_end_{o}", f"{output_end[o]:.3g}")

# %% [markdown]
# vSGD adapts its memory to the gradient noise, so its "past gradient" is not a setting but an
# outcome. Whether the dissertation's "the more past gradient, the sparser" carries over to it
# is a hypothesis these runs can only frame, not test: they give one point per batch size, and
# batch size changes the noise vSGD sees as well as the number of steps.
#
# ## Seeds that part ways
#
# Conditions whose seeds end more than five points of test accuracy apart, seed by seed
# ({glue:text}`n_split` of {glue:text}`n_conditions`).

# %%
splits = summary.seed_splits(both, metric="accuracy", gap=0.05)
glue("n_split", summary.split_words(splits)["n"])
glue("n_conditions", len(last))
splits.set_index(["condition", "seed"]).round(3) if len(splits) else None  # no empty table

# %% [markdown]
# ## Curves over epochs, batch 50
#
# {glue:text}`left_out`

# %% mystnb={"figure": {"caption": "Curves over epochs at batch 50. Lines: means over {glue:text}`n_seeds` after each epoch (epoch 0: before training); bands: \u00b11 standard error over seeds.", "name": "fig-vsgd-2"}}
curves = summary.table(both)
fig = plots.curves(curves[(curves.batch_size == 50) & ~curves.condition.isin(failed)], hue="optimizer", title="Batch 50")

# %% [markdown]
# ## As its authors' code runs it
#
# The paper's Algorithm 1 (our `vsgd`) and the authors' own implementation (`vsgd_authors`,
# after `PyOptim/algorithms/vsgd.py` of `schaul/py-optim`) differ in four details:
#
# | | the paper's Algorithm 1 (`vsgd`) | the authors' code (`vsgd_authors`) |
# |---|---|---|
# | start | each average from the weight's first batch, $\bar v$ and $\bar h$ times $C = \max(2, d / 10)$ | the means over the first 10 batches, during which no weight moves; $\bar v$ times 2, $\bar h$ as measured |
# | first memory | $\tau = 1$ | $\tau = 2$ |
# | outliers | none | $\tau \mathrel{+}= 1$ for a weight whose batch gradient lies more than one standard deviation from $\bar g$ |
# | guard | none | $\epsilon = 10^{-9}$ added to $\bar v$ every step and to $\bar h$ in the rate |
#
# Here $d$ = {glue:text}`model_size` parameters, so the paper's slow start begins every rate
# more than $C$ times below Newton's $1 / \bar h$ ($\bar h$ alone is $C$ times too large, and
# $r \le 1$); the code's begins each rate at most 2 times below what its measured statistics
# give, and for a weight whose samples agree ($r$ near 1) close to Newton's. On MNIST the
# authors' code ends at test accuracy {glue:text}`acc_authors` ({glue:text}`authors_state`)
# against {glue:text}`acc_element` for the paper's rule; its test loss after the first epoch is
# {glue:text}`loss_authors` (the paper's rule: {glue:text}`loss_element`). In the weight
# demonstration above, the largest first-layer weight after {glue:text}`early_steps` batches is
# {glue:text}`w1_early_vsgd_authors` under the authors' code and {glue:text}`w1_early_vsgd`
# under the paper's rule, and the largest output weight after {glue:text}`weight_steps` batches
# {glue:text}`w2_end_vsgd_authors` against {glue:text}`w2_end_vsgd`. {glue:text}`authors_words`

# %%
PAPER, AUTHORS = "vsgd bs=50", "vsgd_authors bs=50"
NO_OUTLIERS, PAPER_START = "vsgd_authors_original bs=50", "vsgd_authors_slow bs=50"
glue("model_size", f"{sum(p.numel() for p in models.build_model(pair[0]).parameters()):,}")
glue("acc_authors", f"{summary.value(last, AUTHORS, 'accuracy'):.3f}" if AUTHORS in last.index else "not run")
glue("authors_state", "not run" if AUTHORS not in last.index else
     "above chance" if learns(AUTHORS) else "chance: it did not learn")
loss_epoch1 = (both[(both.epoch == 1) & (both.split == "test") & (both.layer == "mean")]
               .groupby("condition").loss.mean())
for name, c in (("loss_authors", AUTHORS), ("loss_element", PAPER)):
    glue(name, f"{loss_epoch1[c]:.3g} nats" if c in loss_epoch1.index else "unmeasured (not run)")
glue("authors_words", "" if learns(AUTHORS) or AUTHORS not in last.index else
     "The network of the authors' code did not learn, so its sparsity and selectivity describe a "
     "failure, not a code, and enter no comparison on this page.")

# %% [markdown]
# ### Units that pass no error back
#
# A sigmoid unit whose activation $a$ is 0 or 1 to 32-bit precision has slope $a(1 - a) = 0$:
# no error passes back through it, so its incoming weights get a gradient of exactly 0 from that
# image. Train the paper's rule, the authors' code and the authors' code with the paper's slow
# start for {glue:text}`stuck_steps` batches of 50 (seed 1, the same images in the same order,
# at this page's scale) and, every {glue:text}`stuck_every` batches, pass the first
# {glue:text}`stuck_probe` training images through each network (`sparsel.engine.saturation`).
# {glue:text}`stuck_words`

# %% mystnb={"figure": {"caption": "Hidden units that pass no error back over the first batches, one network per rule (batch 50, seed 1; the probe: the first training images). Left: the share of (unit, image) pairs with slope exactly 0; right: the share of units with slope 0 on every probe image, whose incoming weights get a zero gradient from each of them.", "name": "fig-vsgd-stuck"}}
stuck = pd.DataFrame(engine.saturation(
    [RunSpec(optimizer=o, seed=1, batch_size=50, train_size=sc["train_size"], test_size=sc["test_size"])
     for o in ("vsgd", "vsgd_authors", "vsgd_authors_slow")], mnist, steps=stuck_steps, every=stuck_every,
    probe=stuck_probe))
fig = plots.saturation(stuck)
probe = min(stuck_probe, len(mnist.y_train))
glue("stuck_steps", f"{stuck_steps:,}")
glue("stuck_every", f"{stuck_every:,}")
glue("stuck_probe", f"{probe:,}")
glue("stuck_words", summary.saturation_words(
    stuck, {"vsgd_authors": "the authors' code", "vsgd": "the paper's rule",
            "vsgd_authors_slow": "the authors' code with the paper's slow start"}, probe=probe))

# %% [markdown]
# ### Which departure matters
#
# Two of the departures can be undone one at a time: without the outlier test
# (`vsgd_authors_original`, the code's own class `vSGD_original`, "the original version from
# 2012"), and with the paper's slow start in place of the code's ($\bar v$ and $\bar h$ both
# started $C$ times too large at the end of the warm-up: `vsgd_authors_slow`, a setting the
# code itself does not offer). Without the
# outlier test the network {glue:text}`fate_original`; with the paper's slow start it
# {glue:text}`fate_slow` (test accuracy against the paper's rule: {glue:text}`slow_vs_paper`).
# {glue:text}`blame`
#
# At the other two batch sizes, the authors' code with the paper's slow start against the
# paper's rule, test accuracy: {glue:text}`slow_vs_paper_sizes`. Hoyer sparsity:
# {glue:text}`slow_vs_paper_sparsity`. CCMAS selectivity: {glue:text}`slow_vs_paper_selectivity`.
#
# The element-wise variants at batch 50, last epoch (mean over {glue:text}`n_seeds`), with the test
# loss after the first epoch:

# %%
def fate(c):
    if c not in last.index:
        return "was not run"
    return f"ends at test accuracy {summary.value(last, c, 'accuracy'):.3f}" + ("" if learns(c) else ": it did not learn")


glue("fate_original", fate(NO_OUTLIERS))
glue("fate_slow", fate(PAPER_START))
without_outliers, paper_start = learns(NO_OUTLIERS), learns(PAPER_START)
if {AUTHORS, NO_OUTLIERS, PAPER_START} - set(last.index):
    blame = "Which departure matters needs all three runs, not all run at this scale."
elif learns(AUTHORS):
    blame = "The authors' code learns as it is, so no departure needs the blame."
elif paper_start and not without_outliers:
    blame = ("So the start decides it: the paper's slow start, which holds every first step far below "
             "Newton's while the averages settle, is enough for the code to learn; dropping the outlier test is not.")
elif without_outliers and not paper_start:
    blame = "So the outlier test decides it: without it the code learns, with the paper's slow start it still does not."
elif without_outliers and paper_start:
    blame = "Either change alone is enough for the code to learn."
else:
    blame = ("Neither change alone is enough: the blow-up comes from the other departures (the 10-batch "
             "warm-up, the first memory of 2, the guard) or from their combination.")
glue("blame", blame)
glue("slow_vs_paper", summary.compare(last, PAPER_START, PAPER, "accuracy")
     if {PAPER_START, PAPER} <= set(last.index) else "not run")
for name, m in (("slow_vs_paper_sizes", "accuracy"), ("slow_vs_paper_sparsity", "sparsity"),
                ("slow_vs_paper_selectivity", "selectivity_avg")):
    words = []
    for b in experiments.VSGD_BATCHES:
        a, p = f"vsgd_authors_slow bs={b}", f"vsgd bs={b}"
        if b == 50 or not {a, p} <= set(last.index):
            continue
        failed = [plots.label(c.split(" bs=")[0]) for c in (a, p) if not learns(c)]
        words.append(f"at batch {b}, " + (summary.compare(last, a, p, m) if not failed
                                           else " and ".join(failed) + " did not learn"))
    glue(name, "; ".join(words) if words else "not run at this scale")


def variants_table(conds):
    """The last epoch of those of ``conds`` that ran, with the test loss after epoch 1."""
    ran = [c for c in conds if c in last.index]
    view = last.loc[ran, ["accuracy", "loss", "sparsity", "selectivity_avg", "n"]].rename(
        columns={"loss": "test loss", "sparsity": "sparsity (Hoyer)", "selectivity_avg": "selectivity (CCMAS)"})
    view.insert(1, "test loss, epoch 1", loss_epoch1.reindex(ran))
    view.index = [plots.label(c.split(" bs=")[0]) for c in ran]
    return view.style.format({"accuracy": "{:.3f}", "test loss, epoch 1": "{:.3g}", "test loss": "{:.3g}",
                              "sparsity (Hoyer)": "{:.3f}", "selectivity (CCMAS)": "{:.3f}", "n": "{:d}"}, na_rep="—")


variants_table((PAPER, AUTHORS, NO_OUTLIERS, PAPER_START))

# %% [markdown]
# ## vSGD-fd: the curvature by finite differences
#
# In a later paper (Schaul & LeCun 2013, "Adaptive learning rates and parallelization for
# stochastic, sparse, non-smooth gradients") the authors replace bbprop, which needs a second
# backward pass written for each architecture, by a finite difference: move all the weights at
# once by a probe $\delta$, and divide the change of each sample's gradient, weight by weight, by
# the probe's own component,
#
# $$h_s = \frac{\lvert g_s(\theta) - g_s(\theta + \delta)\rvert}{\lvert \delta \rvert}, \qquad
#   \eta = r\,\frac{\bar h}{\bar v^h},$$
#
# with $\bar h$ and $\bar v^h$ running averages of $h_s$ and $h_s^2$. Where the samples agree on
# the curvature, $\bar h / \bar v^h \approx 1 / \bar h$ (vSGD's rate); the more they disagree,
# the smaller the step. We run it as their code runs it (the class `vSGDfd` of `py-optim`,
# `vsgd_fd`): the probe is $\delta = \bar g + \epsilon$, the average gradient so far (not a
# small step: it is the gradient itself), formed in float64 (the code's averages are float64,
# ours float32, and a float32 $\bar g$ lands exactly on $-\epsilon$ once in a few epochs: our
# first runs, with a float32 probe, met $\delta = 0$ and a curvature of 0 / 0, and diverged),
# so each batch costs two more forward and backward
# passes, at $\theta$ and at $\theta + \delta$, in float64 (the difference of two nearby
# gradients); beyond the first layer, whose input is the same image at both points, each
# sample's difference is formed apart, since a mean of absolute values does not factor into
# matrix products as bbprop's squares do; the outlier test also fires on a curvature more than
# one standard deviation from $\bar h$; warm-up, first memory and guard as `vsgd_authors`.
#
# Since the probe moves every weight, $h_s$ is not the diagonal curvature: for weight $i$ it is
# about $\lvert H_{ii} + \sum_{j \ne i} H_{ij} \delta_j / \delta_i \rvert$ ($H$ the sample's
# curvature matrix), so where $\bar g_i$ is near zero and the probe's own component tiny, the
# other weights' terms swell $h$ and the rate falls, most for the weights of faint pixels,
# whose gradients are rarely far from zero: the formula's prediction, which "The rates, weight
# by weight" below tests. A second variant, `vsgd_fd_slow`, starts both second moments, $\bar v$ and
# $\bar v^h$, $C = \max(2, d/10)$ times too large, which slows the first rates by up to $C^2$
# ($C$ through $\bar v^h$ and up to $C$ through $r$), as the paper's slow start does for vSGD
# (our analogue: no setting of the code scales $\bar v^h$).
#
# As the code runs it, vSGD-fd {glue:text}`fate_fd`, where the same code with bbprop
# {glue:text}`fate_authors`; its test loss after the first epoch is {glue:text}`loss_fd`.
# Slowed, it {glue:text}`fate_fd_slow`. In the weight demonstration its largest first-layer
# weight after {glue:text}`early_steps` batches is {glue:text}`w1_early_vsgd_fd` (bbprop in the
# same code: {glue:text}`w1_early_vsgd_authors`), and its largest output weight after
# {glue:text}`weight_steps` batches {glue:text}`w2_end_vsgd_fd`. {glue:text}`fd_words`
# {glue:text}`fd_course`

# %%
FD, FD_SLOW = "vsgd_fd bs=50", "vsgd_fd_slow bs=50"
glue("fate_fd", fate(FD))
glue("fate_fd_slow", fate(FD_SLOW))
glue("fate_authors", fate(AUTHORS))
glue("loss_fd", f"{loss_epoch1[FD]:.3g} nats" if FD in loss_epoch1.index else "unmeasured (not run)")
if not learns(FD):
    fd_words = ""
else:
    fd_words = (f"Against the paper's rule at batch 50, vSGD-fd's test accuracy is "
                f"{summary.compare(last, FD, PAPER, 'accuracy')}; its Hoyer sparsity "
                f"{summary.compare(last, FD, PAPER)}; its CCMAS selectivity "
                f"{summary.compare(last, FD, PAPER, 'selectivity_avg')}." if learns(PAPER) else "")
glue("fd_words", fd_words)
means = (both[(both.split == "test") & (both.layer == "mean")]
         .groupby(["condition", "epoch"])[["accuracy", "sparsity"]].mean())


def course(c, m):
    """``c``'s mean ``m`` after its first and its last epoch."""
    line = means.loc[c, m]
    return f"{line.loc[1]:.3f} after epoch 1 to {line.iloc[-1]:.3f} after epoch {line.index[-1]}"


glue("fd_course", f"Over the epochs, vSGD-fd's test accuracy goes from "
     f"{course(FD, 'accuracy')}, its Hoyer sparsity from {course(FD, 'sparsity')} (the paper's rule: "
     f"{course(PAPER, 'accuracy')}; {course(PAPER, 'sparsity')})." if learns(FD) and learns(PAPER) else "")
variants_table((PAPER, AUTHORS, FD, FD_SLOW))

# %% [markdown]
# ### The rates, weight by weight
#
# The stored metrics cannot say which weights vSGD-fd stops moving. So train one network of
# each of four authors'-code rules (bbprop and finite differences, each as the code runs it and
# with the slow start) for {glue:text}`rate_steps` batches of 50 (seed 1, the same images in the
# same order, at this page's scale) and read off each rule's averages the rate it applied to
# every first-layer weight: the weight's move per unit of its batch gradient
# (`sparsel.optim.vsgd_rate`, checked against the moves themselves in the tests). Per input
# pixel, the median over the hidden units; pixels are set apart by the fraction of training
# images that ink them (never-inked pixels, whose weights never move, are left out).

# %% mystnb={"figure": {"caption": "The learning rate each authors'-code rule applies to first-layer weights, one network per rule (batch 50, seed 1; log scales). Left: the median over inked pixels of each pixel's median rate, batch by batch (the warm-up's rate is 0 and not drawn). Right: after the last batch, one point per pixel against how often it is inked; lines: medians per band of ink frequency.", "name": "fig-vsgd-rates"}}
quad = [RunSpec(optimizer=o, seed=1, batch_size=50, train_size=sc["train_size"], test_size=sc["test_size"])
        for o in ("vsgd_authors", "vsgd_authors_slow", "vsgd_fd", "vsgd_fd_slow")]
rates = pd.DataFrame(engine.vsgd_rates(quad, mnist, steps=rate_steps, every=rate_every))
ink = data.ink_frequency(mnist.x_train)
fig = plots.vsgd_rates(rates, ink)
bands = summary.rate_bands(rates, ink)
faint, dense = summary.band_names()[0], summary.band_names()[-1]
rate_course = summary.rate_course(rates, ink)
glue("rate_steps", f"{rate_steps:,}")
for o in ("vsgd_authors", "vsgd_authors_slow", "vsgd_fd", "vsgd_fd_slow"):
    glue(f"rate_{o}", summary.number(bands.loc[o, "every inked pixel"]))
    glue(f"faint_{o}", summary.number(bands.loc[o, faint] / bands.loc[o, dense]))
for fd, bb, name in (("vsgd_fd", "vsgd_authors", "fd_vs_bbprop"), ("vsgd_fd_slow", "vsgd_authors_slow", "fd_vs_bbprop_slow")):
    glue(name, summary.number(bands.loc[bb, "every inked pixel"] / bands.loc[fd, "every inked pixel"]))
glue("fd_rate_words", summary.rate_change_words(rate_course, "vsgd_fd", "vSGD-fd"))

# %% [markdown]
# After {glue:text}`rate_steps` batches the median rate over inked pixels is
# {glue:text}`rate_vsgd_fd` under vSGD-fd and {glue:text}`rate_vsgd_authors` under the same code
# with bbprop (bbprop's {glue:text}`fd_vs_bbprop` times vSGD-fd's); with the slow start,
# {glue:text}`rate_vsgd_fd_slow` against {glue:text}`rate_vsgd_authors_slow`
# ({glue:text}`fd_vs_bbprop_slow` times). {glue:text}`fd_rate_words` The faintest pixels' rate
# (median over pixels inked in at most 1 % of the images) divided by the most inked pixels'
# (over half of them): vSGD-fd {glue:text}`faint_vsgd_fd`, slowed {glue:text}`faint_vsgd_fd_slow`;
# bbprop {glue:text}`faint_vsgd_authors`, with the paper's slow start
# {glue:text}`faint_vsgd_authors_slow`. A ratio below 1 means the rule applies a lower rate to
# the weights of faint pixels than to those of inked ones.
#
# The medians per band, after the last batch:

# %%
bands.style.format("{:.3g}")

# %% [markdown]
# The same comparisons in five metrics, for the variants that learned (a failed network's
# sparsity and selectivity describe no code):

# %%
fd_pairs = [(f"{plots.label(a.split(' bs=')[0])} vs {plots.label(b.split(' bs=')[0])}, batch 50", a, b)
            for a, b in ((FD, PAPER), (FD_SLOW, FD), (FD, PAPER_START)) if learns(a) and learns(b)]
fd_effects = summary.effect_table(last, fd_pairs) if fd_pairs else None
if fd_pairs:
    w = summary.effect_words(last, fd_pairs, fd_effects)
    glue("fd_agree", f"Of these {w['n']} comparisons, Hoyer and Gini sparsity give the difference the same "
         f"sign in {w['agree_sparsity']}, CCMAS and max informedness selectivity in {w['agree_selectivity']}. "
         f"For {w['label']}: Hoyer {w['sparsity']}, Gini {w['gini']}; CCMAS {w['selectivity_avg']}, "
         f"max informedness {w['informedness']}.")
else:
    glue("fd_agree", "No two of these variants learned at this scale, so there is nothing to compare.")
fd_effects  # none: no empty table

# %% [markdown]
# {glue:text}`fd_agree` Where the two selectivity metrics part, a network's units can each carry
# less of their activation on one class (CCMAS) and yet separate one class from the rest by a
# threshold better (informedness): "more selective" depends on which of the two is meant.

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`06_03_vsgd.csv <data/06_03_vsgd.csv>`.

# %%
glue("reproduce", summary.reproduce("vsgd", df), markdown=True)
glue("original_note", original.note("vsgd"), markdown=True)
summary.page_csv(summary.table(both), "06_03_vsgd")
