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
# # The four optimizers (section 4.2)
#
# The study compares SGD with three adaptive rules. Each rule below is the function in
# `sparsel.optim` that implements it, written as chapter 4 writes it (PyTorch's form where the
# text says PyTorch differs). The same function trains every run of the stacked engine (on the
# parameters of many runs at once, updated in place); the reference loop trains with
# `torch.optim`. The test suite checks every rule, step for step, against `torch.optim`; this
# chapter repeats the check and shows how each rule's step behaves. The last section lists the
# optimizers added since (RMSprop, Nesterov SGD, AdamW, Adamax, NAdam and section 6.3.1's
# modified Adagrad and Adadelta).
#
# | rule | update | sparsel |
# |---|---|---|
# | SGD + momentum (Eq. 4.15) | $v_t = \gamma v_{t-1} + g_t,\ \theta_{t+1} = \theta_t - \eta v_t$ | `sgd_step` |
# | Adagrad (Eq. 4.17) | $G_t = G_{t-1} + g_t^2,\ \theta_{t+1} = \theta_t - \eta\, g_t / (\sqrt{G_t} + \epsilon)$ | `adagrad_step` |
# | Adadelta (Eqs 4.19-4.23) | $E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2,\ \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1}+\epsilon}}{\sqrt{E[g^2]_t+\epsilon}} g_t,\ \theta_{t+1} = \theta_t - \eta \Delta_t$ | `adadelta_step` |
# | Adam (Eqs 4.24-4.25) | $p_t = \beta_1 p_{t-1} + (1-\beta_1) g_t,\ q_t = \beta_2 q_{t-1} + (1-\beta_2) g_t^2,\ \theta_{t+1} = \theta_t - \eta\, \hat p_t / (\sqrt{\hat q_t} + \epsilon)$ | `adam_step` |
#
# **Deviations.** Eq. 4.17 puts $\epsilon$ inside the square root; PyTorch (and so the original
# runs) adds it outside. `adagrad_step(..., eps_inside_sqrt=True)` gives the text's form; the
# difference matters only while the accumulator is tiny.

# %% tags=["parameters"]
steps = 200        # steps in the numerical check and the step-size picture
seed = 0           # RNG seed for the synthetic gradients
long_steps = 36000  # steps of the p-family picture: 30 epochs of 1,200 batches of 50
grad_size = 0.01   # the constant gradient of the p-family picture

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown

from sparsel.glue import glue
from sparsel import optim

# %% [markdown]
# ## Checked against torch.optim
#
# One parameter tensor, the same random gradients fed to `torch.optim` (with Table 5.1's
# settings) and to the rule above (which updates the parameters and the optimizer's state in
# place). The table gives the largest difference after {glue:text}`check_steps` steps.

# %%
g = torch.Generator().manual_seed(seed)
grads = [torch.randn(50, generator=g, dtype=torch.float64) for _ in range(steps)]
theta0 = torch.randn(50, generator=g, dtype=torch.float64)
worst = {}
for name in optim.OPTIMIZERS:
    p = torch.nn.Parameter(theta0.clone())
    opt = optim.make_optimizer(name, [p])
    theta, state = theta0.clone(), {}
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
        theta = optim.REFERENCE_STEPS[name](theta, grad, state, **optim.hyperparameters(name))
    worst[name] = (theta - p.detach()).abs().max().item()
glue("optim_worst", max(worst.values()))
glue("check_steps", steps)
pd.DataFrame({"max |ours - torch.optim|": [f"{worst[n]:.2e}" for n in worst],
              "settings": [", ".join(f"{k}={v:g}" for k, v in optim.hyperparameters(n).items()) for n in worst]},
             index=pd.Index(list(worst), name="optimizer"))

# %% [markdown]
# The largest difference over all four is {glue:text}`optim_worst:.1e` (float64 round-off).
#
# ## How big is each step?
#
# Feed each rule a gradient of constant size with random sign, $g_t = \pm 1$, and plot the size of
# the step it takes, $|\theta_{t+1} - \theta_t|$. SGD's step is fixed by $\eta$; Adagrad's shrinks
# as $\eta/\sqrt{t}$ because its accumulator only grows; Adadelta's starts near
# $\sqrt{\epsilon}$ and grows as its running average of past steps fills; Adam's starts at $\eta$
# and then follows its average of past gradients $\hat p_t$, which random signs nearly cancel,
# so it falls well below $\eta$ and jumps from step to step.

# %% mystnb={"figure": {"caption": "The size of each rule's step when every gradient has size 1 and a random sign, at Table 5.1's settings (log-log axes).", "name": "fig-optimizers-steps"}}
signs = torch.where(torch.rand(steps, generator=g) < 0.5, -1.0, 1.0).double()
fig, ax = plt.subplots(figsize=(6, 3.3))
size = {}
for name in optim.OPTIMIZERS:
    theta, state, sizes = torch.zeros(1, dtype=torch.float64), {}, []
    for s in signs:
        before = theta.clone()
        optim.REFERENCE_STEPS[name](theta, s.reshape(1), state, **optim.hyperparameters(name))
        sizes.append((theta - before).abs().item())
    ax.plot(range(1, steps + 1), sizes, label=f"{name} (lr {optim.BASELINE[name]['lr']:g})")
    size[name] = sizes
ax.set_xscale("log"); ax.set_yscale("log")
ax.set_xlabel("step"); ax.set_ylabel("|step| for |g| = 1"); ax.legend(fontsize=8); ax.grid(alpha=0.3)
fig.tight_layout()
for when, i in (("first", 0), ("tenth", 9), ("last", -1)):
    glue(f"step_{when}", ", ".join(f"{n} {size[n][i]:.2g}" for n in sorted(size, key=lambda n: -size[n][i])))
glue("adadelta_growth", size["adadelta"][-1] / size["adadelta"][0])

# %%
# Adam's typical step once its averages have filled (the second half), against its learning rate
adam_late = np.array(size["adam"][steps // 2:]) / optim.BASELINE["adam"]["lr"]
glue("adam_late_median", float(np.median(adam_late)))
glue("adam_late_min", float(adam_late.min()))
glue("adam_late_max", float(adam_late.max()))

# %% [markdown]
# Step sizes, largest first: at step 1 {glue:text}`step_first`; at step 10 {glue:text}`step_tenth`;
# at the last step {glue:text}`step_last`. Adadelta's step grows by a factor of
# {glue:text}`adadelta_growth:.0f` over these steps as its average of past steps fills, while
# Adagrad's shrinks as its accumulator only grows. Over the second half of the steps Adam's step is
# a median {glue:text}`adam_late_median:.2f` of its learning rate, from
# {glue:text}`adam_late_min:.1g` to {glue:text}`adam_late_max:.2f` times it: with gradients of
# random sign its momentum mostly cancels, so Adam moves far less than $\eta$ per step. The momentum, rho and beta grids of section
# 5.5 move these curves; chapter 5.5 measures what that does to sparsity.

# %% [markdown]
# ## More optimizers
#
# Section 6.2 asks for "more optimizers that can control the degree of the past gradient", and
# section 6.3.1 proposes a modified Adagrad (Eq. 6.1) and Adadelta (Eq. 6.2) that multiply the
# step by $k$ times the square of the accumulator, with a new hyper-parameter $k$. `sparsel`
# adds both, and a *p-family* that generalises them: the step times $k G_t^p$ (Adagrad) or
# $k (E[g^2]_t)^p$ (Adadelta); $p = 0, k = 1$ is the original optimizer exactly and $p = 2$ is
# Eq. 6.1 or 6.2. An optimizer is one entry of `optim.REGISTRY`: its update rule (the function
# named below, written once, as above), its hyper-parameters and their defaults (each a field of
# a run spec), and torch.optim's implementation where there is one. The table is that registry.

# %%
rows = ["| name | update | rule | defaults (from) |", "|---|---|---|---|"]
for name in optim.ALL_OPTIMIZERS[len(optim.OPTIMIZERS):]:
    opt = optim.REGISTRY[name]
    fixed = "".join(f", {k}={v}" for k, v in opt.fixed.items())
    hp = ", ".join(f"{k}={v:g}" for k, v in opt.defaults.items())
    rows.append(f"| `{name}` | {opt.formula} | `{opt.step.__name__}`{fixed} | {hp} ({opt.defaults_from}) |")
Markdown("\n".join(rows))

# %% [markdown]
# Where torch.optim has the optimizer (RMSprop, Nesterov SGD, AdamW, Adamax, NAdam) the rule is
# checked against it as above; the others are checked against steps computed by hand from
# Eqs 6.1 and 6.2 in the test suite, and the reference loop trains them with the same rule
# wrapped as a torch.optim optimizer (`optim.RuleOptimizer`).

# %%
torch.set_default_dtype(torch.float64)  # torch.optim keeps NAdam's product of momenta in this dtype
worst_new = {}
for name in optim.ALL_OPTIMIZERS[len(optim.OPTIMIZERS):]:
    if optim.REGISTRY[name].reference is None:
        continue
    p = torch.nn.Parameter(theta0.clone())
    opt = optim.make_optimizer(name, [p])
    theta, state = theta0.clone(), {}
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
        optim.REGISTRY[name].step(theta, grad, state, **optim.hyperparameters(name), **optim.REGISTRY[name].fixed)
    worst_new[name] = (theta - p.detach()).abs().max().item()
    print(f"{name:>8}: max |ours - torch.optim| = {worst_new[name]:.2e}")
torch.set_default_dtype(torch.float32)
glue("optim_new_worst", max(worst_new.values()))

# %% [markdown]
# The largest difference is {glue:text}`optim_new_worst:.1e`.
#
# ## Why Eq. 6.1's step grows without bound
#
# Feed the p-family a constant gradient $g$ and plot its effective learning rate, the step per
# unit gradient $\lvert\theta_{t+1} - \theta_t\rvert / \lvert g\rvert$, for {glue:text}`pfam_steps:,` steps
# (the default is 30 epochs of 1,200 batches of 50, one full-scale run). Adagrad's accumulator
# grows like $G_t = t g^2$, so its step $\eta g / \sqrt{G_t}$ falls like $1/\sqrt t$, and
# $k G_t^p$ turns that into $t^{p - 1/2}$: Eq. 6.1 ($p = 2$) grows like $t^{1.5}$. Adadelta's
# average $E[g^2]_t$ settles at $g^2$ within a few steps, so its factor $k (E[g^2]_t)^p$ only
# rescales Adadelta's step by a constant. Every value of $p$ runs as one stack, as the engine
# runs many runs: the rule gets $p$ as a per-run tensor.

# %% mystnb={"figure": {"caption": "The p-family's effective learning rate on a constant gradient, over one full-scale run's steps: the Adagrad family (left) and the Adadelta family (right), k = 1.", "name": "fig-optimizers-pfamily"}}
def effective_rates(name, ps, t_max, g):
    """|step| / |g| of ``name`` at each step for a constant gradient ``g``, one row per p."""
    opt = optim.REGISTRY[name]
    hp = dict(optim.BASELINE[name], p=torch.tensor(ps, dtype=torch.float64).view(-1, 1))
    theta = torch.zeros(len(ps), 1, dtype=torch.float64)
    state, grad, rates = {}, torch.full_like(theta, g), []
    for _ in range(t_max):
        before = theta.clone()
        opt.step(theta, grad, state, **hp)
        rates.append(((theta - before).abs() / g).squeeze(1))
    return torch.stack(rates, 1).numpy()


t = np.arange(1, long_steps + 1)
families = {"adagrad_p": (0.0, 0.5, 1.0, 2.0), "adadelta_p": (0.0, 1.0, 2.0)}
rates = {name: effective_rates(name, ps, long_steps, grad_size) for name, ps in families.items()}
fig, axes = plt.subplots(1, 2, figsize=(8, 3.3))
for ax, (name, ps) in zip(axes, families.items()):
    for p_, r in zip(ps, rates[name]):
        eq = {"adagrad_p": " (Adagrad)", "adadelta_p": " (Adadelta)"}[name] if p_ == 0 else \
            {"adagrad_p": " (Eq. 6.1)", "adadelta_p": " (Eq. 6.2)"}[name] if p_ == 2 else ""
        ax.plot(t, r, label=f"p = {p_:g}{eq}")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
    ax.set_xlabel("step t"); ax.set_title(f"{name}, k = 1, |g| = {grad_size:g}", fontsize=9)
axes[0].set_ylabel("effective learning rate |step| / |g|")
fig.tight_layout()

late = t >= long_steps // 10
slopes = {p_: np.polyfit(np.log(t[late]), np.log(r[late]), 1)[0] for p_, r in zip(families["adagrad_p"], rates["adagrad_p"])}
crossing = int(t[np.argmax(rates["adagrad_p"][3] > rates["adagrad_p"][0])])
glue("pfam_slope_p2", slopes[2.0])
glue("pfam_slope_p0", slopes[0.0])
glue("pfam_cross", crossing)
glue("pfam_grad", grad_size)
glue("pfam_steps", long_steps)
glue("pfam_adadelta_ratio", float(np.median(rates["adadelta_p"][2][late] / rates["adadelta_p"][0][late])))

# %% [markdown]
# Over the last nine tenths of the run the effective rate of Eq. 6.1 grows like
# $t^{a}$ with $a =$ {glue:text}`pfam_slope_p2:.2f`, Adagrad's falls with $a =$
# {glue:text}`pfam_slope_p0:.2f`. At a gradient of {glue:text}`pfam_grad:g` Eq. 6.1 first
# barely moves ($G_t^2$ is tiny), overtakes Adagrad at step {glue:text}`pfam_cross:,` and
# keeps accelerating, so on a steady gradient its steps eventually outgrow any learning rate a
# network trains at; $k$ or the learning rate only move the step at which that happens. A real
# gradient shrinks as training goes on, and a step grown too large can stall a sigmoid network at
# chance rather than overflow: the runs of the modified-optimizers page (section 6.3.1) show which
# happened at each $k$. Eq. 6.2 instead multiplies
# Adadelta's step by a constant, here {glue:text}`pfam_adadelta_ratio:.1e` ($g^4$), which
# acts like a smaller learning rate.
