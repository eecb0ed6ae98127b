"""Sparsity and selectivity of hidden activations: the dissertation's two metrics and the others.

The dissertation measures Hoyer sparsity (Eq. 4.1, per sample) and CCMAS class selectivity
(Eq. 4.2, per unit). Both have known biases (section 6.2 and 6.3.5 list this as a limit), so
every run also records:

* population sparsity per sample (over the units of a layer): the Gini index, which meets all
  six of Hurley & Rickard's criteria (Hoyer fails "cloning": it depends on the number of
  units), the Treves-Rolls ratio ``a`` and the fraction of active units;
* lifetime sparsity per unit (over samples, Willmore & Tolhurst 2001): Gini and kurtosis;
  and the fraction of dead units (constant over the evaluated images);
* selectivity per unit: maximum informedness and AUROC (signal-detection measures, invariant
  to any monotone transform of the activations, preferred by Gale et al. 2020), precision@100
  (Zhou et al. 2015) and Bowers' localist margin.

Every function takes activations of shape (samples, units). Undefined cases are NaN, never 0:
a silent sample (all activations 0) has no Hoyer, Gini or Treves-Rolls value; a one-unit layer
has no Hoyer sparsity; a constant unit has no kurtosis. Layer summaries return NaN for every
value if any activation is non-finite, so a diverged run can never pass for a sparse one.

Internally each metric is written over the last two dimensions, so the engine evaluates a
whole stack of runs ([runs, samples, units]) in one call (``layer_metrics``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

CCMAS_EPS = 1e-7        # the text's eps (section 4.1.2)
ACTIVE_THRESHOLD = 0.5  # a sigmoid unit is "active" above half its range (0, 1)
DEAD_TOL = 1e-6         # a unit whose activation varies by no more than this is dead
PRECISION_K = 100       # Zhou et al. (2015) look at each unit's top 100 images

# Per-sample metrics: recorded as mean and sample std (ddof 1) over samples; they also stream,
# so the during-training pass records them. Per-unit metrics: mean and population std (ddof 0)
# over units, as the dissertation's selectivity_std.
SAMPLE_METRICS = {"sparsity": "Hoyer", "gini": "Gini index", "treves_rolls": "Treves-Rolls a",
                  "active_fraction": "fraction of active units"}
UNIT_METRICS = {"selectivity": "CCMAS", "lifetime_gini": "lifetime Gini",
                "lifetime_kurtosis": "lifetime kurtosis", "informedness": "maximum informedness",
                "auroc": "AUROC of the preferred class", "precision100": "precision@100",
                "localist_margin": "localist margin"}


def summary_fields() -> tuple:
    """Names of every value a layer summary holds, in a stable order.

    ``sparsity``/``sparsity_std`` and ``selectivity_avg``/``selectivity_std`` keep the names
    the dissertation's tables use; the others are ``<metric>`` and ``<metric>_std``.
    """
    out = []
    for m in SAMPLE_METRICS:
        out += [m, f"{m}_std"]
    for m in UNIT_METRICS:
        out += ["selectivity_avg", "selectivity_std"] if m == "selectivity" else [m, f"{m}_std"]
    return tuple(out + ["dead_fraction", "localist_fraction"])


FIELDS = summary_fields()
STREAM_FIELDS = ("sparsity", "sparsity_std", "gini", "gini_std", "treves_rolls", "treves_rolls_std",
                 "active_fraction", "active_fraction_std", "selectivity_avg", "selectivity_std")
NAN_SUMMARY = dict.fromkeys(FIELDS, math.nan)


# --- checks --------------------------------------------------------------------------
def _check_acts(acts: torch.Tensor) -> None:
    if not torch.is_tensor(acts) or acts.dim() != 2:
        shape = tuple(acts.shape) if torch.is_tensor(acts) else type(acts).__name__
        raise ValueError(f"activations must be a 2-D tensor (samples, units); got {shape}. "
                         "Flatten conv feature maps first.")
    if acts.shape[0] == 0 or acts.shape[1] == 0:
        raise ValueError(f"activations of shape {tuple(acts.shape)} are empty")


def _check_labels(acts, labels, num_classes):
    _check_acts(acts)
    if not torch.is_tensor(labels) or labels.dim() != 1 or labels.dtype.is_floating_point:
        raise ValueError("labels must be a 1-D integer tensor of class indices")
    if labels.shape[0] != acts.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {acts.shape[0]} samples: one label per row of acts")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got {int(labels.min())}..{int(labels.max())}")


def _class_counts(labels, num_classes):
    """Images per class; a selectivity measure needs two classes present (with one, a unit has
    nothing to be selective against: informedness would read 0 and precision@k 1)."""
    counts = torch.bincount(labels, minlength=num_classes)
    present = int((counts > 0).sum())
    if present < 2:
        raise ValueError(f"selectivity needs at least two classes among the labels; found {present}")
    return counts


def _float(acts):
    return acts if acts.dtype == torch.float64 else acts.float()


def _nan_where(bad, x):
    return torch.where(bad, torch.full_like(x, math.nan), x)


# --- population sparsity, per sample (reduce over units, the last dimension) ---------
def _hoyer(a):
    n = a.shape[-1]
    l1 = a.abs().sum(-1)
    l2 = a.pow(2).sum(-1).sqrt()
    if n == 1:
        return torch.full_like(l1, math.nan)
    root = math.sqrt(n)
    return _nan_where(l2 == 0, (root - l1 / l2) / (root - 1))


def _gini_sorted(s):
    """Gini of magnitudes already sorted ascending along the last dimension."""
    n = s.shape[-1]
    l1 = s.sum(-1)
    k = torch.arange(1, n + 1, dtype=s.dtype, device=s.device)
    # sum_k (s_k / l1) (n - k + 1/2) / n, as one matrix-vector product (one pass, BLAS)
    g = 1 - 2 * (s @ ((n - k + 0.5) / n)) / l1
    return _nan_where(l1 == 0, g)


def _gini(a, raw=None):
    """Gini of each row of ``a``. ``raw``: the same values in a narrower dtype (float32
    activations of which ``a`` is the float64 copy): sorted there, which is faster and gives
    exactly the same sorted values once widened."""
    x = (a if raw is None else raw).abs()
    return _gini_sorted(_sort_last(x).to(a.dtype))


@torch.library.custom_op("sparsel::sort_last", mutates_args=())
def _sort_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` sorted ascending along its last dimension. On a CPU numpy sorts 10-20x faster than
    torch.sort (and than argsort + gather): the same values in the same order, so the same Gini.
    An opaque op, so a compiled step calls it without breaking its graph."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.detach().contiguous().numpy(), axis=-1))
    return x.sort(dim=-1).values


@_sort_last.register_fake
def _(x):
    return torch.empty_like(x)


def _treves_rolls(a):
    m1 = a.mean(-1)
    m2 = a.pow(2).mean(-1)
    return _nan_where(m2 == 0, m1 * m1 / m2)


def _active(a, threshold=ACTIVE_THRESHOLD):
    return (a > threshold).to(a.dtype).mean(-1)


def hoyer_sparsity(acts: torch.Tensor) -> torch.Tensor:
    """Hoyer sparsity per sample, Eq. 4.1: ``(sqrt(N) - L1/L2) / (sqrt(N) - 1)``.

    ``acts``: [samples, N] non-negative activations. Returns [samples] in [0, 1]
    (1 = one active unit, 0 = all equal); NaN for a silent sample or N = 1.
    Scale-invariant, but not invariant to cloning: at a fixed activation distribution it
    changes with N (see ``treves_rolls``).
    """
    _check_acts(acts)
    return _hoyer(_float(acts))


def gini_index(acts: torch.Tensor) -> torch.Tensor:
    """Gini index per sample (Hurley & Rickard 2009, Eq. 16).

    With the magnitudes sorted ascending, ``c_(1) <= ... <= c_(N)``:
    ``G = 1 - 2 * sum_k c_(k) / ||c||_1 * (N - k + 1/2) / N``. Returns [samples] in
    [0, 1 - 1/N]: 0 when all units are equal, 1 - 1/N with one active unit. Meets all six
    of their criteria (Robin Hood, scaling, rising tide, cloning, Bill Gates, babies; see
    ``sparsity_criteria``), which Hoyer does not (it fails cloning). NaN for a silent sample.
    """
    _check_acts(acts)
    return _gini(_float(acts))


def treves_rolls(acts: torch.Tensor) -> torch.Tensor:
    """Treves-Rolls activity ratio per sample, ``a = mean(r)^2 / mean(r^2)`` (Treves & Rolls 1991).

    Returns [samples] in [1/N, 1]: 1 when all units are equal (dense), 1/N with one active
    unit, so lower is sparser. For non-negative activations Hoyer is a monotone transform of
    it: ``H = (1 - sqrt(a)) / (1 - 1/sqrt(N))``, which is how Hoyer's width dependence arises.
    NaN for a silent sample.
    """
    _check_acts(acts)
    return _treves_rolls(_float(acts))


def active_fraction(acts: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> torch.Tensor:
    """Fraction of units above ``threshold`` per sample (default 0.5: half a sigmoid's range).

    Returns [samples] in [0, 1]; lower is sparser. Depends on the threshold and on an offset
    of the activations, unlike Hoyer and Gini.
    """
    _check_acts(acts)
    return _active(_float(acts), threshold)


# --- lifetime sparsity, per unit (reduce over samples, dimension -2) -----------------
def _kurtosis(a):
    d = a - a.mean(-2, keepdim=True)
    m2 = d.pow(2).mean(-2)
    m4 = d.pow(4).mean(-2)
    # a constant unit's mean can be off by one rounding step (10 x 0.1 sums to 0.999...),
    # leaving m2 > 0 and a spurious -2: test constancy on the values themselves
    constant = a.amax(-2) == a.amin(-2)
    return _nan_where(constant | (m2 <= 0), m4 / (m2 * m2) - 3)


def _dead(a, tol=DEAD_TOL):
    return (a.amax(-2) - a.amin(-2)) <= tol


def lifetime_gini(acts: torch.Tensor) -> torch.Tensor:
    """Gini index of each unit across samples (lifetime sparseness). Returns [N]; NaN for a
    unit that is 0 on every sample."""
    _check_acts(acts)
    return _gini(_float(acts).T)


def lifetime_kurtosis(acts: torch.Tensor) -> torch.Tensor:
    """Excess kurtosis of each unit across samples, ``E[(x-mu)^4] / var^2 - 3`` (Willmore &
    Tolhurst 2001). Returns [N]; higher = sparser lifetime response; NaN for a constant unit."""
    _check_acts(acts)
    return _kurtosis(_float(acts))


def dead_units(acts: torch.Tensor, tol: float = DEAD_TOL) -> torch.Tensor:
    """Boolean [N]: units whose activation varies by at most ``tol`` over the samples (a
    saturated or silent sigmoid unit carries no information)."""
    _check_acts(acts)
    return _dead(_float(acts), tol)


# --- selectivity, per unit -------------------------------------------------------------
def class_means(acts: torch.Tensor, labels: torch.Tensor, num_classes: int = 10):
    """Mean activation of each unit per class.

    Returns (means [num_classes, N], counts [num_classes]); rows of absent classes are NaN.
    """
    _check_labels(acts, labels, num_classes)
    return _class_means(acts, labels, num_classes)


def _class_means(a, labels, num_classes):
    onehot = torch.nn.functional.one_hot(labels, num_classes).to(a.dtype)  # [S, C]
    sums = torch.matmul(onehot.T, a)                                        # [..., C, N]
    counts = onehot.sum(0)
    return sums / counts[:, None], counts


def ccmas_from_class_means(means: torch.Tensor, counts: torch.Tensor,
                           eps: float = CCMAS_EPS) -> torch.Tensor:
    """CCMAS per unit, Eq. 4.2, from class means [..., C, N] and class sample counts [C].

    ``u_max`` is the largest class mean; ``u_-max`` the mean of the other classes present
    (count > 0). Not shift-invariant: an offset on every activation lowers it.
    """
    m = means[..., counts > 0, :]
    if m.shape[-2] < 2:
        raise ValueError(f"CCMAS needs at least two classes among the labels; found {m.shape[-2]}")
    u_max = m.max(dim=-2).values
    u_rest = (m.sum(dim=-2) - u_max) / (m.shape[-2] - 1)
    return (u_max - u_rest) / (u_max + u_rest + eps)


def ccmas_selectivity(acts: torch.Tensor, labels: torch.Tensor, eps: float = CCMAS_EPS,
                      num_classes: int = 10) -> torch.Tensor:
    """CCMAS class selectivity per unit, Eq. 4.2. ``acts``: [samples, N]; ``labels``: [samples].

    Returns [N] in [0, 1] for non-negative activations. A class absent from ``labels`` is
    left out of ``u_-max`` (the mean is over the classes present).
    """
    return ccmas_from_class_means(*class_means(acts, labels, num_classes), eps)


def _argsort(x):
    """argsort along the last dimension (``_ranked_torch``: float64 input or a GPU). On the
    CPU numpy's sort is 2-4x faster than torch's; on a GPU torch sorts."""
    if x.device.type == "cpu":
        import numpy as np
        rows = x.reshape(-1, x.shape[-1]).numpy()
        out = np.empty(rows.shape, dtype=np.int64)

        def part(sl):  # numpy releases the GIL while sorting: one slice of rows per thread
            out[sl] = np.argsort(rows[sl], axis=-1)
        n = max(1, min(torch.get_num_threads(), len(rows)))
        bounds = [slice(i * len(rows) // n, (i + 1) * len(rows) // n) for i in range(n)]
        list(_pool(n).map(part, bounds))
        return torch.from_numpy(out).view(x.shape)
    return torch.sort(x, dim=-1).indices


_POOLS: dict = {}


def _pool(n):
    from concurrent.futures import ThreadPoolExecutor
    if n not in _POOLS:
        _POOLS[n] = ThreadPoolExecutor(n)
    return _POOLS[n]


def _ranked(a, labels, num_classes):
    """Per unit: activations sorted ascending over samples ([..., N, S]), the labels in that
    order (int8), and for each position the index of the first and last value of its run of
    ties (int32). The order within a run of ties is unspecified: no metric depends on it."""
    x = a.transpose(-1, -2).contiguous()
    if x.device.type == "cpu" and x.dtype == torch.float32:
        return _ranked_numpy(x, labels)
    return _ranked_torch(x, labels)


def _ranked_torch(x, labels):
    idx = _argsort(x)
    v = x.gather(-1, idx)
    lab = labels.to(torch.int8)[idx]
    S = v.shape[-1]
    pos = torch.arange(S, device=v.device, dtype=torch.int32).expand_as(v)
    same = v[..., 1:] == v[..., :-1]
    start = torch.ones_like(v, dtype=torch.bool)
    start[..., 1:] = ~same
    end = torch.ones_like(v, dtype=torch.bool)
    end[..., :-1] = ~same
    first = torch.where(start, pos, torch.zeros_like(pos)).cummax(-1).values
    last = torch.where(end, pos, torch.full_like(pos, S)).flip(-1).cummin(-1).values.flip(-1)
    return v, lab, first, last


def _ranked_numpy(x, labels):
    """``_ranked`` for float32 on a CPU, 3-6x faster. A float's bits, with the magnitude bits of
    negatives flipped, order like the float as int32 (-0.0 just below +0.0, one tie run all the
    same; NaN last); with the sample index in the low half of an int64 one value sort (SIMD in
    numpy) gives the order, which an argsort (scalar) gives 3x slower. Tie runs come from
    running max/min (torch's cummax is 8x slower)."""
    import numpy as np
    shape, S = x.shape, x.shape[-1]
    rows = x.reshape(-1, S).numpy()
    lab_np = labels.cpu().numpy().astype(np.int8)
    v = np.empty(rows.shape, np.float32)
    lab = np.empty(rows.shape, np.int8)
    first = np.empty(rows.shape, np.int32)
    last = np.empty(rows.shape, np.int32)
    pos = np.arange(S, dtype=np.int32)

    def part(sl):  # numpy releases the GIL in these loops: one slice of rows per thread
        r = rows[sl]
        nan = np.isnan(r)
        if nan.any():  # a NaN with its sign bit set would key below -inf: sort every NaN last, as torch
            r = np.where(nan, np.float32(np.nan), r)
        b = r.view(np.int32)
        key = (b ^ ((b >> 31) & 0x7FFFFFFF)).astype(np.int64) << 32
        key |= pos
        key.sort(axis=-1)
        lab[sl] = lab_np[key & 0xFFFFFFFF]
        m = (key >> 32).astype(np.int32)
        vv = (m ^ ((m >> 31) & 0x7FFFFFFF)).view(np.float32)
        v[sl] = vv
        same = vv[:, 1:] == vv[:, :-1]
        f = np.broadcast_to(pos, vv.shape).copy()
        f[:, 1:][same] = 0
        np.maximum.accumulate(f, axis=-1, out=first[sl])
        e = np.broadcast_to(pos, vv.shape).copy()
        e[:, :-1][same] = S
        last[sl] = np.minimum.accumulate(e[:, ::-1], axis=-1)[:, ::-1]
    n = max(1, min(torch.get_num_threads(), len(rows)))
    bounds = [slice(i * len(rows) // n, (i + 1) * len(rows) // n) for i in range(n)]
    list(_pool(n).map(part, bounds))
    return tuple(torch.from_numpy(t).view(shape) for t in (v, lab, first, last))


def _informedness(lab, first, counts):
    """max over classes and thresholds of hit rate - false-alarm rate, the response being
    "activation >= x", from ``_ranked`` output (``first``: index of the first of each run of
    tied values = the number of activations strictly below it).

    For class c (P images, Q = S - P others) the best threshold sits at one of its own
    images' values x: with L images below x, m of them of class c,
    hit - fa = (P - m)/P - (S - L - (P - m))/Q = (L - m)/Q - m/P. Taking m as the image's
    rank within its class (0-based) is exact at the first image of a tie and lower after it,
    so the maximum over every image, each with its own class's P and Q, is the answer.
    One stable sort of the labels groups each unit's positions by class, in ascending order:
    every unit has the same class counts, so slot k of that order holds the same class c
    and within-class rank for every unit, and only ``first`` needs gathering.
    """
    S = lab.shape[-1]
    P = counts.to(torch.float32)
    Q = S - P
    cls = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    within = (torch.arange(S, device=lab.device) - (counts.cumsum(0) - counts)[cls]).to(torch.float32)
    if lab.device.type == "cpu":
        import numpy as np
        grouped = np.argsort(lab.numpy(), axis=-1, kind="stable")  # a radix sort for int8
        f = torch.from_numpy(np.take_along_axis(first.numpy(), grouped, -1).astype(np.float32))
    else:
        f = first.gather(-1, torch.sort(lab, dim=-1, stable=True).indices).to(torch.float32)
    j = (f - within) / Q[cls] - within / P[cls]
    j = torch.where((Q > 0)[cls], j, torch.zeros_like(j))  # a class that is every image: no contrast
    return j.amax(-1).clamp_min(0).double()


def _auroc(lab, first, last, pref):
    """AUROC of the preferred class per unit (Mann-Whitney U, ties count half), from
    ``_ranked`` output: the average 1-based rank of a run of tied values is (first + last)/2 + 1."""
    S = lab.shape[-1]
    rank = (first + last).to(torch.float64) / 2 + 1
    hit = lab == pref[..., None].to(lab.dtype)
    P = hit.sum(-1).double()
    u = (rank * hit).sum(-1) - P * (P + 1) / 2
    return u / (P * (S - P))


def _precision_at_k(a, labels, num_classes, k=PRECISION_K):
    k = min(k, a.shape[-2])
    top = a.topk(k, dim=-2).indices                        # [..., k, N]
    onehot = torch.nn.functional.one_hot(labels[top], num_classes).sum(-3)  # [..., N, C]
    return onehot.amax(-1).double() / k


def _localist_margin(a, labels, counts):
    """Per unit: max over classes of (min activation of the class - max of all others)."""
    order = torch.argsort(labels, stable=True)
    a = a[..., order, :]
    ends = counts.cumsum(0).tolist()
    spans = [(e - int(n), e) for n, e in zip(counts.tolist(), ends) if n > 0]
    mins = torch.stack([a[..., i:j, :].amin(-2) for i, j in spans])   # [Cp, ..., N]
    maxs = torch.stack([a[..., i:j, :].amax(-2) for i, j in spans])
    top2 = maxs.topk(2, dim=0).values if len(spans) > 1 else None
    if top2 is None:
        return torch.full_like(mins[0], math.nan)
    # the highest activation outside class c: the overall max, unless c holds it
    others = torch.where(maxs == top2[0], top2[1], top2[0])
    return (mins - others).amax(0)


def max_informedness(acts: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Maximum informedness per unit (Gale et al. 2020): over every class c and threshold t,
    the largest ``P(a > t | c) - P(a > t | not c)`` (false alarms divided by the number of
    non-class images). Returns [N] in [0, 1]: 1 = some threshold separates a class perfectly,
    0 = no threshold does better than chance. Invariant to any increasing transform of the
    activations (offset, scale, squashing)."""
    _check_labels(acts, labels, num_classes)
    v, lab, first, last = _ranked(_float(acts), labels, num_classes)
    return _informedness(lab, first, _class_counts(labels, num_classes))


def auroc_preferred(acts: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """AUROC of each unit for its preferred class (the class with the largest mean
    activation, CCMAS's ``u_max`` class) against all other images: the probability that a
    random image of the class activates the unit more than a random other image (ties
    count half). Returns [N] in [0, 1]; 0.5 = chance, 1 = perfect. Monotone-invariant."""
    _check_labels(acts, labels, num_classes)
    _class_counts(labels, num_classes)
    a = _float(acts)
    means, _ = _class_means(a, labels, num_classes)
    v, lab, first, last = _ranked(a, labels, num_classes)
    return _auroc(lab, first, last, torch.nan_to_num(means, nan=-math.inf).argmax(-2))


def precision_at_k(acts: torch.Tensor, labels: torch.Tensor, k: int = PRECISION_K,
                   num_classes: int = 10) -> torch.Tensor:
    """Precision@k per unit (Zhou et al. 2015): among the k images that activate the unit
    most, the fraction that belong to their most common class. Returns [N] in [1/C, 1]
    (chance on balanced data is about 0.1 + sampling noise); k is capped at the sample count."""
    _check_labels(acts, labels, num_classes)
    _class_counts(labels, num_classes)
    return _precision_at_k(_float(acts), labels, num_classes, k)


def localist_margin(acts: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Bowers' localist margin per unit: for the best class c, the lowest activation to an
    image of c minus the highest activation to any other image. Positive = a localist unit
    (every image of one class activates it more than every other image); in activation units."""
    _check_labels(acts, labels, num_classes)
    return _localist_margin(_float(acts), labels, _class_counts(labels, num_classes))


# --- layer summaries -------------------------------------------------------------------
def _mean_std(x, dim, ddof):
    """Mean and std over ``dim`` skipping NaN (undefined samples or units)."""
    ok = ~torch.isnan(x)
    n = ok.sum(dim).double()
    x0 = torch.where(ok, x, torch.zeros_like(x)).double()
    mean = x0.sum(dim) / n
    var = (torch.where(ok, (x.double() - mean.unsqueeze(dim)) ** 2, torch.zeros_like(x0))).sum(dim) / (n - ddof)
    return _nan_where(n == 0, mean), _nan_where(n <= ddof, var.clamp_min(0).sqrt())


def layer_metrics(acts: torch.Tensor, labels: torch.Tensor, eps: float = CCMAS_EPS,
                  extra_idx: torch.Tensor | None = None, num_classes: int = 10,
                  active_threshold: float = ACTIVE_THRESHOLD) -> dict:
    """Every summary value (``FIELDS``) of one layer, as tensors over leading dimensions.

    ``acts``: [..., samples, units] (e.g. [runs, samples, units]); ``labels``: [samples].
    The dissertation's two metrics (Hoyer and CCMAS) always use every sample. ``extra_idx``
    (optional sample indices) restricts the other metrics to a subset: the clean pass over
    the 60,000 training images uses a fixed stratified 10,000, as many as the test set, which
    keeps the sort-based metrics' cost and precision@100's meaning the same on both splits.
    Returns {field: float64 tensor of shape acts.shape[:-2]}. Runs with any non-finite
    activation get NaN everywhere.
    """
    if acts.dim() < 2 or acts.shape[-2] == 0 or acts.shape[-1] == 0:
        raise ValueError(f"activations must be [..., samples, units], non-empty; got {tuple(acts.shape)}")
    a = _float(acts)
    # NaN propagates through max and min, and +-inf shows in one of them: two reductions
    # without the full-size bool tensor of isfinite (a tenth of the train split's time)
    bad = ~(torch.isfinite(a.amax((-2, -1))) & torch.isfinite(a.amin((-2, -1))))
    if bool(bad.any()):  # keep NaN out of the sorts; those runs are masked to NaN below
        a = torch.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    out = {}
    out["sparsity"], out["sparsity_std"] = _mean_std(_hoyer(a), -1, 1)
    counts = torch.bincount(labels, minlength=num_classes)
    sel = ccmas_from_class_means(_class_means(a, labels, num_classes)[0], counts.to(a.dtype), eps)
    out["selectivity_avg"], out["selectivity_std"] = _mean_std(sel, -1, 0)
    if extra_idx is not None:
        a, labels = a[..., extra_idx, :], labels[extra_idx]
        counts = _class_counts(labels, num_classes)
    for name, fn in (("gini", _gini), ("treves_rolls", _treves_rolls),
                     ("active_fraction", lambda x: _active(x, active_threshold))):
        out[name], out[f"{name}_std"] = _mean_std(fn(a), -1, 1)
    v, lab, first, last = _ranked(a, labels, num_classes)
    means = _class_means(a, labels, num_classes)[0]
    pref = torch.nan_to_num(means, nan=-math.inf).argmax(-2)
    unit = {"lifetime_gini": _gini(a.transpose(-1, -2)) if bool((v[..., 0] < 0).any()) else _gini_sorted(v),
            "lifetime_kurtosis": _kurtosis(a),
            "informedness": _informedness(lab, first, counts),
            "auroc": _auroc(lab, first, last, pref),
            "precision100": _precision_at_k(a, labels, num_classes),
            "localist_margin": _localist_margin(a, labels, counts)}
    for name, x in unit.items():
        out[name], out[f"{name}_std"] = _mean_std(x, -1, 0)
    out["dead_fraction"] = _dead(a).double().mean(-1)
    out["localist_fraction"] = (unit["localist_margin"] > 0).double().mean(-1)
    return {k: _nan_where(bad, out[k].double()) for k in FIELDS}


def layer_summary(acts: torch.Tensor, labels: torch.Tensor, eps: float = CCMAS_EPS,
                  extra_idx: torch.Tensor | None = None, num_classes: int = 10) -> dict:
    """The epoch values of one layer: {field: float} for every field of ``FIELDS``.

    As the dissertation reports them: sparsity = mean Hoyer over samples; sparsity_std =
    sample std (ddof 1) over samples; selectivity_avg / selectivity_std = mean and
    population std (ddof 0) of CCMAS over units. The other metrics follow the same rule
    (per-sample: ddof 1 over samples; per-unit: ddof 0 over units).
    """
    _check_labels(acts, labels, num_classes)
    return {k: v.item() for k, v in layer_metrics(acts, labels, eps, extra_idx, num_classes).items()}


def combine_layers(summaries: list[dict], activity: list[float] | None = None) -> dict:
    """Combine per-layer summaries into one value per field.

    With ``activity`` None: the plain mean over layers, Eq. 5.1 (what the dissertation
    reported). With ``activity`` (total activation of each layer): the activation-weighted
    sum of Eq. 5.2, weights = activity_k / sum(activity).
    """
    if not summaries:
        raise ValueError("combine_layers needs at least one layer summary")
    keys = summaries[0].keys()
    if activity is None:
        w = [1.0 / len(summaries)] * len(summaries)
    else:
        if len(activity) != len(summaries):
            raise ValueError(f"{len(activity)} activity values for {len(summaries)} layers")
        total = float(sum(activity))
        w = [a / total if total > 0 else math.nan for a in activity]
    return {k: sum(wi * s[k] for wi, s in zip(w, summaries)) for k in keys}


def layers_dict(per: list[dict], activity: list[float]) -> dict:
    """Per-layer summaries keyed '1', '2', ..., plus 'mean' (Eq. 5.1) and 'weighted' (Eq. 5.2).

    ``activity``: total activation of each layer, the weights of Eq. 5.2.
    """
    out = {str(i + 1): s for i, s in enumerate(per)}
    out["mean"] = combine_layers(per)
    out["weighted"] = combine_layers(per, activity)
    return out


def layer_records(acts: list[torch.Tensor], labels: torch.Tensor, eps: float = CCMAS_EPS,
                  extra_idx: torch.Tensor | None = None, num_classes: int = 10) -> dict:
    """``layers_dict`` of one [samples, units] activation tensor per hidden layer
    (``labels`` in 0..num_classes-1)."""
    return layers_dict([layer_summary(a, labels, eps, extra_idx, num_classes) for a in acts],
                       [a.double().sum().item() for a in acts])


def summary_from_sums(sums: dict, class_sums: torch.Tensor, counts: torch.Tensor,
                      eps: float = CCMAS_EPS) -> dict:
    """A streamed layer summary (``STREAM_FIELDS``; the rest NaN) from running sums.

    ``sums``: {metric: (sum, sum of squares, count of defined samples)} for each per-sample
    metric; ``class_sums`` [C, N] per-class activation sums; ``counts`` [C] class counts.
    """
    out = dict(NAN_SUMMARY)
    for m, (s, sq, n) in sums.items():
        mean = s / n if n else math.nan
        var = (sq - n * mean * mean) / (n - 1) if n > 1 else math.nan
        out[m] = mean
        out[f"{m}_std"] = math.sqrt(max(var, 0.0)) if n > 1 else math.nan
    sel = ccmas_from_class_means(class_sums / counts[:, None], counts, eps)
    out["selectivity_avg"], out["selectivity_std"] = sel.mean().item(), sel.std(correction=0).item()
    return out


def sample_stats(a: torch.Tensor) -> torch.Tensor:
    """Running-sum increments of the per-sample metrics for [..., B, N] activations (any float
    dtype; computed in float64): a tensor [len(SAMPLE_METRICS), 3, ...] of (sum, sum of squares,
    count of defined samples)."""
    raw, a = a, a.double()
    rows = []
    for fn in (_hoyer, lambda v: _gini(v, raw), _treves_rolls, _active):
        x = fn(a)
        ok = ~torch.isnan(x)
        x = torch.where(ok, x, torch.zeros_like(x))
        rows.append(torch.stack([x.sum(-1), (x * x).sum(-1), ok.sum(-1).to(x.dtype)]))
    return torch.stack(rows)


class StreamingSummary:
    """Layer summary accumulated batch by batch (the 'during training' variant of Fig 5.2).

    Streams the per-sample metrics (Hoyer, Gini, Treves-Rolls, active fraction) and the
    per-class activation sums (CCMAS), so no activation buffer is needed even at batch size 1;
    the sort-based unit metrics need every sample at once and stay NaN here.
    ``update(acts [B, N], labels [B])``, then ``result()``.
    """

    def __init__(self, units: int, device, num_classes: int = 10, eps: float = CCMAS_EPS):
        self.eps = eps
        self.class_sums = torch.zeros(num_classes, units, dtype=torch.float64, device=device)
        self.counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
        self.stats = torch.zeros(len(SAMPLE_METRICS), 3, dtype=torch.float64, device=device)
        self.bad = torch.zeros((), dtype=torch.bool, device=device)

    def update(self, acts: torch.Tensor, labels: torch.Tensor) -> None:
        raw = acts.detach()
        a = raw.double()
        self.bad |= ~torch.isfinite(a).all()
        self.stats += sample_stats(raw)
        self.class_sums.index_add_(0, labels, a)
        self.counts += torch.bincount(labels, minlength=len(self.counts)).double()

    def result(self) -> dict:
        if bool(self.bad):
            return dict(NAN_SUMMARY)
        st = self.stats.tolist()
        return summary_from_sums(dict(zip(SAMPLE_METRICS, st)), self.class_sums, self.counts, self.eps)


# --- Hurley & Rickard's criteria -------------------------------------------------------
# Hurley & Rickard (2009, "Comparing measures of sparsity", IEEE Trans. Inf. Theory 55(10))
# ask six things of a sparsity measure S (higher = sparser); their codes and names:
CRITERIA = {"Robin Hood": "D1", "Scaling": "D2", "Rising Tide": "D3", "Cloning": "D4",
            "Bill Gates": "P1", "Babies": "P2"}
# Non-negative probe vectors, none constant, each with several distinct non-zero entries (a
# one-hot vector already has the top Hoyer value, so it cannot show Bill Gates or Babies),
# with a tie and with values on both sides of ACTIVE_THRESHOLD.
CRITERIA_PROBES = ((0.9, 0.05, 0.3, 0.0, 0.6, 0.1, 0.75, 0.2),
                   (0.2, 0.2, 0.7, 0.4),
                   (3.0, 1.0, 0.5, 0.25, 0.0, 0.0))


def sparsity_criteria(measure, sparser: str = "higher", probes=CRITERIA_PROBES,
                      tol: float = 1e-9) -> dict[str, bool]:
    """Check Hurley & Rickard's six criteria numerically for a per-sample sparsity measure.

    ``measure`` maps [samples, N] activations to [samples] (e.g. ``gini_index``);
    ``sparser``: "higher" when a larger value is sparser (Hoyer, Gini), "lower" when a smaller
    one is (Treves-Rolls ``a``, active fraction: the criteria are then checked for minus the
    measure, which is the same as for ``1 - a``). Returns {criterion: holds on every probe},
    in the order of ``CRITERIA``. On each probe ``c`` (float64):

    * Robin Hood (D1): moving ``alpha`` from ``c_i`` to a smaller ``c_j``,
      ``0 < alpha < (c_i - c_j)/2``, lowers S (every such pair; alpha = 0.05, 0.25, 0.45 of the gap);
    * Scaling (D2): ``S(alpha c) = S(c)`` for alpha = 0.001 ... 1000;
    * Rising Tide (D3): ``S(c + alpha) < S(c)`` for alpha = 0.001 ... 10;
    * Cloning (D4): ``S(c||c) = S(c||c||c) = S(c)``;
    * Bill Gates (P1): S rises strictly as any one entry grows (by 10 to 10^4 times max c);
    * Babies (P2): S rises strictly with each of three zeros appended.

    A strict inequality needs a change larger than ``tol``; an equality holds within ``tol``
    times max(1, |S|). NaN fails every check. This is a check on fixed vectors: a False is a
    counterexample, a True is evidence, not a proof.
    """
    if sparser not in ("higher", "lower"):
        raise ValueError(f"sparser must be 'higher' or 'lower'; got {sparser!r}")
    sign = 1.0 if sparser == "higher" else -1.0

    def S(rows):
        return sign * measure(torch.tensor(rows, dtype=torch.float64)).double()

    def same(x, ref):
        return bool(((x - ref).abs() <= tol * max(1.0, abs(ref))).all())

    def below(x, ref):
        return bool((x < ref - tol).all())

    def rising(x):
        return bool((x[1:] > x[:-1] + tol).all())

    out = dict.fromkeys(CRITERIA, True)
    for c in probes:
        c = [float(v) for v in c]
        n, top = len(c), max(c)
        base = S([c])[0].item()
        robin = []
        for i in range(n):
            for j in range(n):
                if c[i] > c[j]:
                    for f in (0.05, 0.25, 0.45):
                        r = list(c)
                        r[i] -= f * (c[i] - c[j])
                        r[j] += f * (c[i] - c[j])
                        robin.append(r)
        checks = {
            "Robin Hood": below(S(robin), base),
            "Scaling": same(S([[s * v for v in c] for s in (1e-3, 0.1, 0.5, 3.0, 1e3)]), base),
            "Rising Tide": below(S([[v + s for v in c] for s in (1e-3, 0.1, 1.0, 10.0)]), base),
            "Cloning": same(S([c * 2]), base) and same(S([c * 3]), base),
            "Bill Gates": all(rising(S([c[:i] + [c[i] + top * 10.0 ** k] + c[i + 1:] for k in range(1, 5)]))
                              for i in range(n)),
            "Babies": rising(torch.stack([S([c + [0.0] * z])[0] for z in range(4)])),
        }
        for k, ok in checks.items():
            out[k] = out[k] and ok
    return out
