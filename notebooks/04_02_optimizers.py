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
# text says PyTorch differs). The test suite checks every one, step for step, against
# `torch.optim`; this chapter repeats the check and shows how each rule's step behaves.
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

# %%
import matplotlib.pyplot as plt
import torch

from sparsel.glue import glue
from sparsel import optim

# %% [markdown]
# ## Checked against torch.optim
#
# One parameter tensor, the same random gradients fed to `torch.optim` (with Table 5.1's
# settings) and to the rule above. The table gives the largest difference after `steps` steps.

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
    print(f"{name:>8}: max |ours - torch.optim| = {worst[name]:.2e}   settings {optim.hyperparameters(name)}")
glue("optim_worst", max(worst.values()))

# %% [markdown]
# The largest difference over all four is {glue:text}`optim_worst:.1e` (float64 round-off).
#
# ## How big is each step?
#
# Feed each rule a gradient of constant size with random sign, $g_t = \pm 1$, and plot the size of
# the step it takes, $|\theta_{t+1} - \theta_t|$. SGD's step is fixed by $\eta$; Adagrad's shrinks
# as $\eta/\sqrt{t}$ because its accumulator only grows; Adadelta's starts near
# $\sqrt{\epsilon}$ and grows as its running average of past steps fills; Adam's stays near $\eta$.

# %%
signs = torch.where(torch.rand(steps, generator=g) < 0.5, -1.0, 1.0).double()
fig, ax = plt.subplots(figsize=(6, 3.3))
for name in optim.OPTIMIZERS:
    theta, state, sizes = torch.zeros(1, dtype=torch.float64), {}, []
    for s in signs:
        new = optim.REFERENCE_STEPS[name](theta, s.reshape(1), state, **optim.hyperparameters(name))
        sizes.append((new - theta).abs().item())
        theta = new
    ax.plot(range(1, steps + 1), sizes, label=f"{name} (lr {optim.BASELINE[name]['lr']:g})")
ax.set_xscale("log"); ax.set_yscale("log")
ax.set_xlabel("step"); ax.set_ylabel("|step| for |g| = 1"); ax.legend(fontsize=8); ax.grid(alpha=0.3)
fig.tight_layout()

# %% [markdown]
# The picture explains a pattern seen throughout chapter 5: at Table 5.1's settings Adagrad
# takes by far the largest early steps (lr 0.1 divided by a still-small accumulator), then
# freezes, while Adadelta's effective rate keeps rising. The momentum, rho and beta grids of
# section 5.5 move these curves; chapter 5.5 measures what that does to sparsity.
