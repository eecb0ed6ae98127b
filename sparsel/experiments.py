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
        fields = dict(fields)
        n_epochs = epochs_at(scale, fields.pop("epochs", epochs))  # a row may set its own full-scale epochs
        for seed in seeds:
            spec = RunSpec(**{"epochs": n_epochs, **fields, "seed": seed,
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
    """5.9: single / pair / 5nums classes per batch vs shuffled; Fig 5.15's A vs B.

    The classes of a batch are drawn as the original drew them (order 'classes'); the
    "(even)" conditions draw them so the classes drain evenly ('classes_even'), to tell
    the class mix from the one-class tail the uniform draw leaves at the end of an epoch.
    """
    rows = []
    for o in OPTIMIZERS:
        rows += [(f"{o} {name}", dict(optimizer=o, order="classes", order_k=c), dict(param="diversity", value=name))
                 for name, c in DIVERSITY.items()]
        rows += [(f"{o} {name} (even)", dict(optimizer=o, order="classes_even", order_k=c),
                  dict(param="diversity_even", value=name)) for name, c in DIVERSITY.items()]
        rows.append((f"{o} original", dict(optimizer=o), dict(param="diversity", value="original")))
    for o in OPTIMIZERS:  # the original ran Fig 5.15's A and B for all four optimizers
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


# --- further work (chapter 6): grids the dissertation proposed but never ran -----------------

P_FAMILY = (0.0, 0.25, 0.5, 1.0)  # step = eta k G^p g / (sqrt(G) + eps); p = 2 is Eqs 6.1/6.2 themselves
K_ADAGRAD = (0.01, 1.0, 100.0)
# Adadelta's E[g^2] stays near 1e-4 (it is an average, not a sum), so its k is taken in units of
# 1e4^p: c = 1 makes k (E[g^2])^p about 1, and c = 0.1 / 10 bracket it.
K_ADADELTA_C = (0.1, 1.0, 10.0)
KNOBS = (0.1, 0.5, 0.9, 0.99, 0.999)  # past-gradient weight of the added standard optimizers
KNOB = {"rmsprop": "alpha", "nesterov": "momentum", "adamw": "beta1", "adamax": "beta1", "nadam": "beta1"}


def modified_optimizers(scale, seeds):
    """6.3.1: the modified Adagrad and Adadelta (Eqs 6.1, 6.2) and their p-family, batch 50, 30 epochs.

    The Adagrad family's effective rate is eta k G^(p - 1/2): p = 0 is Adagrad, p = 1/2 plain SGD
    at rate eta k (the SGD control, same maths), p > 1/2 a rate that grows as G accumulates.
    Eq 6.1 (p = 2) and Eq 6.2 are run as written, under their own names, at the same k.
    Meta: param 'p', value p; ``family``, ``k`` (and ``c`` for Adadelta: k = c 1e4^p).
    """
    rows = []
    for p in P_FAMILY + (2.0,):
        name = "adagrad_p" if p < 2 else "adagrad_mod"
        for k in K_ADAGRAD:
            fields = dict(optimizer=name, k=k) | (dict(p=p) if p < 2 else {})
            rows.append((f"{name} p={p:g} k={k:g}", fields, dict(param="p", value=p, family="adagrad", k=k)))
        name = "adadelta_p" if p < 2 else "adadelta_mod"
        for c in K_ADADELTA_C:
            k = c * 1e4 ** p
            fields = dict(optimizer=name, k=k) | (dict(p=p) if p < 2 else {})
            rows.append((f"{name} p={p:g} k={k:.3g}", fields, dict(param="p", value=p, family="adadelta", k=k, c=c)))
    return _grid("modified_optimizers", scale, seeds, 30, rows)


def more_optimizers(scale, seeds):
    """6.2: RMSprop, Nesterov SGD, AdamW, Adamax and NAdam at torch.optim's defaults and along
    their past-gradient knob (alpha / momentum / beta1), batch 50, 30 epochs: does "the more
    past gradient, the higher sparsity and selectivity" hold beyond the dissertation's four?"""
    return _grid("more_optimizers", scale, seeds, 30, [
        (f"{o} {knob}={v:g}", dict(optimizer=o, **{knob: v}), dict(param=knob, value=v, knob=knob))
        for o, knob in KNOB.items() for v in KNOBS])


VSGD_BATCHES = (10, 50, 200)


def vsgd(scale, seeds):
    """6.3.1: 'no more pesky learning rates' (Schaul, Zhang & LeCun 2013), the optimizer the
    dissertation wants analysed beside its modified Adagrad and Adadelta, 30 epochs: vSGD-b (one
    rate per layer) and the element-wise vSGD at batch sizes 10, 50 and 200, as the paper writes
    them; the element-wise rule as its authors' code runs it at batch 50
    (``optim.vsgd_authors_step``; also without its outlier test, and, at all three batch sizes,
    with the paper's slow start, to tell which departure matters); and their vSGD-fd
    (``optim.vsgd_fd_step``, curvature by finite differences) at batch 50, as is and slowed. No
    learning rate to set. The chapter sets them beside ``batch_size``'s runs of the four
    optimizers at the same batch sizes (reused). Batch 1 is left out: the per-sample statistics
    make a batch-1 step about twice SGD's, some 3 CPU hours a run here.
    Meta: param 'batch_size', value the batch size; ``variant`` 'layer', 'element', or "authors' code" with what
    was changed in it (e.g. "authors' code, finite differences")."""
    rows = [(f"vsgd_b bs={b}", dict(optimizer="vsgd_b", batch_size=b), dict(param="batch_size", value=b, variant="layer"))
            for b in VSGD_BATCHES]
    # the paper's element-wise rule; the authors' code, then with each of two of its departures
    # from the paper undone; their vSGD-fd (finite-difference curvature), as is and slowed
    variants = [("vsgd", "element", VSGD_BATCHES), ("vsgd_authors", "authors' code", (50,)),
                ("vsgd_authors_original", "authors' code, no outlier test", (50,)),
                ("vsgd_authors_slow", "authors' code, paper's slow start", VSGD_BATCHES),
                ("vsgd_fd", "authors' code, finite differences", (50,)),
                ("vsgd_fd_slow", "authors' code, finite differences, slow start", (50,))]
    rows += [(f"{o} bs={b}", dict(optimizer=o, batch_size=b), dict(param="batch_size", value=b, variant=v))
             for o, v, sizes in variants for b in sizes]
    return _grid("vsgd", scale, seeds, 30, rows)


WIDER_WIDTHS = (16, 32, 1024, 2048)
WIDER_DEPTHS = (6, 7, 8)
WIDER_BATCHES = (2, 20, 100, 2000)
WIDER_DIVERSITY = {"3nums": 3, "4nums": 4}


def wider_grids(scale, seeds):
    """6.2: the grids widened where the dissertation asked: widths 16, 32, 1,024, 2,048 (batch 1
    and 50), 6-8 hidden layers, batch sizes 2, 20, 100, 2,000, and 3 and 4 classes per batch (in batches of 48,
    which 3 and 4 divide). Only the new cells: the chapter joins them with ``width``, ``hidden_layers``, ``batch_size``
    and ``class_diversity``, whose runs are reused. Condition labels follow those experiments'.
    At smoke scale batch 2,000 is left out (the subset has 1,000 images)."""
    rows = []
    for o in OPTIMIZERS:
        rows += [(f"{o} bs={b} width={w}", dict(optimizer=o, batch_size=b, hidden=(w,)), dict(param="width", value=w))
                 for b in (1, 50) for w in WIDER_WIDTHS]
        rows += [(f"{o} HL{n}", dict(optimizer=o, hidden=(256,) * n, epochs=50), dict(param="layers", value=n))
                 for n in WIDER_DEPTHS]
        rows += [(f"{o} bs={b}", dict(optimizer=o, batch_size=b), dict(param="batch_size", value=b))
                 for b in WIDER_BATCHES if b <= (SCALES[scale]["train_size"] or b)]  # 2,000 > smoke's 1,000
        # 3 and 4 classes do not divide 50 images: batches of 48 (16 or 12 images per class)
        rows += [(f"{o} {name}", dict(optimizer=o, order="classes", order_k=c, batch_size=48),
                  dict(param="diversity", value=name)) for name, c in WIDER_DIVERSITY.items()]
    return _grid("wider_grids", scale, seeds, 30, rows)


SPLIT_SEEDS = {"full": (1, 2, 3), "smoke": (1,)}  # random 5/5 digit splits per seed


def forgetting(scale, seeds):
    """6.3.2: phase A on five random digits, phase B on the other five (5 + 5 epochs), each
    condition on ``SPLIT_SEEDS`` splits per seed; see ``sparsel.forgetting``.

    The literal protocol (one shared 10-way head) and a masked head (each task scored on its own
    five classes); the dissertation's pair, SGD at batch 1 vs 50, compared at equal epochs (equal
    images) and at equal phase-B updates (batch 1 stops B after as many updates as batch 50
    makes) and with phase A ended at a training-accuracy criterion; past-gradient settings,
    width, sorted data, and the optimizer's state carried into phase B vs reset. Every run ends
    with one epoch relearning S (phase C) for the relearning savings.
    Meta: param 'variant' (what the condition varies), value its label.
    """
    n_task = (SCALES[scale]["train_size"] or 60_000) // 2  # about half the images are S's
    eb = epochs_at(scale, 5)
    base = dict(protocol="forget", epochs=5, epochs_b=eb, carry_state=True, epochs_c=1)  # C: one epoch relearning S
    rows = []

    def add(label, variant, **fields):
        rows.append((label, {**base, **fields}, dict(param="variant", value=variant)))
    for head in ("shared", "masked"):
        for o in OPTIMIZERS:
            add(f"{o} {head}", "optimizer", optimizer=o, head=head)
        add(f"sgd bs=1 {head}", "batch 1", optimizer="sgd", batch_size=1, head=head)
        add(f"sgd bs=1 {head} equal updates", "batch 1, equal updates", optimizer="sgd", batch_size=1, head=head,
            steps_b=eb * -(-n_task // 50))
    for bs in (50, 1):
        add(f"sgd bs={bs} masked criterion 0.9", "A until 90% on S", optimizer="sgd", batch_size=bs, head="masked",
            criterion=0.9)
    add("sgd momentum=0.9 masked", "past gradient", optimizer="sgd", momentum=0.9, head="masked")
    add("adadelta rho=0.5 masked", "past gradient", optimizer="adadelta", rho=0.5, head="masked")
    add("adam beta1=0.5 masked", "past gradient", optimizer="adam", beta1=0.5, head="masked")
    for w in (64, 768):
        add(f"adam width={w} masked", "width", optimizer="adam", hidden=(w,), head="masked")
    for o in ("sgd", "adam"):
        add(f"{o} sorted masked", "sorted", optimizer=o, order="sorted", head="masked")
    for o in ("adagrad", "adam"):
        add(f"{o} masked reset", "state reset", optimizer=o, head="masked", carry_state=False)
    out = []
    for split in SPLIT_SEEDS[scale]:
        out += _grid("forgetting", scale, seeds, 5, [(c, {**f, "split_seed": split}, m) for c, f, m in rows])
    return out


# The campaign's order (issue 15): cheap and informative first; batch-size-1 runs come last;
# the further work of chapter 6 after the ten dissertation experiments.
CAMPAIGN_ORDER = ("baseline", "cnn", "combined", "class_diversity", "sorted", "hidden_layers",
                  "hyperparameters", "batch_size", "width", "consecutive",
                  "modified_optimizers", "more_optimizers", "forgetting", "vsgd", "wider_grids")

EXPERIMENTS = {
    "baseline": baseline, "hidden_layers": hidden_layers, "hyperparameters": hyperparameters,
    "batch_size": batch_size, "consecutive": consecutive, "width": width,
    "class_diversity": class_diversity, "cnn": cnn, "sorted": sorted_, "combined": combined,
    "modified_optimizers": modified_optimizers, "more_optimizers": more_optimizers, "wider_grids": wider_grids,
    "forgetting": forgetting, "vsgd": vsgd,
}
DISSERTATION = CAMPAIGN_ORDER[:10]  # the ten experiments of chapter 5
# Names that stand for several experiments on the command line (``--experiments dissertation``).
GROUPS = {"dissertation": DISSERTATION}


def expand(names) -> list[str]:
    """Experiment names with each ``GROUPS`` name replaced by its members, in order, each once;
    an unknown name raises ValueError listing the choices."""
    out = []
    for n in names:
        for m in GROUPS.get(n, (n,)):
            if m not in EXPERIMENTS:
                raise ValueError(f"unknown experiment {m!r}; choose from {', '.join([*GROUPS, *EXPERIMENTS])}")
            if m not in out:
                out.append(m)
    return out
# Experiments whose chapter also shows other experiments' runs (at the same scale): the book
# builds such a chapter at full scale only when those are complete too.
REUSES = {"wider_grids": ("width", "hidden_layers", "batch_size", "class_diversity"),
          "modified_optimizers": ("baseline",), "hyperparameters": ("baseline",), "vsgd": ("batch_size",)}


_FIELDS = ("condition", "key", *RunSpec.__dataclass_fields__)  # plus each cell's meta keys
_REL_TOL = 1e-3  # floats match within this, or when equal as condition labels print them (3 digits)


def _field(cell: Cell, key: str):
    """The value of filter field ``key`` in ``cell``: 'condition', a meta key, a RunSpec field or 'key'."""
    if key == "condition":
        return cell.condition
    if key in cell.meta:
        return cell.meta[key]
    if key in _FIELDS:
        return getattr(cell.spec, key)
    raise ValueError(f"cannot filter on {key!r}: valid fields are {', '.join(sorted({*_FIELDS, *cell.meta}))}")


def _hidden(value) -> tuple:
    """A hidden-layer filter value as layer widths: 256 -> (256,), '256x256' -> (256, 256)."""
    if isinstance(value, (tuple, list)):
        parts = list(value)
    elif isinstance(value, str):
        parts = value.strip().lower().split("x")
    else:
        parts = [value]
    try:
        widths = tuple(int(p) for p in parts)
        if widths and all(float(p) == w for p, w in zip(parts, widths)):
            return widths
    except (TypeError, ValueError):
        pass
    raise ValueError(f"hidden={value!r} is not a layer spec: give widths like 256, or 256x256 for two layers")


def _wanted(key: str, wanted) -> list:
    """A filter's values as a list of alternatives (a tuple is one value for 'hidden': its layers)."""
    if isinstance(wanted, (list, set, frozenset)) or (isinstance(wanted, tuple) and key != "hidden"):
        wanted = list(wanted)
    else:
        wanted = [wanted]
    if key == "hidden":
        return [_hidden(w) for w in wanted]
    return [w.strip() if isinstance(w, str) else w for w in wanted]


def _same(have, want) -> bool:
    """Whether a cell's value ``have`` is the filter value ``want``; floats within _REL_TOL."""
    if isinstance(have, tuple):  # hidden
        return have == want
    num = lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool)  # noqa: E731
    if num(have) and num(want):
        if have == want:
            return True
        if isinstance(have, (int, np.integer)) and isinstance(want, (int, np.integer)):  # 1001 is not 1000
            return False
        return math.isclose(have, want, rel_tol=_REL_TOL) or f"{have:.3g}" == f"{want:.3g}"
    return have == want or str(have) == str(want)


def _show(value) -> str:
    """A filter value as one types it after ``--only field=``."""
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.3g}"
    return str(value)


def _order(value):
    """Sort key for mixed filter values: None, numbers, layer specs, then strings."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, tuple):
        return (2, len(value), value)
    return (3, str(value))


def _check_only(name: str, grid: list, key: str, wanted: list):
    """Raise ValueError unless every value of filter ``key`` matches some cell of ``grid``."""
    meta = {k for c in grid for k in c.meta}
    if key not in _FIELDS and key not in meta:
        raise ValueError(f"cannot filter on {key!r}: valid fields are {', '.join(sorted({*_FIELDS, *meta}))}")
    have = [_field(c, key) for c in grid if key in _FIELDS or key in c.meta]
    for w in wanted:
        if not any(_same(h, w) for h in have):
            values = sorted(set(have), key=_order)
            shown = list(dict.fromkeys(_show(v) for v in values))
            if len(shown) > 60:
                shown = shown[:60] + [f"... ({len(shown)} in all)"]
            raise ValueError(f"filter {key}={_show(w)} matches no run of {name!r}; its {key} values are: "
                             f"{', '.join(shown) or '(none)'}")


def _matches(cell: Cell, key: str, wanted) -> bool:
    """Whether ``cell`` passes filter ``key``: its value is one of ``wanted`` (see ``_same``)."""
    if key not in _FIELDS and key not in cell.meta:
        return False  # a meta key of other cells (validated in ``cells``)
    have = _field(cell, key)
    return any(_same(have, w) for w in _wanted(key, wanted))


def cells(name: str, scale: str = "smoke", seeds=None, **only) -> list[Cell]:
    """The runs of experiment ``name`` (or 'all') at ``scale``, narrowed by ``only``.

    ``only``: field=value or field=[values] on spec fields, 'condition', 'key' or meta keys,
    e.g. ``cells('batch_size', 'full', optimizer='sgd', batch_size=[1, 50])``. A list means
    any of its values; several fields must all hold. Floats match within a relative 1e-3 or
    as printed in condition labels (``lr=0.000139``). ``hidden``: 256, '256x256' or (256, 256)
    is one layer spec, [64, 128] is two one-layer specs. An unknown field, or a value that
    no run of the experiment has, raises ValueError listing what exists. ``seeds``: None for
    the scale's, else distinct non-negative integers.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    names = list(EXPERIMENTS) if name == "all" else [name]
    for n in names:
        if n not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {n!r}; choose one of all, {', '.join(EXPERIMENTS)}")
    seeds = SCALES[scale]["seeds"] if seeds is None else _check_seeds(seeds)
    grid = out = [c for n in names for c in EXPERIMENTS[n](scale, seeds)]
    for key, wanted in only.items():
        wanted = _wanted(key, wanted)
        _check_only(name, grid, key, wanted)
        out = [c for c in out if _matches(c, key, wanted)]
    return out


def _check_seeds(seeds) -> tuple:
    """``seeds`` as a tuple of distinct non-negative ints, else ValueError naming the bad one."""
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds: give at least one seed, e.g. 1,100,1234 (or none for the scale's)")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seeds: {s!r} is not an integer")
        if s < 0:
            raise ValueError(f"seeds: {s} is negative; seeds are integers >= 0")
        if s in seeds[:i]:
            raise ValueError(f"seeds: {s} is given twice; each seed once")
    return tuple(int(s) for s in seeds)


def parse_only(items) -> dict:
    """CLI filters: ['optimizer=sgd,adam', 'batch_size=1'] -> {'optimizer': ['sgd', 'adam'], 'batch_size': [1]}.

    Spaces around fields and values are ignored. ``hidden=256x256`` is one two-layer spec,
    ``hidden=64,128`` two one-layer specs (64 or 128). Each field once; no empty values.
    """
    out = {}
    for item in items or ():
        key, eq, vals = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"--only takes FIELD=VALUE[,VALUE...], e.g. optimizer=sgd,adam; got {item!r}")
        if key in out:
            raise ValueError(f"--only {key} is given twice; list its values once: {key}=A,B")
        parsed = []
        for v in vals.split(","):
            v = v.strip()
            if not v:
                raise ValueError(f"--only {item!r} has an empty value; write {key}=VALUE[,VALUE...]")
            if key == "hidden":
                parsed.append(_hidden(v))
                continue
            try:
                parsed.append(int(v))
            except ValueError:
                try:
                    parsed.append(float(v))
                except ValueError:
                    parsed.append(v)
        out[key] = parsed
    return out
