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
# Each of the 23 bullets of the dissertation's summary of findings is a row below (a bullet
# that joins a testable claim to a speculation, or claims of different kinds, is split: 7a and
# 7b, ...): the claim in short, the section and figure that show it with a link to our chapter,
# the test our runs make of it, the numbers that test used (means with their standard error
# over seeds and the number of seeds n) and the verdict, computed from the store by
# `sparsel.findings.checks`. Every verdict follows one rule:

# %% tags=["parameters"]
scale = "smoke"          # "smoke" or "full"
seeds = None             # None: the scale's seeds
store = None             # results database; None: $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite

# %%
import html

import pandas as pd
from IPython.display import Markdown, display

from sparsel.glue import glue
from sparsel import findings
from sparsel.store import Store

display(Markdown(findings.rule()))

# %%
ev = findings.Evidence(scale, Store(store), seeds)
table = findings.checks(scale, Store(store), seeds, ev=ev)
counts = table.verdict.value_counts()
glue("n_rows", len(table))
glue("n_bullets", table.bullet.nunique())
glue("verdicts", ", ".join(f"{n} {v}" for v, n in counts.items()))
glue("findings_scale", scale.upper())

# %% [markdown]
# ```{note}
# Verdicts on this page come from {glue:text}`findings_scale` scale runs. Smoke scale has one
# seed per run, so no check there reaches a verdict: those rows say which way the numbers point.
# ```
#
# The {glue:text}`n_bullets` bullets make {glue:text}`n_rows` rows: {glue:text}`verdicts`.
# The chapter column links to the chapter that draws the figure; "numbers" opens the values
# each verdict rests on. The sections' own conclusions are checked on their chapters' pages, and
# the trends of bullets 11 and 16 to 18 are re-tested on the wider grids section 6.2 asked for in
# the [wider grids chapter](06_02_wider_grids.ipynb).

# %%
def chapter_links(stems: str) -> str:
    """'05_04_hidden_layers, 05_08_width' -> links to those chapters, named by their section."""
    links = []
    for stem in stems.split(", "):
        major, minor = stem.split("_")[:2]
        links.append(f'<a href="{stem}.html">{int(major)}.{int(minor)}</a>')
    return ", ".join(links)


colour = findings.colour
shown = pd.DataFrame({"#": table.id, "claim": table.claim.map(html.escape),
                      "dissertation": (table.section + "; " + table.figure).str.strip("; ").map(html.escape),
                      "chapter": table.chapter.map(chapter_links), "test": table.test.map(html.escape),
                      "numbers": table.evidence.map(findings.folded), "verdict": table.verdict})
LEFT = [{"selector": "td, th", "props": "text-align: left; vertical-align: top"}]
shown.style.hide(axis="index").map(colour, subset=["verdict"]).set_table_styles(LEFT)

# %% [markdown]
# ## Claim x metric
#
# The same checks, each run on one metric alone: the sparsity part of a claim under Hoyer or
# Gini, the selectivity part under CCMAS, maximum informedness or AUROC. The verdicts follow the
# rule above; **n/a** marks a check a metric cannot make (relating sparsity to selectivity needs
# one metric of each, and the during-training capture that the train/test check reads records
# no informedness or AUROC), **not run** a check whose runs are missing.

# %%
per_metric = findings.by_metric(scale, Store(store), seeds, ev=ev)


def changed(a, b):
    """(claims whose verdict differs between metrics a and b, claims tested under both)."""
    tested = ~per_metric[[a, b]].isin([findings.NOT_RUN, findings.NOT_APPLICABLE, findings.NOT_CHECKABLE]).any(axis=1)
    both = per_metric[tested]
    return int((both[a] != both[b]).sum()), len(both)


for name, (a, b) in {"sparsity": ("Hoyer", "Gini"), "selectivity": ("CCMAS", "informedness")}.items():
    n_changed, n_both = changed(a, b)
    glue(f"n_changed_{name}", n_changed)
    glue(f"n_both_{name}", n_both)
per_metric.style.map(colour).set_table_styles(LEFT)

# %% [markdown]
# Each column is one metric's test of every claim. Of the {glue:text}`n_both_sparsity` claims
# tested under both Hoyer and Gini, {glue:text}`n_changed_sparsity` change verdict; of the
# {glue:text}`n_both_selectivity` tested under both CCMAS and maximum informedness,
# {glue:text}`n_changed_selectivity`. The metrics measure different properties, so a verdict that
# changes between them says the claim holds for one property and not for another, not which
# metric is right: CCMAS asks how far a unit's mean activation for its preferred class stands
# above its mean for the other classes, maximum informedness how well one threshold on the unit
# tells its best class from the rest, AUROC how well its activation ranks that class above the
# others; Hoyer and Gini both ask how unevenly an image's activity is spread over the units,
# Hoyer with a dependence on the number of units (which matters where widths differ, as in
# sections 5.8 and 5.12). The metrics chapter (section 4.1) shows where they part, among them
# CCMAS's dependence on the units' resting level.
