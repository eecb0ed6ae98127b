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
# # Findings, checked (section 6.1)
#
# Each row is a claim from the dissertation's summary of findings, the test our runs make of it,
# the numbers, and a verdict computed from the store by `sparsel.findings.checks`: **holds** or
# **does not hold** when every part of the claim points the same way by more than twice the
# combined standard error over seeds, **inconclusive** otherwise. With one seed (smoke scale)
# there is no error bar and every comparison is **inconclusive at this scale**; the evidence
# column still says which way the numbers point.

# %% tags=["parameters"]
scale = "smoke"          # "smoke" or "full"
seeds = None             # None: the scale's seeds
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite

# %%
import pandas as pd

from sparsel.glue import glue
from sparsel import findings
from sparsel.store import Store

table = findings.checks(scale, Store(store), seeds)
counts = table.verdict.value_counts()
glue("n_claims", len(table))
glue("verdicts", ", ".join(f"{n} {v}" for v, n in counts.items()))
glue("findings_scale", scale.upper())

# %% [markdown]
# ```{note}
# Verdicts on this page come from {glue:text}`findings_scale` scale runs.
# ```
#
# Of {glue:text}`n_claims` claims: {glue:text}`verdicts`.

# %%
with pd.option_context("display.max_colwidth", None):
    display(table[["section", "claim", "test", "evidence", "verdict"]].style.hide(axis="index"))

# %% [markdown]
# ## Claim x metric
#
# The same claims, each re-tested on one metric alone: the sparsity part of a claim under Hoyer
# or Gini, the selectivity part under CCMAS, maximum informedness or AUROC. The verdicts follow
# the rules above; **not run** also marks a claim a metric cannot test (relating sparsity to
# selectivity needs two metrics, and the during-training capture that the train/test claim reads
# records no informedness or AUROC).

# %%
per_metric = findings.by_metric(scale, Store(store), seeds)


def changed(a, b):
    """(claims whose verdict differs between metrics a and b, claims tested under both)."""
    both = per_metric[(per_metric[a] != "not run") & (per_metric[b] != "not run")]
    return int((both[a] != both[b]).sum()), len(both)


for name, (a, b) in {"sparsity": ("Hoyer", "Gini"), "selectivity": ("CCMAS", "informedness")}.items():
    n_changed, n_both = changed(a, b)
    glue(f"n_changed_{name}", n_changed)
    glue(f"n_both_{name}", n_both)
with pd.option_context("display.max_colwidth", None):
    display(per_metric)

# %% [markdown]
# Each column is one metric's test of every claim. Of the {glue:text}`n_both_sparsity` claims
# tested under both Hoyer and Gini, {glue:text}`n_changed_sparsity` change verdict; of the
# {glue:text}`n_both_selectivity` tested under both CCMAS and maximum informedness,
# {glue:text}`n_changed_selectivity`. A claim that holds under Hoyer or CCMAS but not under Gini,
# informedness or AUROC depends on the original metric's bias rather than on the units: Hoyer's
# dependence on the number of units (which matters where widths differ, as in sections 5.8 and
# 5.12) or CCMAS's dependence on the units' resting level; the metrics chapter (section 4.1)
# shows both.
