"""The 6.1 findings: every check on synthetic runs whose verdict is known.

Each check gets a world where its claim holds (every seed alike, so SE = 0), a world where one
part of it goes against the claim, and from these: 'inconclusive' (seeds 1 and 2 from the first
world, seed 3 from the second: the mean moves a third of the way and the SE spans it), 'one
seed' (the first world with seed 1 only) and 'not run' (the first world without a condition
the check needs). The frames have the shape ``summary.results`` returns.
"""
from __future__ import annotations

import functools
import math
from collections import namedtuple
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparsel import experiments, findings
from sparsel.experiments import BATCH_SIZES, LEARNING_RATES
from sparsel.findings import (FAILS, HOLDS, NOT_APPLICABLE, NOT_CHECKABLE, NOT_RUN, ONE_SEED, UNSURE, All, Any, Part,
                              judge)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (1, 2, 3)
EPOCHS = 4
SPARSITY_COLS, SELECTIVITY_COLS = ("sparsity", "gini"), ("selectivity_avg", "informedness", "auroc")
Cond = namedtuple("Cond", "name opt param value spec i")


def M(v, **kw):
    """Every metric column at ``v`` (so each metric alone gives the same verdict)."""
    return {**{m: v for m in SPARSITY_COLS + SELECTIVITY_COLS}, **kw}


def K(sp, sel, **kw):
    """Sparsity metrics at ``sp``, selectivity metrics at ``sel``."""
    return {**{m: sp for m in SPARSITY_COLS}, **{m: sel for m in SELECTIVITY_COLS}, **kw}


@functools.cache
def grid(exp):
    return tuple(Cond(c.condition, c.spec.optimizer, c.meta.get("param"), c.meta.get("value"), c.spec, i)
                 for i, c in enumerate(experiments.cells(exp, "full", seeds=(1,))))


def frame(exp, f, seeds=SEEDS, drop=None):
    """Runs of ``exp``: f(cond, seed, epoch, split, layer) -> metric values (defaults: accuracy
    0.9, loss 0.3, every metric 0.3). Baseline runs also have 'train_during' rows; hidden_layers
    runs one row per layer besides 'mean'."""
    splits = ("test", "train_during") if exp == "baseline" else ("test",)
    rows = []
    for c in grid(exp):
        if c.name == drop:
            continue
        layers = ["mean"] + ([str(k) for k in range(1, len(c.spec.hidden) + 1)] if exp == "hidden_layers" else [])
        for s in seeds:
            for e in range(EPOCHS + 1):
                for split in splits:
                    for layer in layers:
                        rows.append(dict(experiment=exp, condition=c.name, param=c.param, value=c.value,
                                         optimizer=c.opt, run_key=f"{c.name}|{s}", diverged=0, seed=s, epoch=e,
                                         epochs=EPOCHS, split=split, layer=layer,
                                         **{"accuracy": 0.9, "loss": 0.3, **M(0.3), **f(c, s, e, split, layer)}))
    return pd.DataFrame(rows)


def evidence(exps, f, seeds=SEEDS, drop=(None, None)):
    frames = {exp: frame(exp, f, seeds, drop[1] if drop[0] == exp else None) for exp in exps
              if not (drop[0] == exp and drop[1] is None)}
    return findings.Evidence("full", frames=frames)


def row(claim_id, ev, metrics=("sparsity", "selectivity_avg")):
    t = findings.checks(ev=ev, metrics=metrics, ids=[claim_id])
    return t.set_index("id").loc[claim_id]


# --- worlds: world(flip) -> f; flip=True turns one part of the claim against it --------------
def lr_index(v):
    return int(np.argmin([abs(math.log10(v) - math.log10(x)) for x in LEARNING_RATES]))


def bs_index(b):
    return BATCH_SIZES.index(b)


def w_epoch_tendency(flip):
    def f(c, s, e, split, layer):
        up = c.opt != "adagrad" and not (flip and c.opt == "adam")
        return M(0.2 + 0.05 * e if up else 0.6 - 0.05 * e)
    return f


def w_batch_changes_tendency(flip):
    def f(c, s, e, split, layer):
        if c.name == "sgd bs=1" and not flip:
            return M(0.5 - 0.05 * e)
        return M(0.2 + 0.05 * e)
    return f


def w_optimizer_responses(flip):
    def f(c, s, e, split, layer):
        j = bs_index(c.spec.batch_size)
        if c.opt == "sgd" or flip:
            return M(0.6 - 0.05 * j)
        return M(0.3 + 0.05 * j) if c.opt == "adagrad" else {}
    return f


def w_settles(flip):
    curve = [0.0, 0.025, 0.075, 0.175] if flip else [0.0, 0.1, 0.15, 0.175]  # steps grow / shrink

    def f(c, s, e, split, layer):
        return M(0.3 + curve[e - 1]) if c.name.startswith("sgd bs=1 ") and e >= 1 else {}
    return f


def w_train_test(flip):
    def f(c, s, e, split, layer):
        if split == "test" or e == 0:
            return {}
        return M(0.3 + 0.0125 * e) if flip and c.opt == "adam" else M(0.3 + 0.05 / e)
    return f


def w_together(flip, exceptions=True):
    def f(c, s, e, split, layer):
        if c.spec.hidden and len(c.spec.hidden) and "HL" in c.name:  # hidden_layers
            return K(0.2 + 0.05 * e, 0.6 - 0.05 * e if flip else 0.2 + 0.05 * e)
        if "width=" in c.name:
            if c.name == "adadelta bs=1 width=64" and exceptions:
                return K(0.2 + 0.05 * e, 0.6 - 0.05 * e)
            return K(0.2 + 0.05 * e, 0.2 + 0.05 * e)
        if not exceptions and c.name in ("adam beta2=0.7", "sgd momentum=0.999"):
            return K(0.5, 0.5) if c.name == "adam beta2=0.7" else K(0.2, 0.5)
        return {}
    return f


def w_accuracy_together(flip):
    def f(c, s, e, split, layer):
        if c.param == "batch_size":
            return M(0.5 - 0.05 * e if c.name == "sgd bs=1" else 0.2 + 0.05 * e, accuracy=0.5 + 0.1 * e)
        if c.value == "single" and c.param in ("diversity", "diversity_even"):  # uniform draw and even drain
            return M(0.5, accuracy=0.99 if flip else 0.85)
        if c.value == "original":
            return M(0.3, accuracy=0.95)
        return {}
    return f


def w_accuracy_unaffected(flip):
    def f(c, s, e, split, layer):
        if c.name == "adam HL1":
            return M(0.31, accuracy=0.981)
        if c.name == "adam HL5":
            return M(0.45, accuracy=0.90 if flip else 0.980)
        return {}
    return f


def w_cannot_predict(flip):
    def f(c, s, e, split, layer):
        acc = 0.95 + 0.001 * c.i + 0.0001 * e
        return M(acc if flip else 0.3, accuracy=acc)
    return f


def w_keeps_sparsity(flip):
    def f(c, s, e, split, layer):
        if c.name == "adagrad cnn":
            return M(0.05 if flip else 0.35, accuracy=0.11)
        if c.name == "adagrad mlp":
            return M(0.6, accuracy=0.97)
        return {}
    return f


def w_depth(flip):
    def f(c, s, e, split, layer):
        k = c.value
        return M(0.5 - 0.05 * k if flip and c.opt == "adam" else 0.2 + 0.05 * k)
    return f


def w_per_layer(flip):
    def f(c, s, e, split, layer):
        if layer == "mean":
            return {}
        k = int(layer)
        if c.opt in ("sgd", "adadelta"):
            return M(0.2 + 0.05 * k)
        if c.opt == "adagrad":
            return M(0.6 - 0.05 * k)
        return M(0.2 + 0.05 * k) if flip else M(0.3)
    return f


def w_weight_decay(flip):
    def f(c, s, e, split, layer):
        up = flip and c.opt == "adam"
        if c.param == "optimizer":  # the baseline run: no weight decay
            return M(0.1 if up else 0.5)
        if c.param == "weight_decay":
            return M(0.3 + (0.02 if up else -0.02) * math.log10(c.value))
        return {}
    return f


def w_lr(flip, offset=1):
    def f(c, s, e, split, layer):
        if c.param != "lr":
            return {}
        i = lr_index(c.value)
        peak = 7 + (5 if flip and c.opt == "adam" else offset)
        return M(0.5 - 0.01 * abs(i - peak), accuracy=0.9 - 0.01 * abs(i - 7))
    return f


def w_lr_two(flip):
    def f(c, s, e, split, layer):
        if c.param != "lr":
            return {}
        i = lr_index(c.value)
        sel_peak = 9 if c.opt == "sgd" and not flip else 8
        return K(0.5 - 0.01 * abs(i - 8), 0.5 - 0.01 * abs(i - sel_peak), accuracy=0.9 - 0.01 * abs(i - 7))
    return f


def w_past_gradient(flip, part="caveat"):
    def f(c, s, e, split, layer):
        if c.param not in ("momentum", "rho", "beta1", "beta2"):
            return {}
        if c.name == "sgd momentum=0.999":
            return M(0.8 if flip and part == "caveat" else 0.2, accuracy=0.8)
        if flip and part == "rise" and c.param == "beta2":
            return M(0.5 - 0.4 * c.value)
        return M(0.1 + 0.4 * c.value)
    return f


def w_batch_small(flip):
    def f(c, s, e, split, layer):
        if c.opt not in ("sgd", "adam"):
            return {}
        if flip and c.name == "adam bs=5":
            return M(0.7)
        return M(0.6 - 0.05 * bs_index(c.spec.batch_size))
    return f


def w_batch_optimum(flip):
    def f(c, s, e, split, layer):
        peak = {"adagrad": bs_index(200), "adadelta": bs_index(10 if flip else 50)}.get(c.opt)
        return M(0.6 - 0.05 * abs(bs_index(c.spec.batch_size) - peak)) if peak is not None else {}
    return f


def w_batch_momentum(flip):
    def f(c, s, e, split, layer):
        return {"sgd momentum=0.9": M(0.5), "sgd bs=1 + momentum=0.9": M(0.7 if flip else 0.3)}.get(c.name, {})
    return f


def w_width(flip):
    def f(c, s, e, split, layer):
        w, bs = c.value, c.spec.batch_size
        up, down = 0.2 + 0.0005 * w, 0.6 - 0.0005 * w
        if c.opt == "sgd":
            return M(down) if bs == 50 else K(up, down)
        return M(down if flip and c.opt == "adam" and bs == 1 else up)
    return f


def w_class_diversity(flip):
    x = dict(findings.DIVERSITY_X)

    def f(c, s, e, split, layer):
        if c.param == "diversity_even" and c.value == "single":  # the even drain costs accuracy too
            return dict(accuracy=0.86)
        if c.param != "diversity":
            return {}
        falls = c.opt in ("sgd", "adam") or (flip and c.opt == "adagrad")
        return M(0.7 - 0.04 * x[c.value] if falls else 0.3, accuracy=0.85 + 0.01 * x[c.value])
    return f


def w_cnn(flip, part=None):
    def f(c, s, e, split, layer):
        if c.opt == "sgd":  # the CNN harms SGD's accuracy
            return M(0.5 if flip and part == "harmed" else 0.1, accuracy=0.10) if c.value == "cnn" else M(0.3, accuracy=0.93)
        if c.value == "cnn":
            return M(0.2 if flip and part == "kept" and c.opt == "adam" else 0.4, accuracy=0.99)
        return M(0.3, accuracy=0.97)
    return f


def w_sorted(flip):
    def f(c, s, e, split, layer):
        if c.opt in ("sgd", "adam"):
            return M(0.5, accuracy=0.9) if c.value == "sorted" else M(0.3, accuracy=0.97)
        if c.value == "sorted":
            return M(0.4 if flip and c.opt == "adadelta" else 0.2)
        return M(0.3)
    return f


def w_combined(flip):
    def f(c, s, e, split, layer):
        return {"adam single + 768 units": M(0.3 if flip else 0.6, accuracy=0.98),
                "adam 768 units": M(0.4, accuracy=0.98), "adam single": M(0.45, accuracy=0.97),
                "sgd bs=1 + momentum=0.9": M(0.2, accuracy=0.9), "sgd bs=1": M(0.4, accuracy=0.97),
                "sgd momentum=0.9": M(0.45, accuracy=0.97)}.get(c.name, {})
    return f


def w_early_stopping(flip):
    def f(c, s, e, split, layer):
        if c.name != "sgd bs=1":
            return {}
        return M(0.2 + 0.05 * e if flip else 0.5 - 0.05 * e)
    return f


def w_fluctuation(flip):
    def f(c, s, e, split, layer):
        if c.opt != "sgd":
            return {}
        if c.param == "lr":
            a = lr_index(c.value) / 100
        elif c.param == "momentum":
            a = c.value / 10
        elif c.param == "batch_size":
            a = 0.1 / c.spec.batch_size
        else:
            return {}
        y = 1 - a if flip and c.param == "batch_size" else a
        return M(y, loss=0.5 + a * (-1) ** e)
    return f


def w_con_batch1(flip):
    def f(c, s, e, split, layer):
        if c.name == "adam con 10" and flip:
            return M(0.2)
        return M(0.3) if c.name.endswith("baseline") else M(0.5)
    return f


def w_con_adam_accuracy(flip):
    def f(c, s, e, split, layer):
        return {"adam baseline": dict(accuracy=0.98), "adam con 1": dict(accuracy=0.99 if flip else 0.97)}.get(c.name, {})
    return f


def w_con_no_gain(flip):
    def f(c, s, e, split, layer):  # a gain of 0.01 is beyond SAME_ACCURACY (0.005)
        return dict(accuracy=0.98 if flip and c.name == "sgd con 10" else 0.97)
    return f


def w_con_sgd_generalises(flip):
    def f(c, s, e, split, layer):
        if c.name == "sgd con 1":
            return dict(accuracy=0.985)
        return dict(accuracy=0.99 if flip and c.name == "adam con 5" else 0.97)
    return f


def w_con_sgd_best(flip):
    def f(c, s, e, split, layer):  # sgd con 5 is 0.01 above: "similar" (SIMILAR = 0.02)
        return {"sgd con 1": M(0.5), "sgd con 5": M(0.51), "adagrad con 1": M(0.6 if flip else 0.4)}.get(c.name, M(0.4))
    return f


def w_sgd_bs1000_worst(flip):
    def f(c, s, e, split, layer):
        if c.name == "sgd bs=1000":
            return M(0.1, accuracy=0.8)
        return M(0.05) if flip and c.name == "adam bs=5" else {}
    return f


def w_sgd_bs1_matches(flip):
    def f(c, s, e, split, layer):  # adam bs=5 is 0.01 above: "similar" (SIMILAR = 0.02)
        if c.opt == "sgd":
            return M(0.5) if c.name == "sgd bs=1" else {}
        return {"adam bs=5": M(0.51), "adagrad bs=200": M(0.6 if flip else 0.4)}.get(c.name, M(0.4))
    return f


def w_width_accuracy(flip):
    def f(c, s, e, split, layer):
        down = flip and c.opt == "adam" and c.spec.batch_size == 1
        return dict(accuracy=0.99 - 0.0001 * c.value if down else 0.9 + 0.0001 * c.value)
    return f


def w_cnn_accuracy(flip):
    def f(c, s, e, split, layer):
        if c.value == "mlp":
            return dict(accuracy=0.93)
        return dict(accuracy=0.9 if flip and c.opt == "adam" else 0.95)
    return f


def w_batch_over_classes(flip):
    def f(c, s, e, split, layer):
        if c.param != "fig5_15":
            return {}
        if c.value == "B":
            return M(0.1 if flip and c.opt == "adam" else 0.5)
        return M(0.3)
    return f


# The widened grids (findings.WIDER_CLAIMS): the dissertation's grid joined with wider_grids'
# cells. Each flip turns only the new cells against the claim, so a verdict that flips shows
# the check reads them (the original claim on the same runs is unchanged: see below).
def w_wider_width(flip):
    def f(c, s, e, split, layer):
        if c.param != "width":
            return {}
        if flip and c.name.startswith("adam bs=1 ") and c.value in experiments.WIDER_WIDTHS:
            return M(0.9 if c.value < 64 else 0.0)  # the trend reverses beyond the old grid
        return w_width(False)(c, s, e, split, layer)
    return f


def w_wider_width_accuracy(flip):
    def f(c, s, e, split, layer):
        if c.param != "width":
            return {}
        if flip and c.name.startswith("sgd bs=50 ") and c.value > 768:
            return dict(accuracy=0.5)
        return dict(accuracy=0.9 + 0.00004 * c.value)
    return f


def w_wider_depth(flip):
    def f(c, s, e, split, layer):
        if c.param != "layers":
            return {}
        return M(0.0 if flip and c.opt == "adam" and c.value > 5 else 0.2 + 0.05 * c.value)
    return f


def w_wider_batch_small(flip):
    def f(c, s, e, split, layer):
        if c.param != "batch_size" or c.opt not in ("sgd", "adam"):
            return {}
        if flip and c.name == "adam bs=2":
            return M(0.7)  # above batch 1
        return M(0.6 - 0.04 * findings.ALL_BATCHES.index(c.value))
    return f


def w_wider_batch_optimum(flip):
    def f(c, s, e, split, layer):
        peak = {"adagrad": 200, "adadelta": 50}.get(c.opt)
        if c.param != "batch_size" or peak is None:
            return {}
        if flip and c.name == "adadelta bs=20":
            return M(0.9)  # a new batch size above the claimed best
        i = findings.ALL_BATCHES.index
        return M(0.6 - 0.04 * abs(i(c.value) - i(peak)))
    return f


def w_wider_class_diversity(flip, new_only=False):
    """``new_only``: the flip raises Adam's 3 and 4 classes above 1 (rho -0.486 instead of -1,
    short of the claim's -0.5 but only just, so seeds mixed 2:1 would still clear: the verdict
    variants use the old claim's flip instead, Adagrad falling too)."""
    x = {**dict(findings.DIVERSITY_X), **experiments.WIDER_DIVERSITY}

    def f(c, s, e, split, layer):
        if c.param == "diversity_even" and c.value == "single":  # claim 18's accuracy cost, as above
            return dict(accuracy=0.86)
        if c.param != "diversity":
            return {}
        if flip and new_only and c.opt == "adam" and c.value in experiments.WIDER_DIVERSITY:
            return M(0.8 + 0.05 * (x[c.value] - 3))
        falls = c.opt in ("sgd", "adam") or (flip and not new_only and c.opt == "adagrad")
        return M(0.7 - 0.04 * x[c.value] if falls else 0.3, accuracy=0.85 + 0.01 * x[c.value])
    return f


# id -> (experiments, world, condition dropped for 'not run')
SCENARIOS = {
    "1": (("baseline",), w_epoch_tendency, ("baseline", "adam")),
    "2": (("batch_size",), w_batch_changes_tendency, ("batch_size", "sgd bs=1")),
    "3": (("batch_size",), w_optimizer_responses, ("batch_size", "adagrad bs=200")),
    "4": (("width",), w_settles, ("width", "sgd bs=1 width=768")),
    "5": (("baseline",), w_train_test, ("baseline", "sgd")),
    "6": (("hidden_layers", "width", "hyperparameters"), w_together, ("width", "adadelta bs=1 width=64")),
    "7a": (("batch_size", "class_diversity"), w_accuracy_together, ("batch_size", "adam bs=1")),
    "8": (("hidden_layers",), w_accuracy_unaffected, ("hidden_layers", "adam HL5")),
    "9": (("hidden_layers",), w_cannot_predict, ("hidden_layers", None)),
    "10a": (("cnn", "sorted"), w_keeps_sparsity, ("cnn", "adagrad cnn")),
    "11": (("hidden_layers",), w_depth, ("hidden_layers", "adadelta HL3")),
    "12": (("hidden_layers",), w_per_layer, ("hidden_layers", "adagrad HL4")),
    "13": (("baseline", "hyperparameters"), w_weight_decay, ("hyperparameters", "sgd weight_decay=0.01")),
    "14a": (("hyperparameters",), w_lr, ("hyperparameters", "adam lr=0.1")),
    "14b": (("hyperparameters",), w_lr_two, ("hyperparameters", "sgd lr=1e+03")),
    "15": (("hyperparameters",), w_past_gradient, ("hyperparameters", "adam beta2=0.5")),
    "16a": (("batch_size",), w_batch_small, ("batch_size", "adam bs=1000")),
    "16b": (("batch_size",), w_batch_optimum, ("batch_size", "adadelta bs=50")),
    "16c": (("combined",), w_batch_momentum, ("combined", "sgd momentum=0.9")),
    "17": (("width",), w_width, ("width", "sgd bs=50 width=384")),
    "18": (("class_diversity",), w_class_diversity, ("class_diversity", "adam pair")),
    "19a": (("cnn",), functools.partial(w_cnn, part="kept"), ("cnn", "adam mlp")),
    "19b": (("cnn",), functools.partial(w_cnn, part="harmed"), ("cnn", "sgd cnn")),
    "20": (("sorted",), w_sorted, ("sorted", "adam sorted")),
    "21": (("combined",), w_combined, ("combined", "adam single")),
    "22": (("batch_size",), w_early_stopping, ("batch_size", "sgd bs=1")),
    "23a": (("hyperparameters", "batch_size"), w_fluctuation, ("batch_size", "sgd bs=500")),
    # the sections' own conclusions (findings.SECTION_CLAIMS)
    "5.6a": (("batch_size",), w_sgd_bs1000_worst, ("batch_size", "adagrad bs=200")),
    "5.6b": (("batch_size",), w_sgd_bs1_matches, ("batch_size", "adadelta bs=50")),
    "5.7a": (("consecutive",), w_con_batch1, ("consecutive", "adam con 5")),
    "5.7b": (("consecutive",), w_con_adam_accuracy, ("consecutive", "adam con 1")),
    "5.7c": (("consecutive",), w_con_no_gain, ("consecutive", "sgd con 10")),
    "5.7d": (("consecutive",), w_con_sgd_generalises, ("consecutive", "adadelta con 5")),
    "5.7e": (("consecutive",), w_con_sgd_best, ("consecutive", "adam baseline")),
    "5.8a": (("width",), w_width_accuracy, ("width", "sgd bs=1 width=256")),
    "5.9b": (("class_diversity",), w_batch_over_classes, ("class_diversity", "sgd A: single bs=10")),
    "5.10a": (("cnn",), w_cnn_accuracy, ("cnn", "adadelta mlp")),
    # the dissertation's trends on the widened grids (findings.WIDER_CLAIMS)
    "11w": (("hidden_layers", "wider_grids"), w_wider_depth, ("wider_grids", "adam HL8")),
    "16aw": (("batch_size", "wider_grids"), w_wider_batch_small, ("wider_grids", "sgd bs=2000")),
    "16bw": (("batch_size", "wider_grids"), w_wider_batch_optimum, ("wider_grids", "adagrad bs=2000")),
    "17w": (("width", "wider_grids"), w_wider_width, ("wider_grids", "adam bs=1 width=2048")),
    "5.8aw": (("width", "wider_grids"), w_wider_width_accuracy, ("wider_grids", "sgd bs=1 width=16")),
    "18w": (("class_diversity", "wider_grids"), w_wider_class_diversity, ("wider_grids", "adam 3nums")),
}


def mixed(world):
    """Seeds 1 and 2 where the claim holds, seed 3 where a part goes against it."""
    good, bad = world(False), world(True)
    return lambda c, s, *rest: (bad if s == 3 else good)(c, s, *rest)


PROXIES = {"23a"}  # checks that read a stand-in for what the claim names (rule 6)

VARIANTS = {
    "holds": (lambda w: w(False), SEEDS, False, HOLDS),
    "does not hold": (lambda w: w(True), SEEDS, False, FAILS),
    "inconclusive": (mixed, SEEDS, False, UNSURE),
    "one seed": (lambda w: w(False), (1,), False, ONE_SEED),
    "not run": (lambda w: w(False), SEEDS, True, NOT_RUN),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("claim_id", SCENARIOS)
def test_every_check_gives_its_known_verdict(claim_id, variant):
    exps, world, drop = SCENARIOS[claim_id]
    make, seeds, dropped, expected = VARIANTS[variant]
    r = row(claim_id, evidence(exps, make(world), seeds, drop if dropped else (None, None)))
    if claim_id in PROXIES and expected in (HOLDS, FAILS):  # rule 6: a proxy only points
        assert r.verdict == UNSURE and f"proxy alone points to '{expected}'" in r.evidence, r.evidence
        return
    assert r.verdict == expected, f"{claim_id} {variant}: {r.verdict}\n{r.evidence}"
    if expected == ONE_SEED:  # a proxy's bare numbers still decide nothing (rule 6)
        lean = "point to 'inconclusive'" if claim_id in PROXIES else "point to 'holds'"
        assert lean in r.evidence and "n=1 (no SE)" in r.evidence
    if expected in (HOLDS, FAILS, UNSURE):
        assert "n=3" in r.evidence, r.evidence  # the numbers carry their n (and SE)
    if expected == NOT_RUN:
        assert "not run" in r.evidence and (drop[1] or drop[0]) in r.evidence, r.evidence


def test_a_diverged_condition_makes_the_check_not_run():
    def f(c, s, e, split, layer):
        return M(float("nan"), accuracy=float("nan"), loss=float("nan")) if c.name == "adam HL3" else w_depth(False)(
            c, s, e, split, layer)
    r = row("11", evidence(("hidden_layers",), f))
    assert r.verdict == NOT_RUN and "adam HL3 diverged" in r.evidence


def test_a_metric_the_runs_lack_is_not_run():
    """Spearman over an unrecorded metric is missing, not 'no trend'."""
    def f(c, s, e, split, layer):
        return {**w_accuracy_together(False)(c, s, e, split, layer), "informedness": float("nan")}
    r = row("7a", evidence(("batch_size", "class_diversity"), f), metrics=("informedness",))
    assert r.verdict == NOT_RUN, r.evidence


def test_a_missing_experiment_is_not_run():
    r = row("11", findings.Evidence("full", frames={}))
    assert r.verdict == NOT_RUN and "hidden_layers" in r.evidence


# --- the claims' own qualifiers --------------------------------------------------------------
@pytest.mark.parametrize("offset, expected", [(0, FAILS), (1, HOLDS), (2, HOLDS), (3, FAILS), (-1, FAILS)])
def test_slightly_above_means_one_or_two_grid_steps(offset, expected):
    """3 steps is the review's '52x above' (3.73^3); 0 is 'at the most accurate rate'."""
    r = row("14a", evidence(("hyperparameters",), w_lr(False, offset=offset)))
    assert r.verdict == expected, r.evidence


def test_the_learning_rate_peak_ignores_untrained_runs():
    """The dissertation's SGD: sparsity very high at lr >= 100 where the network is at chance."""
    def f(c, s, e, split, layer):
        if c.param == "lr" and lr_index(c.value) == 14:
            return M(0.99, accuracy=0.1)
        return w_lr(False)(c, s, e, split, layer)
    assert row("14a", evidence(("hyperparameters",), f)).verdict == HOLDS


def test_past_gradient_needs_the_rise_as_well_as_the_caveat():
    r = row("15", evidence(("hyperparameters",), w_past_gradient(True, part="rise")))
    assert r.verdict == FAILS and "adam beta2: rho -1.000" in r.evidence


def test_sparsity_and_selectivity_that_never_part_fail_the_exceptions():
    r = row("6", evidence(("hidden_layers", "width", "hyperparameters"), w_together(False, exceptions=False)))
    assert r.verdict == FAILS, r.evidence


def test_the_cnn_claim_counts_only_optimizers_that_keep_their_accuracy():
    ev = evidence(("cnn",), w_cnn(False))
    kept, harmed = row("19a", ev), row("19b", ev)
    assert "sgd harmed" in kept.evidence and "sgd cnn > mlp" not in kept.evidence
    assert "sgd cnn not above mlp" in harmed.evidence and "adam cnn not above" not in harmed.evidence

    def no_harm(c, s, e, split, layer):  # every CNN within 0.02 of its MLP
        return M(0.4, accuracy=0.96) if c.value == "cnn" else M(0.3, accuracy=0.97)
    r = row("19b", evidence(("cnn",), no_harm))
    assert r.verdict == UNSURE and "nothing tests" in r.evidence


def test_too_few_well_trained_points_is_inconclusive_not_run():
    def f(c, s, e, split, layer):
        return {"accuracy": 0.9 if c.name == "sgd HL1" else 0.2}
    r = row("9", evidence(("hidden_layers",), f))
    assert r.verdict == UNSURE and "fewer than 5" in r.evidence


# --- the rule ---------------------------------------------------------------------------------
def test_the_two_se_band():
    assert judge(Part("x", 0.1, 0.04, 3)) == HOLDS
    assert judge(Part("x", 0.1, 0.06, 3)) == UNSURE
    assert judge(Part("x", -0.1, 0.04, 3)) == FAILS
    assert judge(Part("x", 0.1, 0.0, 1)) == ONE_SEED
    assert judge(Part("x", 0.1, 0.0, 1), lean=True) == HOLDS
    assert judge(Part("x", why="not run (gone)")) == NOT_RUN


def test_all_and_any():
    h, f, u = Part("h", 1, 0, 3), Part("f", -1, 0, 3), Part("u", 0, 1, 3)
    one, gone = Part("o", 1, 0, 1), Part("g", why="not run")
    assert judge(All([h, h])) == HOLDS and judge(All([h, u])) == UNSURE and judge(All([h, u, f])) == FAILS
    assert judge(Any([f, h])) == HOLDS and judge(Any([f, u])) == UNSURE and judge(Any([f, f])) == FAILS
    assert judge(All([h, one])) == ONE_SEED and judge(Any([f, one])) == ONE_SEED
    assert judge(All([h, gone])) == NOT_RUN and judge(Any([h, gone])) == NOT_RUN


def test_the_rule_is_stated_once_in_the_module():
    text = findings.rule()
    for words in ("2 SE", "inconclusive (one seed)", "not run", "does not hold", "Spearman", "ddof=0"):
        assert words in text


# --- the table ------------------------------------------------------------------------------
def test_every_bullet_of_6_1_has_a_row_that_links_to_a_chapter():
    t = findings.checks(ev=findings.Evidence("full", frames={}))
    assert sorted(set(t.bullet)) == list(range(1, 24))
    assert {"claim", "section", "figure", "chapter", "test", "evidence", "verdict"} <= set(t.columns)
    assert t.id.is_unique
    for stems in t.chapter:
        for stem in stems.split(", "):
            assert (ROOT / "notebooks" / f"{stem}.py").exists(), stem
    unchecked = t[t.verdict == NOT_CHECKABLE]
    assert set(unchecked.id) == {"7b", "10b", "23b"} and (unchecked.evidence.str.len() > 20).all()
    checked = t[t.verdict != NOT_CHECKABLE]
    assert (checked.figure != "").all() and (checked.test.str.len() > 30).all()


def test_findings_never_decide_on_missing_data(tmp_path):
    """With an empty store every claim is 'not run' or 'not checkable', never a verdict
    (replaces the test of the same name that test_book.py had)."""
    from sparsel.store import Store
    t = findings.checks("smoke", Store(tmp_path / "empty.sqlite"))
    assert set(t.verdict) == {NOT_RUN, NOT_CHECKABLE}, t[["id", "verdict"]]


def test_by_metric_tests_each_metric_alone():
    exps, world, _ = SCENARIOS["17"]
    ev = evidence(exps + ("hidden_layers",), lambda *a: {**world(False)(*a)})
    t = findings.by_metric(ev=ev)
    assert list(t.columns) == list(findings.BY_METRIC)
    assert len(t) == len(findings.CLAIMS)
    width = t.loc[[i for i in t.index if i.startswith("17 ")][0]]
    assert (width == HOLDS).all(), width  # SGD at batch 1: sparsity up for Hoyer/Gini, selectivity down for the rest
    together = t.loc[[i for i in t.index if i.startswith("6 ")][0]]
    assert (together == NOT_APPLICABLE).all()  # relating sparsity to selectivity needs one of each


def test_every_claim_has_a_scenario_and_every_chapter_shows_its_claims():
    """Each claim (6.1 and the sections' own) is tested above; each chapter a claim names calls
    ``chapter_checks`` on itself, so its verdicts appear on its page."""
    checkable = {c.id for c in findings.EVERY_CLAIM if c.check is not None}
    assert checkable == set(SCENARIOS)
    for stem in {s for c in findings.EVERY_CLAIM for s in c.chapter.split(", ")}:
        assert f'findings.chapter_checks("{stem}"' in (ROOT / "notebooks" / f"{stem}.py").read_text(), stem


def test_chapter_checks_puts_each_verdict_on_its_own_claim():
    """A chapter's table: its section's claims, then the 6.1 bullets naming it, each row with
    its own verdicts (5.9b holds under every metric, 18 fails under every one)."""
    def f(c, s, e, split, layer):
        return {**w_class_diversity(True)(c, s, e, split, layer), **w_batch_over_classes(False)(c, s, e, split, layer)}
    ev = evidence(("class_diversity",), f)
    t = findings.chapter_checks("05_09_class_diversity", ev=ev)
    assert list(t.id) == ["5.9b", "7a", "18"]
    assert list(t.columns[:7]) == ["id", "claim", "section", "figure", "test", "evidence", "verdict"]
    assert list(t.columns[7:]) == list(findings.BY_METRIC)
    by_id = t.set_index("id")
    assert (by_id.loc["5.9b", ["verdict", *findings.BY_METRIC]] == HOLDS).all()
    assert (by_id.loc["18", ["verdict", *findings.BY_METRIC]] == FAILS).all()
    assert (by_id.loc["7a", ["verdict", *findings.BY_METRIC]] == NOT_RUN).all()  # batch_size not run
    assert "B > A" in by_id.loc["5.9b", "evidence"]
    html = findings.claims_view(t).to_html()
    assert "5.9b" in html and findings.COLOURS[HOLDS] in html and findings.COLOURS[FAILS] in html
    with pytest.raises(ValueError, match="no claim names chapter"):
        findings.chapter_checks("05_13_forgetting", ev=ev)


@pytest.mark.parametrize("wider,original", [("11w", "11"), ("16aw", "16a"), ("16bw", "16b"), ("17w", "17"),
                                             ("5.8aw", "5.8a"), ("18w", "18")])
def test_a_widened_claim_reads_the_new_cells_and_the_original_does_not(wider, original):
    """Where only the wider grid's cells go against a trend, the widened claim does not hold
    while the dissertation's claim, on the same runs, keeps its verdict on its own grid."""
    exps, world, _ = SCENARIOS[wider]
    world = functools.partial(world, new_only=True) if wider == "18w" else world
    new, old = world(True), world(False)
    wider_cells = set(grid("wider_grids"))

    def f(c, *rest):  # every flip above touches only the new cells
        return (new if c in wider_cells else old)(c, *rest)
    ev = evidence(tuple(dict.fromkeys(SCENARIOS[original][0] + exps)), f)
    assert row(wider, ev).verdict == FAILS, row(wider, ev).evidence
    assert row(original, ev).verdict == HOLDS, row(original, ev).evidence


@pytest.mark.parametrize("gain,expected", [(0.004, HOLDS), (0.006, FAILS)])
def test_one_sided_tolerance_of_does_not_help(gain, expected):
    """5.7c 'does not help accuracy': a gain of con 10 over con 1 inside SAME_ACCURACY (0.005)
    holds, one beyond it does not."""
    def f(c, s, e, split, layer):
        return dict(accuracy=0.97 + (gain if c.name == "sgd con 10" else 0.0))
    assert row("5.7c", evidence(("consecutive",), f)).verdict == expected


@pytest.mark.parametrize("below,expected", [(0.015, HOLDS), (0.025, FAILS)])
def test_one_sided_tolerance_of_better_or_similar(below, expected):
    """5.7e 'better than or similar to': another condition above SGD con 1 by less than
    SIMILAR (0.02) holds, by more does not."""
    def f(c, s, e, split, layer):
        return M(0.5 + below) if c.name == "adam con 10" else M(0.5 if c.name == "sgd con 1" else 0.4)
    assert row("5.7e", evidence(("consecutive",), f)).verdict == expected


# --- review fixes: tendency across epochs, association cut-off, controls, dead layers ---------
def test_a_tendency_across_epochs_is_last_minus_epoch_1():
    """Claim 1 in the words "begin with a low value and gradually increase": Adadelta's CCMAS in
    the full runs rises 0.345 -> 0.418 then drifts to 0.411. Its rank correlation over epochs
    1-4 here is 0.2 (ranks 1, 4, 3, 2: 1 - 6 * 8 / 60), yet it ends 0.066 above where it began."""
    def f(c, s, e, split, layer):
        if c.opt == "adadelta" and e >= 1:
            return M([0.345, 0.418, 0.415, 0.411][e - 1])
        return w_epoch_tendency(False)(c, s, e, split, layer)
    ev = evidence(("baseline",), f)
    assert findings.spearman([1, 2, 3, 4], [0.345, 0.418, 0.415, 0.411]) == pytest.approx(0.2)
    r = row("1", ev)
    assert r.verdict == HOLDS and "adadelta: last - epoch 1 +0.066" in r.evidence, r.evidence

    def g(c, s, e, split, layer):  # Adadelta ends below where it began: against the claim
        if c.opt == "adadelta" and e >= 1:
            return M([0.345, 0.418, 0.415, 0.340][e - 1])
        return w_epoch_tendency(False)(c, s, e, split, layer)
    assert row("1", evidence(("baseline",), g)).verdict == FAILS


@pytest.mark.parametrize("rhos,expected", [((0.02, 0.03, 0.04), FAILS), ((0.7, 0.8, 0.9), HOLDS),
                                           ((0.4, 0.5, 0.6), UNSURE)])
def test_a_rank_correlation_is_a_tendency_only_beyond_the_association_cut_off(rhos, expected):
    """ASSOCIATION = 0.5: mean 0.03 is 0.47 short (against), mean 0.8 is 0.3 beyond with SE
    0.0816 (z = 3.7, clears), mean 0.5 sits on it (z = 0, undecided)."""
    assert findings.ASSOCIATION == 0.5
    p = findings.assoc("together", pd.Series(rhos))
    assert judge(p) == expected
    assert p.d == pytest.approx(np.mean(rhos) - 0.5)


def test_a_weak_accuracy_metric_correlation_is_not_rising_together():
    """7a (a): accuracy rises every epoch while the metric rises only in the last one: the
    per-run rho is the correlation of ranks (1, 2, 3, 4) and (2, 2, 2, 4) = 0.775 (one run of
    each optimizer and batch size); with the metric flat but the last epoch (rho 0.775) the
    claim holds, with the metric falling after epoch 1 (ranks 4, 2, 2, 2: rho -0.775) it does not."""
    def f(flat_then_up):
        def g(c, s, e, split, layer):
            out = w_accuracy_together(False)(c, s, e, split, layer)
            if c.param == "batch_size" and e >= 1 and c.name != "sgd bs=1":
                v = ([0.3, 0.3, 0.3, 0.4] if flat_then_up else [0.4, 0.3, 0.3, 0.3])[e - 1]
                out = {**out, **M(v)}
            return out
        return g
    assert findings.spearman([1, 2, 3, 4], [0.3, 0.3, 0.3, 0.4]) == pytest.approx(0.7745967)
    exps = ("batch_size", "class_diversity")
    assert row("7a", evidence(exps, f(True))).verdict == HOLDS
    r = row("7a", evidence(exps, f(False)))
    assert r.verdict == FAILS and "(claim > 0.5)" in r.evidence, r.evidence


def test_the_cost_of_single_class_batches_is_judged_on_the_even_drain():
    """Claims 18 and 7a (c): the uniform draw loses 0.10 accuracy (0.95 -> 0.85) but the even
    drain, which keeps the single class per batch, loses none (0.951 > 0.95): the cost is the
    epoch's tail, not the class mix, so the accuracy part is against the claim and the
    uniform-draw difference is shown beside it."""
    def f(c, s, e, split, layer):
        if c.param == "diversity_even" and c.value == "single":
            return dict(accuracy=0.951)
        return w_class_diversity(False)(c, s, e, split, layer)
    r = row("18", evidence(("class_diversity",), f))
    assert r.verdict == FAILS, r.evidence
    assert "sgd original 0.950 vs sgd single (even) 0.951: -0.001" in r.evidence
    assert "uniform draw (the dissertation's runs, not judged): sgd original 0.950 vs sgd single 0.860" in r.evidence
    assert row("18", evidence(("class_diversity",), w_class_diversity(False))).verdict == HOLDS


def test_without_the_even_drain_the_cost_is_not_run():
    def f(c, s, e, split, layer):
        return w_class_diversity(False)(c, s, e, split, layer)
    r = row("18", evidence(("class_diversity",), f, drop=("class_diversity", "adam single (even)")))
    assert r.verdict == NOT_RUN and "adam single (even)" in r.evidence


def dead_cnn(c, s, e, split, layer):
    """10a/19b world: Adagrad's CNN collapses (accuracy 0.11) with every unit constant
    (dead_fraction 1); its Hoyer 0.39 and CCMAS ~0 are what the formulas give a frozen layer."""
    if c.name == "adagrad cnn":
        return {**M(0.39), "selectivity_avg": 1e-11, "accuracy": 0.11, "dead_fraction": 1.0}
    if c.name == "adagrad mlp":
        return M(0.6, accuracy=0.97, dead_fraction=0.0)
    return {"dead_fraction": 0.0}


def test_a_dead_layer_is_excluded_from_sparsity_evidence():
    """10a: without the dead-layer rule Adagrad's CNN would 'keep' 0.39 >= 0.5 x 0.6 of its
    MLP's sparsity. Excluded, it neither clears nor is against; Adadelta sorted (accuracy 0.9,
    no collapse) is against, so the 'any of' is undecided, and the evidence says why."""
    r = row("10a", evidence(("cnn", "sorted"), dead_cnn))
    assert r.verdict == UNSURE, r.evidence
    assert r.evidence.startswith("Excluded (rule 5): adagrad cnn dead") and "metric kept: excluded" in r.evidence

    def alive(c, s, e, split, layer):
        return {**dead_cnn(c, s, e, split, layer), "dead_fraction": 0.0}
    # the same numbers alive: Hoyer 0.39 "kept", and CCMAS 1e-11 against it under both metrics
    assert row("10a", evidence(("cnn", "sorted"), alive), metrics=("sparsity",)).verdict == HOLDS
    assert row("10a", evidence(("cnn", "sorted"), alive)).verdict == FAILS


def test_a_dead_harmed_cnn_leaves_19b_untested():
    r = row("19b", evidence(("cnn",), dead_cnn))
    assert r.verdict == UNSURE and "adagrad cnn dead" in r.evidence, r.evidence


def test_one_dead_seed_is_left_out_and_said():
    """A seed whose layer is dead drops out of the mean (n=2), the others decide."""
    def f(c, s, e, split, layer):
        out = dead_cnn(c, s, e, split, layer)
        return {**out, "dead_fraction": 1.0 if s == 3 else 0.0} if c.name == "adagrad cnn" else out
    r = row("10a", evidence(("cnn", "sorted"), f), metrics=("sparsity",))
    assert r.verdict == HOLDS and "adagrad cnn 0.390 (1 dead seed left out)" in r.evidence, r.evidence
    assert "n=2" in r.evidence


def test_a_dead_layer_leaves_the_grid_of_layers():
    """12: Adagrad's layer 4 dead in every seed (its sparsity 0.9 would turn the fall over layers
    1-3 into no trend); rho over layers 1-3 is -1 and the evidence names the layer left out."""
    def f(c, s, e, split, layer):
        out = w_per_layer(False)(c, s, e, split, layer)
        if c.name == "adagrad HL4" and layer == "4":
            return {**M(0.9), "dead_fraction": 1.0}
        return out
    r = row("12", evidence(("hidden_layers",), f))
    assert r.verdict == HOLDS and "adagrad HL4 left out (dead" in r.evidence, r.evidence


def test_a_check_the_metric_cannot_make_is_n_a_not_not_run():
    """6 on one metric; 5 on a metric the during-training capture never records."""
    ev = evidence(("hidden_layers", "width", "hyperparameters"), w_together(False))
    assert row("6", ev, metrics=("sparsity",)).verdict == NOT_APPLICABLE

    def f(c, s, e, split, layer):
        out = w_train_test(False)(c, s, e, split, layer)
        return {**out, "informedness": float("nan")} if split == "train_during" else out
    r = row("5", evidence(("baseline",), f), metrics=("informedness",))
    assert r.verdict == NOT_APPLICABLE and "records no informedness" in r.evidence


@pytest.mark.parametrize("d,se,shown", [(0.00123, 0.000585, "z = +2.10"), (0.001172, 0.000585, "z = +2.003"),
                                        (-0.003, 0.001, "z = -3.00"), (0.1, 0.0, "z = +inf"),
                                        (0.05, 6e-17, "z = +inf")])
def test_z_is_printed_so_the_verdict_can_be_checked(d, se, shown):
    """z = x / SE with two decimals, more when two would round onto the cut-off 2 (0.001172 /
    0.000585 = 2.0034); an SE of float rounding between identical seeds counts as none."""
    assert findings.zscore(d, se) == shown


def test_evidence_prints_each_parts_z():
    p = Part("x", 0.00123, 0.000585, 3, "a 0.00123 vs b 0")
    assert findings.describe(p) == "x: a 0.00123 vs b 0 [z = +2.10]" and judge(p) == HOLDS


def test_the_page_lists_every_cut_off_with_its_value():
    text = findings.rule()
    for name, (value, _) in findings.TOLERANCES.items():
        assert f"- `{name}` = {findings._shown(value)}: " in text
    assert "- `ASSOCIATION` = 0.5: " in text and "- `LR_STEPS` = 1 or 2: " in text
    assert "No fixed cut-off" not in text
    # and each test's text has the numbers, not the names
    assert "ASSOCIATION" not in findings._test_of(findings.c_depth) and "> 0.5 for" in findings._test_of(findings.c_depth)
