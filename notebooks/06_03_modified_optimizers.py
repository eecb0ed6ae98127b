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
# # Modified Adagrad and Adadelta (further work, section 6.3.1)
#
# Section 6.3.1 proposes two optimizers meant to give "the more past gradient, the sparser"
# a stronger push, and says their code is ready; no run of them exists. Eq. 6.1 multiplies
# Adagrad's step by $k G^2$ ($G$ the running sum of squared gradients), Eq. 6.2 multiplies
# Adadelta's by $k\,(E[g^2])^2$. Both sit in one family,
#
# $$\theta_{t+1} = \theta_t - \eta\, k\, G_t^{\,p}\, \frac{g_t}{\sqrt{G_t} + \epsilon},$$
#
# where $p = 0$ is Adagrad, $p = 1/2$ is plain SGD at rate $\eta k$ and $p = 2$ is Eq. 6.1
# (the same with $E[g^2]$ and Adadelta's step for Eq. 6.2). We run $p = 0, 1/4, 1/2, 1$ and
# the equations themselves ($p = 2$) at three values of $k$ each, batch 50, 30 epochs.
# The update rules are `sparsel.optim.adagrad_p_step` and `adadelta_p_step`; the tests check
# them step by step by hand and that $p = 0, k = 1$ reproduces Adagrad and Adadelta exactly.
#
# **Choice of k.** Adadelta's $E[g^2]$ is an average (near $10^{-4}$ here), Adagrad's $G$ a
# sum that grows with every step, so Adadelta's $k$ is given in units of $10^{4p}$
# ($k = c \cdot 10^{4p}$, $c = 0.1, 1, 10$) and Adagrad's is $0.01, 1, 100$.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" (1,000-image subset, 1 seed) or "full" (the dissertation's settings)
device = "auto"          # "auto", "cpu" or "cuda"
seeds = None             # None: the scale's seeds (full: 1, 100, 1234)
only = {}                # narrow the grid, e.g. {"optimizer": ["adagrad_p", "adagrad_mod"]}
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite
train_missing = True     # train runs missing from the store (False: report them)
missing_note = ""        # set by the book builder when this chapter falls back to smoke scale

# %%
import numpy as np
import matplotlib.pyplot as plt

from sparsel.glue import glue
from sparsel import experiments, optim, original, plots, summary

df = summary.load("modified_optimizers", scale, store, seeds, device, train_missing, **only)
glue("scale_line", plots.provenance(df, scale) + (f" ({missing_note})" if missing_note else ""), markdown=True)
glue("n_seeds", plots.seeds_words(df))
last = summary.last_table(df)
last["family"] = last.optimizer.str.replace("_mod", "").str.replace("_p", "")
# one line per family and k (Adagrad) or c = k / 1e4^p (Adadelta), across p
scale_c = np.where(last.family == "adadelta", 1e4 ** last.value.astype(float), 1.0)
last["line"] = last.family + np.where(last.family == "adadelta", " c=", " k=") + \
    (last.k / scale_c).map(lambda v: f"{v:.3g}")

# %% [markdown]
# ```{note}
# Figures on this page: {glue:md}`scale_line`.
# ```
#
# ## Why the equations are fragile as written: the effective rate
#
# On a steady gradient $G_t$ grows like $t$, so the factor that multiplies $g$ grows like
# $t^{\,p - 1/2}$: it falls for Adagrad, is constant for $p = 1/2$ and grows as $t^{1.5}$ for
# Eq. 6.1. The weights that have received the most gradient get the largest steps, the opposite
# of Adagrad's premise, and nothing bounds the step: on a steady gradient any $k > 0$ eventually
# outgrows every fixed learning rate. How far it grows within one run depends on $k$. On the
# figure's gradient ($g^2 = 10^{-4}$, $\eta = 0.1$), after the {glue:text}`run_steps` steps of
# one of this page's runs Eq. 6.1's effective rate is {glue:text}`eq61_rate_lo:.2g`,
# {glue:text}`eq61_rate_mid:.2g` and {glue:text}`eq61_rate_hi:.2g` at $k$ =
# {glue:text}`eq61_k_lo:g`, {glue:text}`eq61_k_mid:g` and {glue:text}`eq61_k_hi:g` (Table 5.1's
# SGD rate is {glue:text}`sgd_lr:g`). A real gradient is not steady: it shrinks as the loss falls
# and vanishes where sigmoid units saturate, and then $G$ stops growing. So a step that grows too
# large need not overflow: it can drive the units into saturation and leave the network stuck at
# chance accuracy. The runs below show which happened. (Scaling the loss by
# $c$ scales an Eq. 6.1 step by $c^4$; Adagrad and Adadelta are scale-free.)

# %% mystnb={"figure": {"caption": "The Adagrad family's effective learning rate on a constant gradient, from the update rule (no runs).", "name": "fig-modified-optimizers-4"}}
t = np.unique(np.logspace(0, np.log10(36_000), 200).astype(int))  # 36,000 steps = 30 epochs at batch 50
fig, ax = plt.subplots(figsize=(6.4, 4.0))
for p in (0.0, 0.25, 0.5, 1.0, 2.0):
    ax.loglog(t, optim.adagrad_p_rate(p, t, g2=1e-4, lr=0.1).numpy(), label=f"p = {p:g}")
ax.set_xlabel("step")
ax.set_ylabel("effective learning rate (k = 1)")
ax.set_title("Adagrad family on a constant gradient, g² = 1e-4")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()

# %%
# The same rule at the end of one of this page's runs, for Eq. 6.1's values of k.
run = df.drop_duplicates("run_key").iloc[0]
n_train = 60_000 if run.train_size is None or run.train_size != run.train_size else int(run.train_size)
run_steps = int(run.epochs) * -(-n_train // int(run.batch_size))
glue("run_steps", f"{run_steps:,}")
ks = sorted({c.spec.k for c in experiments.cells("modified_optimizers", scale) if c.spec.optimizer == "adagrad_mod"})
for name, k in zip(("lo", "mid", "hi"), (ks[0], ks[len(ks) // 2], ks[-1])):
    glue(f"eq61_k_{name}", float(k))
    glue(f"eq61_rate_{name}", float(optim.adagrad_p_rate(2.0, [run_steps], g2=1e-4, lr=0.1, k=float(k))[0]))
glue("sgd_lr", next(c.spec.lr for c in experiments.cells("baseline", scale) if c.condition == "sgd"))

# %% [markdown]
# ## What the runs did
#
# One line per family and $k$, last epoch, against $p$. A diverged run leaves its point out
# (the table below gives the epoch it diverged at); a network at 0.1 accuracy did not learn.

# %% mystnb={"figure": {"caption": "Last epoch against p, one line per family and k (Adadelta: c = k / 1e4^p). Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-modified-optimizers-6"}}
fig = plots.versus(last, x="value", hue="line", title="Last epoch vs p (p = 2: Eqs 6.1 and 6.2)")
div = df.drop_duplicates("run_key").groupby("condition", sort=False).agg(
    runs=("run_key", "size"), diverged=("diverged", "sum"), first_diverged_epoch=("diverged_epoch", "min"))
table = last[["accuracy", "sparsity", "selectivity_avg", "n"]].join(div).round(3)
table["note"] = summary.state(last)  # a dead layer's selectivity is the formula's 0, not a code
glue("n_trained", int((last.accuracy > summary.CHANCE).sum()))
glue("n_conditions", len(last))
glue("n_diverged_conditions", int((div.diverged > 0).sum()))
table.style.format(precision=3, na_rep="—")  # a Styler shows the note whole; "—": none diverged

# %%
# the equations as written (p = 2): what each k did, and whether a run at chance diverged or stalled
eqs = last[last.value == 2].join(div)
for fam, eq in (("adagrad_mod", "61"), ("adadelta_mod", "62")):
    rows = eqs[eqs.optimizer == fam]
    glue(f"eq{eq}_runs", "; ".join(f"k = {r.k:g}: {r.accuracy:.3f}" for r in rows.itertuples()) or "not run")
stuck = eqs[eqs.accuracy <= summary.CHANCE]
n_blown = int((stuck.diverged > 0).sum())
glue("eq_chance_words",
     f"{len(stuck)} of these {len(eqs)} conditions end at or below chance accuracy"
     + ("." if not len(stuck) else
        ", none with a diverged seed: where the step grew too large, the networks stalled at chance with a "
        "finite loss rather than overflowing." if n_blown == 0 else
        f"; {n_blown} of them have a diverged seed."))

# %% [markdown]
# Of {glue:text}`n_conditions` conditions, {glue:text}`n_trained` end above chance accuracy
# and {glue:text}`n_diverged_conditions` have a diverged seed. The equations as written, last-epoch
# test accuracy: Eq. 6.1, {glue:text}`eq61_runs`; Eq. 6.2, {glue:text}`eq62_runs`.
# {glue:text}`eq_chance_words`
#
# ## Does $p = 0, k = 1$ give back Adagrad and Adadelta?

# %%
base = summary.last_table(summary.load("baseline", scale, store, seeds, device, train_missing))
for fam in ("adagrad", "adadelta"):
    mine = f"{fam}_p p=0 k=1"
    same = mine in last.index and fam in base.index
    glue(f"{fam}_p0_diff", abs(last.at[mine, "accuracy"] - base.at[fam, "accuracy"]) if same else "not run")

# %% [markdown]
# The last-epoch test accuracy of $p = 0, k = 1$ differs from the baseline's by
# {glue:text}`adagrad_p0_diff` (Adagrad) and {glue:text}`adadelta_p0_diff` (Adadelta): the same
# rule on the same seeds, so any difference is floating-point rounding.
#
# ## Sparsity and selectivity against p, where the network learnt
#
# The hypothesis behind the equations is that a larger $p$ (more weight on the past gradient)
# raises sparsity and selectivity. Only networks above chance accuracy say anything about it.

# %% mystnb={"figure": {"caption": "As above, networks above chance accuracy only, in four metrics. Points: means over {glue:text}`n_seeds` at the last epoch; bars: \u00b11 standard error over seeds (none with one seed).", "name": "fig-modified-optimizers-10"}}
learnt = last[last.accuracy > summary.CHANCE]
fig = plots.versus(learnt, x="value", hue="line", metrics=("sparsity", "gini", "selectivity_avg", "informedness"),
                   title="Networks above chance accuracy only")

# %% [markdown]
# ## Reproduce this page
#
# {glue:md}`reproduce` {glue:md}`original_note` The data behind this page's figures, one row per condition and epoch
# (means and standard errors over seeds): {download}`06_03_modified_optimizers.csv <data/06_03_modified_optimizers.csv>`.

# %%
glue("reproduce", summary.reproduce("modified_optimizers", df), markdown=True)
glue("original_note", original.note("modified_optimizers"), markdown=True)
summary.page_csv(summary.table(df), "06_03_modified_optimizers")

