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
# # Measuring sparsity and selectivity (section 4.1)
#
# Every experiment in this book reports two numbers about the hidden units, measured on the
# 10,000 test images after every epoch:
#
# * **Hoyer sparsity** of each image's activation vector $a$ over the $N$ hidden units
#   (Eq. 4.1), averaged over images:
#
#   $$\text{sparsity}(a) = \frac{\sqrt{N} - \sum_j a_j / \sqrt{\sum_j a_j^2}}{\sqrt{N} - 1}$$
#
#   It is 1 when a single unit is active and 0 when all units are equally active.
# * **CCMAS class selectivity** of each unit (Eq. 4.2), averaged over units: with $u_{max}$ the
#   largest of the unit's ten class-mean activations and $u_{-max}$ the mean of the other nine,
#
#   $$\text{selectivity} = \frac{u_{max} - u_{-max}}{u_{max} + u_{-max} + \epsilon}, \quad \epsilon = 10^{-7}.$$
#
# The implementations are `sparsel.metrics.hoyer_sparsity` and `sparsel.metrics.ccmas_selectivity`;
# the test suite checks them against hand-worked cases.
#
# **Deviations from the dissertation.** None in the definitions. Undefined cases are NaN, never
# 0: an image with no active unit has no Hoyer value, and a dead unit has CCMAS $0/0$ when
# $\epsilon = 0$. The original's reported selectivity "std" is the population std over units; its
# sparsity std is the sample std over images; we record both the same way.

# %% tags=["parameters"]
n_units = 256      # hidden units in the worked examples
seed = 0           # RNG seed for the random activation patterns
beta_a = 0.5       # the width figure's fixed activation distribution: Beta(beta_a, beta_b)
beta_b = 2.0
images = 500       # images drawn at each width in the width figure
live_widgets = True  # draw the interactive controls (the book builder turns them off: its pages show every choice)

# %%
import matplotlib.pyplot as plt
import torch

from sparsel.glue import glue
from sparsel import metrics

# the parameters the prose names, glued so the text states their values
glue("n_units", n_units)
glue("beta_a", beta_a)
glue("beta_b", beta_b)
glue("images", images)

# %% [markdown]
# ## Worked examples
#
# Four activation patterns of one image over {glue:text}`n_units` units, from a single active unit to all
# units equally active.

# %%
g = torch.Generator().manual_seed(seed)
one_hot = torch.zeros(n_units); one_hot[0] = 1.0
few = torch.zeros(n_units); few[:n_units // 16] = 1.0
random = torch.rand(n_units, generator=g)
flat = torch.full((n_units,), 0.5)
patterns = {"one unit": one_hot, f"{n_units // 16} units": few, "uniform random": random, "all equal": flat}
hoyer = metrics.hoyer_sparsity(torch.stack(list(patterns.values())))
for (name, _), h in zip(patterns.items(), hoyer):
    print(f"{name:>15}: Hoyer sparsity {h:.4f}")
glue("hoyer_few", hoyer[1].item())
glue("hoyer_random", hoyer[2].item())

# %% [markdown]
# With 1/16 of the units on, sparsity is {glue:text}`hoyer_few:.3f`; uniformly random
# activations in [0, 1] score only {glue:text}`hoyer_random:.3f`. Sigmoid units are never exactly
# off, so trained networks in this study sit between these values.
#
# For selectivity, a unit that fires only for digit 3 scores 1; a unit that fires twice as
# strongly for one class as for the others scores $(2 - 1)/(2 + 1) = 1/3$:

# %%
labels = torch.arange(10).repeat(100)
only_three = (labels == 3).float()
twice = torch.where(labels == 7, 2.0, 1.0)
sel = metrics.ccmas_selectivity(torch.stack([only_three, twice], dim=1), labels)
print(f"fires for 3 only: {sel[0]:.4f}   twice as strong for 7: {sel[1]:.4f}")
glue("sel_twice", sel[1].item())

# %% [markdown]
# The second unit's selectivity is {glue:text}`sel_twice:.4f` (1/3, less the tiny $\epsilon$).
#
# How the two measures move: Hoyer sparsity of an image with $k$ of {glue:text}`n_units` units on (the rest
# off, or at a small floor as a sigmoid would leave them), and CCMAS of a unit whose preferred
# class drives it $r$ times as strongly as the other nine.

# %% mystnb={"figure": {"caption": "Hoyer sparsity of an image against the number of units on, and CCMAS of a unit against how strongly its preferred class drives it (hand-made activations).", "name": "fig-metrics-8"}}
ks = torch.arange(1, n_units + 1)
on = (torch.arange(n_units)[None, :] < ks[:, None]).float()
ratios = torch.linspace(1, 20, 60)
unit_acts = torch.where(labels[:, None] == 0, ratios[None, :], torch.ones(1))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for floor in (0.0, 0.05):
    axes[0].plot(ks / n_units, metrics.hoyer_sparsity(on + floor * (1 - on)), label=f"off units at {floor:g}")
axes[0].set_xlabel("fraction of units on"); axes[0].set_ylabel("Hoyer sparsity"); axes[0].legend(fontsize=8)
axes[1].plot(ratios, metrics.ccmas_selectivity(unit_acts, labels))
axes[1].set_xlabel("preferred / other class activation"); axes[1].set_ylabel("CCMAS selectivity")
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()

# %% [markdown]
# ## Shape a pattern yourself
#
# Move the sliders: `active` units out of 64 fire at `level`, the rest at `floor`; `preference`
# multiplies each active unit's response to its preferred class. The plot shows one image's
# pattern; the readout gives that pattern's Hoyer sparsity and the mean CCMAS over units.

# %% tags=["widget"]
import ipywidgets as widgets


def pattern_figure(active=8, level=0.9, floor=0.05, preference=3.0):
    units = 64
    acts = torch.full((1000, units), floor)
    lab = torch.arange(1000) % 10
    acts[:, :active] = level
    preferred = torch.arange(units) % 10
    boost = (lab[:, None] == preferred[None, :]) & (torch.arange(units) < active)[None, :]
    acts = torch.where(boost, acts * preference, acts)
    h = metrics.hoyer_sparsity(acts).mean().item()
    s = metrics.ccmas_selectivity(acts, lab).mean().item()
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.bar(range(units), acts[0].numpy())
    ax.set_xlabel("unit"); ax.set_ylabel("activation (image 0)")
    ax.set_title(f"Hoyer sparsity {h:.3f}   mean CCMAS selectivity {s:.3f}")
    fig.tight_layout()
    plt.show()


if live_widgets:
    widgets.interact(pattern_figure,
                     active=widgets.IntSlider(value=8, min=1, max=64),
                     level=widgets.FloatSlider(value=0.9, min=0.05, max=1.0, step=0.05),
                     floor=widgets.FloatSlider(value=0.05, min=0.0, max=0.5, step=0.01),
                     preference=widgets.FloatSlider(value=3.0, min=1.0, max=10.0, step=0.5));

# %% mystnb={"figure": {"caption": "The same pattern with 1, 8, 32 and 64 of 64 units active (level 0.9, floor 0.05, preference 3): what the slider shows in Jupyter.", "name": "fig-metrics-patterns"}}
for active in (1, 8, 32, 64):
    pattern_figure(active=active)

# %% [markdown]
# In Jupyter the sliders above move the pattern; the book shows four settings of `active`. Raising the
# `floor` lowers both measures at once; `preference` moves selectivity while leaving sparsity
# almost where it was, which is why the study reports both.

# %% [markdown]
# ## The other metrics every run records
#
# Both of the dissertation's measures have known weaknesses, which its own discussion lists as
# a limit (sections 6.2 and 6.3.5): Hoyer sparsity depends on the number of units, and CCMAS
# depends on where zero is. So next to them, every run records the measures below, for each
# hidden layer after every epoch (`sparsel.metrics.layer_metrics`; the stored field names are
# `sparsel.metrics.FIELDS`). Each layer value is a mean over images (population measures) or
# over units (lifetime and selectivity measures), with its spread, as for the two originals.
# Undefined cases are NaN, never 0 (an image with no active unit, a constant unit), and a run
# with any non-finite activation gets NaN everywhere. (Section 6.3.5 also suggests colour
# selectivity, after Rafegas et al.; MNIST's images are grey-scale, so there is no colour for a
# unit to prefer, and the book leaves it out.)
#
# Notation: $a_1, \dots, a_N$ are the activations of the $N$ units of a layer for one image;
# $x_1, \dots, x_S$ are the activations of one unit over the $S$ evaluated images.

# %%
glue("active_threshold", metrics.ACTIVE_THRESHOLD)
glue("dead_tol", f"{metrics.DEAD_TOL:g}")
glue("precision_k", metrics.PRECISION_K)

# %% [markdown]
# ### Population sparsity, per image
#
# * **Gini index** (Hurley & Rickard 2009; the classic inequality measure). Sort the magnitudes
#   ascending, $|a|_{(1)} \le \dots \le |a|_{(N)}$:
#
#   $$G(a) = 1 - 2 \sum_{k=1}^{N} \frac{|a|_{(k)}}{\lVert a \rVert_1} \cdot \frac{N - k + \tfrac12}{N}.$$
#
#   **Higher is sparser**: 0 when all units are equal, $1 - 1/N$ when one unit carries all the
#   activation. Hurley & Rickard show that it meets all six of their criteria for a sparsity
#   measure (below). `metrics.gini_index`.
# * **Treves-Rolls activity ratio** (Treves & Rolls 1991; used as a sparseness measure by
#   Rolls & Tovee 1995 and Willmore & Tolhurst 2001):
#
#   $$a_{TR} = \frac{\left(\frac1N \sum_j a_j\right)^2}{\frac1N \sum_j a_j^2}.$$
#
#   **Lower is sparser**: 1 when all units are equal, $1/N$ with one active unit. For
#   non-negative activations Hoyer sparsity is a function of it and of the width:
#   $H = (1 - \sqrt{a_{TR}}) / (1 - 1/\sqrt{N})$, since $\lVert a \rVert_1 / \lVert a \rVert_2 = \sqrt{N a_{TR}}$.
#   `metrics.treves_rolls`.
# * **Active fraction**: the fraction of units above a threshold $\theta$,
#
#   $$f(a) = \frac1N \, \#\{\, j : a_j > \theta \,\}, \qquad \theta = \text{half of a sigmoid's range}$$
#
#   (`metrics.ACTIVE_THRESHOLD` = {glue:text}`active_threshold`; strictly above). **Lower is
#   sparser.** The plainest reading of "how many units fire", but it depends on the threshold,
#   on the scale and on any offset of the activations. `metrics.active_fraction`.
#
# ### Lifetime sparsity and dead units, per unit
#
# * **Lifetime Gini**: $G(x)$, the Gini index of one unit's activations over the images
#   (Willmore & Tolhurst 2001 call sparseness over time "lifetime sparseness"). **Higher is
#   sparser**: the unit responds strongly to few images. `metrics.lifetime_gini`.
# * **Lifetime kurtosis** (Willmore & Tolhurst 2001): the excess kurtosis of one unit's
#   activations over the images,
#
#   $$K(x) = \frac{\frac1S \sum_i (x_i - \bar x)^4}{\left(\frac1S \sum_i (x_i - \bar x)^2\right)^2} - 3.$$
#
#   **Higher is sparser** (heavy-tailed: mostly quiet, sometimes strong); 0 for a Gaussian,
#   NaN for a constant unit. `metrics.lifetime_kurtosis`.
# * **Dead units**: a unit whose activation varies by at most a tolerance over the evaluated
#   images, $\max_i x_i - \min_i x_i \le$ {glue:text}`dead_tol` (`metrics.DEAD_TOL`). A silent
#   or saturated sigmoid unit carries no information; the layer value is the fraction of dead
#   units (lower is better). `metrics.dead_units`.
#
# ### Selectivity, per unit
#
# With $P_c$ the images of class $c$ and $Q_c$ the others:
#
# * **Maximum informedness** (Youden's $J$; the selectivity measure preferred by Gale et al.
#   2020): the best hit rate minus false-alarm rate of the rule "activation $\ge t$", over every
#   class and threshold,
#
#   $$J(x) = \max_{c,\,t} \left[\frac{\#\{i \in P_c : x_i \ge t\}}{|P_c|} - \frac{\#\{i \in Q_c : x_i \ge t\}}{|Q_c|}\right].$$
#
#   **Higher is more selective**: 1 when some threshold separates one class from all others,
#   0 when none does better than chance. It only uses the order of the activations, so any
#   increasing transform (offset, scale, squashing) leaves it unchanged.
#   `metrics.max_informedness`.
# * **AUROC of the preferred class**: with $c^*$ the class of largest mean activation (CCMAS's
#   $u_{max}$ class), the probability that a random image of $c^*$ activates the unit more than
#   a random other image, ties counting half (the Mann-Whitney $U$ over $|P_{c^*}|\,|Q_{c^*}|$):
#
#   $$\text{AUROC}(x) = \frac{1}{|P_{c^*}|\,|Q_{c^*}|} \sum_{i \in P_{c^*}} \sum_{k \in Q_{c^*}} \left( [x_i > x_k] + \tfrac12 [x_i = x_k] \right).$$
#
#   0.5 is chance, **1 is perfectly selective**; order-only, like $J$. `metrics.auroc_preferred`.
# * **Precision@k** (Zhou et al. 2015): among the $k$ images that activate the unit most, the
#   fraction that belong to their most common class; $k$ = {glue:text}`precision_k`
#   (`metrics.PRECISION_K`, capped at the number of images). **Higher is more selective**; at
#   chance (the commonest class among $k$ random images of ten balanced classes) it is a little
#   above 1/10. `metrics.precision_at_k`.
# * **Localist margin** (Bowers et al. 2014; Gale et al. 2020's "localist selectivity"): for the
#   best class, the weakest response to it minus the strongest response to any other image,
#
#   $$m(x) = \max_c \left( \min_{i \in P_c} x_i - \max_{k \in Q_c} x_k \right),$$
#
#   in activation units. **Positive means a localist unit**: every image of one class
#   activates it more than every other image. The layer also records the fraction of units
#   with a positive margin. `metrics.localist_margin`.
#
# All of them on the four example patterns from the top of the page, and on a unit that fires
# only for digit 3:

# %%
import numpy as np
import pandas as pd
from IPython.display import display

stack = torch.stack(list(patterns.values()))
display(pd.DataFrame({"Hoyer": metrics.hoyer_sparsity(stack).numpy(),
                      "Gini": metrics.gini_index(stack).numpy(),
                      "Treves-Rolls a": metrics.treves_rolls(stack).numpy(),
                      "active fraction": metrics.active_fraction(stack).numpy()},
                     index=list(patterns)).round(4))
unit3 = only_three[:, None]
display(pd.DataFrame({"CCMAS": metrics.ccmas_selectivity(unit3, labels).numpy(),
                      "informedness": metrics.max_informedness(unit3, labels).numpy(),
                      "AUROC": metrics.auroc_preferred(unit3, labels).numpy(),
                      f"precision@{metrics.PRECISION_K}": metrics.precision_at_k(unit3, labels).numpy(),
                      "localist margin": metrics.localist_margin(unit3, labels).numpy(),
                      "lifetime Gini": metrics.lifetime_gini(unit3).numpy(),
                      "lifetime kurtosis": metrics.lifetime_kurtosis(unit3).numpy()},
                     index=["fires for 3 only"]).round(4))

# %% [markdown]
# Note the last row of the first table: the active fraction calls the all-equal pattern (every
# unit at 0.5) the sparsest of the four, because no unit is strictly above the threshold. It
# counts units on one side of a line; it does not measure how activation is spread.

# %% [markdown]
# ## Which sparsity measures behave: Hurley & Rickard's six criteria
#
# Hurley & Rickard (2009, *Comparing measures of sparsity*, IEEE Trans. Inf. Theory 55(10))
# ask six things of a sparsity measure $S$ (higher = sparser) of a vector $c$:
#
# * **D1 Robin Hood**: taking from a larger entry and giving to a smaller one (less than half
#   the gap) lowers $S$;
# * **D2 Scaling**: $S(\alpha c) = S(c)$ for $\alpha > 0$;
# * **D3 Rising tide**: adding the same $\alpha > 0$ to every entry lowers $S$;
# * **D4 Cloning**: $S(c \Vert c) = S(c)$: a vector concatenated with itself, the same
#   distribution of activations over twice the units, is as sparse;
# * **P1 Bill Gates**: one entry growing ever larger eventually raises $S$;
# * **P2 Babies**: appending zeros raises $S$.
#
# `metrics.sparsity_criteria` checks them numerically on fixed probe vectors
# (`metrics.CRITERIA_PROBES`): a failure is a counterexample; a pass is evidence, not a proof.
# Treves-Rolls $a_{TR}$ and the active fraction $f$ are sparser when *lower*, so they are checked
# as $1 - a_{TR}$ and $1 - f$ (`sparser="lower"`). The table is computed, not typed:

# %%
measures = {"Hoyer H": (metrics.hoyer_sparsity, "higher"),
            "Gini G": (metrics.gini_index, "higher"),
            "Treves-Rolls a, as 1 - a": (metrics.treves_rolls, "lower"),
            "active fraction, as 1 - f": (metrics.active_fraction, "lower")}
criteria = {name: metrics.sparsity_criteria(fn, sparser) for name, (fn, sparser) in measures.items()}
table = pd.DataFrame(criteria).T
table.columns = [f"{metrics.CRITERIA[c]} {c}" for c in table.columns]
display(table.map(lambda ok: "✓" if ok else "✗"))


def listed(names):
    return ", ".join(n.lower() for n in names) if names else "none"


met = {name: [c for c, ok in crit.items() if ok] for name, crit in criteria.items()}
glue("n_criteria", len(metrics.CRITERIA))
glue("gini_met", len(met["Gini G"]))
glue("tr_met", len(met["Treves-Rolls a, as 1 - a"]))
glue("hoyer_met", len(met["Hoyer H"]))
glue("hoyer_fails", listed([c for c in metrics.CRITERIA if c not in met["Hoyer H"]]))
glue("active_meets", listed(met["active fraction, as 1 - f"]))

# %% [markdown]
# Gini meets {glue:text}`gini_met` of the {glue:text}`n_criteria` criteria, as Hurley & Rickard
# prove. So does Treves-Rolls read as $1 - a_{TR}$ ({glue:text}`tr_met`): $\sqrt{a_{TR}}$ is the
# ratio of the mean to the root mean square, which no cloning changes; Hoyer is a function of
# $a_{TR}$ *and* $N$ (above), which is exactly where it loses cloning. Hoyer meets
# {glue:text}`hoyer_met`: it fails **{glue:text}`hoyer_fails`**. The active fraction, a count
# against a fixed threshold, meets only {glue:text}`active_meets`: it ignores how strongly units
# fire, so moving or raising activations that stay on one side of the threshold changes
# nothing, while scaling them moves them across it. What to take from the table: the
# dissertation's sparsity measure, Hoyer, is sound except for cloning, and that failure
# matters exactly where layers of different widths are compared, next.
#
# ## Hoyer depends on the width
#
# Failing cloning means that two layers whose units have *the same distribution* of
# activations get different Hoyer values if they differ in width. The figure keeps the
# distribution fixed and varies only the number of units $N$: on the left a fixed 16-unit
# pattern (drawn from Beta({glue:text}`beta_a:g`, {glue:text}`beta_b:g`)) cloned to $N$ units, exactly the same
# distribution at every width; on the right {glue:text}`images` images of $N$ units drawn independently
# from that Beta distribution. The shaded band spans the widths of section 5.8.

# %% mystnb={"figure": {"caption": "The width artefact: Hoyer sparsity falls with the number of units for a pattern cloned to more units (left) and for independent draws (right); the shaded band spans section 5.8's widths.", "name": "fig-metrics-20"}}
from sparsel.experiments import WIDTHS

rng = np.random.default_rng(seed)
pattern16 = torch.from_numpy(rng.beta(beta_a, beta_b, size=16))
widths = [16 * m for m in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40, 48, 64, 96, 128)]
cloned = {n: pattern16.repeat(n // 16)[None, :] for n in widths}
drawn = {n: torch.from_numpy(rng.beta(beta_a, beta_b, size=(images, n))) for n in widths}
curves = {}
for panel, acts_by_n in (("cloned", cloned), ("drawn", drawn)):
    for name, fn in (("Hoyer", metrics.hoyer_sparsity), ("Gini", metrics.gini_index)):
        curves[panel, name] = np.array([fn(acts_by_n[n]).mean().item() for n in widths])

fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4), sharey=True)
titles = {"cloned": "one 16-unit pattern, cloned", "drawn": f"independent draws from Beta({beta_a:g}, {beta_b:g})"}
for ax, panel in zip(axes, ("cloned", "drawn")):
    ax.axvspan(min(WIDTHS), max(WIDTHS), color="0.85", label=f"widths of section 5.8 ({min(WIDTHS)} to {max(WIDTHS)})")
    for name, style, label in (("Hoyer", "o-", "Hoyer sparsity"), ("Gini", "s-", "Gini index")):
        ax.plot(widths, curves[panel, name], style, ms=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks([16, 64, 256, 768, 2048], ["16", "64", "256", "768", "2048"])
    ax.set_xlabel("number of units in the layer")
    ax.set_title(titles[panel], fontsize=10)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("sparsity (mean over images)")
axes[0].legend(fontsize=8)
fig.tight_layout()

lo, hi = min(WIDTHS), max(WIDTHS)
at = {n: i for i, n in enumerate(widths)}
for panel in ("cloned", "drawn"):
    for name in ("Hoyer", "Gini"):
        glue(f"{panel}_{name.lower()}_lo", curves[panel, name][at[lo]])
        glue(f"{panel}_{name.lower()}_hi", curves[panel, name][at[hi]])
glue("cloned_gini_spread", f"{np.ptp(curves['cloned', 'Gini']):.0e}")
glue("width_lo", lo)
glue("width_hi", hi)
# at a fixed Treves-Rolls a, Hoyer at the narrowest width over Hoyer at the widest
glue("hoyer_width_ratio", (1 - 1 / np.sqrt(hi)) / (1 - 1 / np.sqrt(lo)))

# %% [markdown]
# Cloned from {glue:text}`width_lo` to {glue:text}`width_hi` units, the same pattern's Hoyer
# sparsity falls from {glue:text}`cloned_hoyer_lo:.3f` to {glue:text}`cloned_hoyer_hi:.3f`,
# while its Gini index stays at {glue:text}`cloned_gini_lo:.3f` at every width (the largest
# difference between two widths is {glue:text}`cloned_gini_spread`, rounding).
# With independent draws Hoyer falls from {glue:text}`drawn_hoyer_lo:.3f` to
# {glue:text}`drawn_hoyer_hi:.3f`; Gini moves only from {glue:text}`drawn_gini_lo:.3f` to
# {glue:text}`drawn_gini_hi:.3f` (the finite-sample bias of a Gini estimate, a factor
# $(N-1)/N$, visible only at the narrowest widths). The cause is Hoyer's normalisation: with the
# distribution fixed, $a_{TR}$ is fixed, and $H = (1 - \sqrt{a_{TR}}) / (1 - 1/\sqrt{N})$ is
# {glue:text}`hoyer_width_ratio:.3f` times higher at {glue:text}`width_lo` units than at
# {glue:text}`width_hi`. What to take from it: Hoyer values of layers of different widths
# (section 5.8, and the 768-unit networks of section 5.12) are not directly comparable; a width
# effect smaller than this artefact can be the measure, not the network. Gini and Treves-Rolls
# make the width-fair comparison.
#
# ## CCMAS depends on where zero is
#
# CCMAS compares class means by their ratio, so it is scale-invariant (up to $\epsilon$) but not
# shift-invariant: adding the same offset to every activation of a unit lowers it, although
# the unit ranks the images exactly as before. A sigmoid unit whose input is near 0 for most
# images sits at 0.5, not at 0. The unit below fires {glue:text}`unit_height:g` above its baseline for every
# image of digit 3 and sits at the baseline otherwise, so it separates digit 3 perfectly at
# every offset; the offset moves its baseline from 0 to near the top of a sigmoid's range.

# %% mystnb={"figure": {"caption": "A unit that separates digit 3 perfectly, with its baseline moved from 0 towards the top of the sigmoid's range: each selectivity metric against the offset.", "name": "fig-metrics-22"}}
unit_height = 0.1    # the unit's response to digit 3 above its baseline
offsets = torch.linspace(0, 1 - unit_height, 91, dtype=torch.float64)
unit = (labels == 3).double()[:, None] * unit_height + offsets[None, :]   # [images, one unit per offset]
sel_offsets = {"CCMAS": metrics.ccmas_selectivity(unit, labels),
               "maximum informedness": metrics.max_informedness(unit, labels),
               "AUROC of the preferred class": metrics.auroc_preferred(unit, labels)}
fig, ax = plt.subplots(figsize=(6, 3.4))
for (name, vals), style in zip(sel_offsets.items(), ("-", "--", ":")):
    ax.plot(offsets, vals, style, lw=2, label=name)
half = int(torch.argmin((offsets - 0.5).abs()))
ax.axvline(offsets[half], color="0.6", lw=1)
ax.annotate("a sigmoid at rest: sigmoid(0)", (offsets[half], 0.25), xytext=(4, 0), textcoords="offset points",
            fontsize=8)
ax.set_xlabel("offset added to every activation of the unit")
ax.set_ylabel("selectivity of the unit")
ax.set_ylim(-0.02, 1.05)
ax.legend(fontsize=8, loc="center right")
ax.grid(alpha=0.3)
fig.tight_layout()

glue("unit_height", unit_height)
glue("ccmas_at_zero", sel_offsets["CCMAS"][0].item())
glue("ccmas_at_half", sel_offsets["CCMAS"][half].item())
glue("class3_mean_half", offsets[half].item() + unit_height)
glue("others_mean_half", offsets[half].item())
glue("informedness_min", sel_offsets["maximum informedness"].min().item())
glue("auroc_min", sel_offsets["AUROC of the preferred class"].min().item())
scaled = metrics.ccmas_selectivity(torch.cat([unit[:, half:half + 1], 7 * unit[:, half:half + 1]], 1), labels)
glue("ccmas_scale_diff", f"{abs(scaled[0] - scaled[1]).item():.0e}")

# %% [markdown]
# With the baseline at 0 the unit has CCMAS {glue:text}`ccmas_at_zero:.3f`. At the baseline of a sigmoid at rest, class means
# {glue:text}`class3_mean_half:.1f` against {glue:text}`others_mean_half:.1f`, CCMAS reads
# {glue:text}`ccmas_at_half:.3f`, yet the unit is a perfect detector of digit 3: maximum
# informedness and AUROC stay at {glue:text}`informedness_min:.0f` and
# {glue:text}`auroc_min:.0f` over every offset (their lowest values on the curve). Multiplying
# all activations by a constant, by contrast, changes CCMAS by only {glue:text}`ccmas_scale_diff`
# (the $\epsilon$). What to take from it: a change in mean CCMAS between two networks can come
# from a shift of the units' resting level, which sigmoid networks readily make, rather than from
# a change in what the units respond to; informedness and AUROC, which only see the order of the
# activations, separate the two.
