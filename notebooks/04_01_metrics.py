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

# %%
import matplotlib.pyplot as plt
import torch

from sparsel.glue import glue
from sparsel import metrics

# %% [markdown]
# ## Worked examples
#
# Four activation patterns of one image over `n_units` units, from a single active unit to all
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
# How the two measures move: Hoyer sparsity of an image with $k$ of `n_units` units on (the rest
# off, or at a small floor as a sigmoid would leave them), and CCMAS of a unit whose preferred
# class drives it $r$ times as strongly as the other nine.

# %%
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
#
# ## Shape a pattern yourself
#
# Move the sliders: `active` units out of 64 fire at `level`, the rest at `floor`; `preference`
# multiplies each active unit's response to its preferred class. The plot shows one image's
# pattern; the readout gives that pattern's Hoyer sparsity and the mean CCMAS over units.

# %%
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


widgets.interact(pattern_figure,
                 active=widgets.IntSlider(value=8, min=1, max=64),
                 level=widgets.FloatSlider(value=0.9, min=0.05, max=1.0, step=0.05),
                 floor=widgets.FloatSlider(value=0.05, min=0.0, max=0.5, step=0.01),
                 preference=widgets.FloatSlider(value=3.0, min=1.0, max=10.0, step=0.5));

# %% [markdown]
# In the static book the widget shows its saved state; run the notebook to move it. Raising the
# `floor` lowers both measures at once; `preference` moves selectivity while leaving sparsity
# almost where it was, which is why the study reports both.
