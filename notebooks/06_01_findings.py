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
