"""The experiment registry: one named grid of runs per dissertation section.

``cells(name, scale)`` lists an experiment's runs as ``Cell(experiment, condition, spec,
meta)``; ``meta`` holds the varied quantity (``param``, ``value``) for plots. Full scale is
the dissertation's settings (its epochs, seeds 1/100/1234, all of MNIST); smoke scale is
the same grid on a stratified 1,000/500-image subset, a tenth of the epochs (at least 2)
and one seed, so the whole registry runs on a laptop in minutes.
"""
from __future__ import annotations

import math

import numpy as np

from .optim import OPTIMIZERS
from .spec import Cell, RunSpec

SCALES = {
    "full": dict(train_size=None, test_size=None, seeds=(1, 100, 1234)),
    "smoke": dict(train_size=1000, test_size=500, seeds=(1,)),
}
MOMENTA = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.999)   # momentum and rho (Table 5.4)
BETAS = (0.0001, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.999)  # beta1 and beta2
LEARNING_RATES = tuple(float(v) for v in np.logspace(-5, 3, 15))
WEIGHT_DECAYS = tuple(float(v) for v in np.logspace(-5, 1, 11))
BATCH_SIZES = (1, 5, 10, 50, 200, 500, 1000)
WIDTHS = (64, 128, 256, 384, 512, 640, 768)
DIVERSITY = {"single": 1, "pair": 2, "5nums": 5}


def epochs_at(scale: str, full_epochs: int) -> int:
    """Epochs of an experiment at ``scale``: as the dissertation at full, a tenth (>= 2) at smoke."""
    return full_epochs if scale == "full" else max(2, math.ceil(full_epochs / 10))


def _grid(name, scale, seeds, epochs, rows):
    """Expand (condition, spec fields, meta) rows over seeds into Cells."""
    sc = SCALES[scale]
    out = []
    for condition, fields, meta in rows:
        for seed in seeds:
            spec = RunSpec(**{"epochs": epochs_at(scale, epochs), **fields, "seed": seed,
                              "train_size": sc["train_size"], "test_size": sc["test_size"]})
            out.append(Cell(name, condition, spec, dict(meta)))
    return out


def baseline(scale, seeds):
    """5.1-5.3: Table 5.1's four optimizers, batch 50, 30 epochs."""
    return _grid("baseline", scale, seeds, 30,
                 [(o, dict(optimizer=o), dict(param="optimizer", value=o)) for o in OPTIMIZERS])


def hidden_layers(scale, seeds):
    """5.4: 1-5 hidden layers of 256 units, 50 epochs, all four optimizers."""
    return _grid("hidden_layers", scale, seeds, 50, [
        (f"{o} HL{n}", dict(optimizer=o, hidden=(256,) * n), dict(param="layers", value=n))
        for o in OPTIMIZERS for n in range(1, 6)])


def hyperparameters(scale, seeds):
    """5.5: Table 5.4's grids (lr, weight decay for all; momentum, rho, beta1, beta2)."""
    rows = []
    for o in OPTIMIZERS:
        rows += [(f"{o} lr={v:.3g}", dict(optimizer=o, lr=v), dict(param="lr", value=v)) for v in LEARNING_RATES]
        rows += [(f"{o} weight_decay={v:.3g}", dict(optimizer=o, weight_decay=v),
                  dict(param="weight_decay", value=v)) for v in WEIGHT_DECAYS]
    rows += [(f"sgd momentum={v:g}", dict(optimizer="sgd", momentum=v), dict(param="momentum", value=v)) for v in MOMENTA]
    rows += [(f"adadelta rho={v:g}", dict(optimizer="adadelta", rho=v), dict(param="rho", value=v)) for v in MOMENTA]
    rows += [(f"adam beta1={v:g}", dict(optimizer="adam", beta1=v, beta2=0.999), dict(param="beta1", value=v)) for v in BETAS]
    rows += [(f"adam beta2={v:g}", dict(optimizer="adam", beta1=0.9, beta2=v), dict(param="beta2", value=v)) for v in BETAS]
    return _grid("hyperparameters", scale, seeds, 30, rows)


def batch_size(scale, seeds):
    """5.6: batch sizes 1-1000, baseline learning rates (not rescaled)."""
    return _grid("batch_size", scale, seeds, 30, [
        (f"{o} bs={b}", dict(optimizer=o, batch_size=b), dict(param="batch_size", value=b))
        for o in OPTIMIZERS for b in BATCH_SIZES])


def consecutive(scale, seeds):
    """5.7: batch 1 with k consecutive same-class images (con 1 = shuffled), vs the baseline."""
    rows = []
    for o in OPTIMIZERS:
        rows.append((f"{o} baseline", dict(optimizer=o), dict(param="con", value="baseline")))
        rows.append((f"{o} con 1", dict(optimizer=o, batch_size=1), dict(param="con", value="con 1")))
        rows += [(f"{o} con {k}", dict(optimizer=o, batch_size=1, order="consecutive", order_k=k),
                  dict(param="con", value=f"con {k}")) for k in (5, 10)]
    return _grid("consecutive", scale, seeds, 30, rows)


def width(scale, seeds):
    """5.8: one hidden layer of 64-768 units, at batch 1 and 50."""
    return _grid("width", scale, seeds, 30, [
        (f"{o} bs={b} width={w}", dict(optimizer=o, batch_size=b, hidden=(w,)), dict(param="width", value=w))
        for o in OPTIMIZERS for b in (1, 50) for w in WIDTHS])


def class_diversity(scale, seeds):
    """5.9: single / pair / 5nums classes per batch vs shuffled; Fig 5.15's A vs B."""
    rows = []
    for o in OPTIMIZERS:
        rows += [(f"{o} {name}", dict(optimizer=o, order="classes", order_k=c), dict(param="diversity", value=name))
                 for name, c in DIVERSITY.items()]
        rows.append((f"{o} original", dict(optimizer=o), dict(param="diversity", value="original")))
    for o in ("sgd", "adam"):
        rows.append((f"{o} A: single bs=10", dict(optimizer=o, batch_size=10, order="classes", order_k=1),
                     dict(param="fig5_15", value="A")))
        rows.append((f"{o} B: con 10 bs=1", dict(optimizer=o, batch_size=1, order="consecutive", order_k=10),
                     dict(param="fig5_15", value="B")))
    return _grid("class_diversity", scale, seeds, 30, rows)


def cnn(scale, seeds):
    """5.10: the conv network vs the baseline MLP, 5 epochs."""
    return _grid("cnn", scale, seeds, 5, [
        (f"{o} {m}", dict(optimizer=o, model=m), dict(param="model", value=m))
        for o in OPTIMIZERS for m in ("mlp", "cnn")])


def sorted_(scale, seeds):
    """5.11: training images sorted by class (same order each epoch) vs shuffled, 100 epochs."""
    return _grid("sorted", scale, seeds, 100, [
        (f"{o} {name}", dict(optimizer=o, order=order), dict(param="order", value=name))
        for o in OPTIMIZERS for name, order in (("unsorted", "shuffled"), ("sorted", "sorted"))])


def combined(scale, seeds):
    """5.12: SGD batch 1 + momentum 0.9; Adam single-class batches + 768 units; their parts."""
    rows = [
        ("sgd baseline", dict(optimizer="sgd"), dict(param="combined", value="baseline")),
        ("sgd bs=1", dict(optimizer="sgd", batch_size=1), dict(param="combined", value="part A")),
        ("sgd momentum=0.9", dict(optimizer="sgd", momentum=0.9), dict(param="combined", value="part B")),
        ("sgd bs=1 + momentum=0.9", dict(optimizer="sgd", batch_size=1, momentum=0.9), dict(param="combined", value="combined")),
        ("adam baseline", dict(optimizer="adam"), dict(param="combined", value="baseline")),
        ("adam 768 units", dict(optimizer="adam", hidden=(768,)), dict(param="combined", value="part A")),
        ("adam single", dict(optimizer="adam", order="classes", order_k=1), dict(param="combined", value="part B")),
        ("adam single + 768 units", dict(optimizer="adam", order="classes", order_k=1, hidden=(768,)),
         dict(param="combined", value="combined")),
    ]
    return _grid("combined", scale, seeds, 30, rows)


EXPERIMENTS = {
    "baseline": baseline, "hidden_layers": hidden_layers, "hyperparameters": hyperparameters,
    "batch_size": batch_size, "consecutive": consecutive, "width": width,
    "class_diversity": class_diversity, "cnn": cnn, "sorted": sorted_, "combined": combined,
}


def _matches(cell: Cell, key: str, wanted) -> bool:
    if key == "condition":
        have = cell.condition
    elif key in cell.meta:
        have = cell.meta[key]
    elif hasattr(cell.spec, key):
        have = getattr(cell.spec, key)
    else:
        raise ValueError(f"cannot filter on {key!r}: not a RunSpec field, 'condition' or a meta key")
    wanted = wanted if isinstance(wanted, (list, tuple, set)) and key != "hidden" else [wanted]
    if key == "hidden":
        return tuple(have) in {tuple(w) if isinstance(w, (list, tuple)) else (int(w),) for w in wanted}
    return any(have == w or str(have) == str(w) for w in wanted)


def cells(name: str, scale: str = "smoke", seeds=None, **only) -> list[Cell]:
    """The runs of experiment ``name`` (or 'all') at ``scale``, narrowed by ``only``.

    ``only``: field=value or field=[values] on spec fields, 'condition' or meta keys,
    e.g. ``cells('batch_size', 'full', optimizer='sgd', batch_size=[1, 50])``.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    names = list(EXPERIMENTS) if name == "all" else [name]
    for n in names:
        if n not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {n!r}; choose one of all, {', '.join(EXPERIMENTS)}")
    seeds = tuple(seeds) if seeds else SCALES[scale]["seeds"]
    out = [c for n in names for c in EXPERIMENTS[n](scale, seeds)]
    for key, wanted in only.items():
        out = [c for c in out if _matches(c, key, wanted)]
    return out


def parse_only(items) -> dict:
    """CLI filters: ['optimizer=sgd,adam', 'batch_size=1'] -> {'optimizer': ['sgd', 'adam'], 'batch_size': [1]}."""
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--only takes FIELD=VALUE[,VALUE...]; got {item!r}")
        key, vals = item.split("=", 1)
        parsed = []
        for v in vals.split(","):
            try:
                parsed.append(int(v))
            except ValueError:
                try:
                    parsed.append(float(v))
                except ValueError:
                    parsed.append(v)
        out[key.strip()] = parsed
    return out
