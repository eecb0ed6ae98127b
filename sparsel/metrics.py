"""Hoyer sparsity (Eq. 4.1) and CCMAS class selectivity (Eq. 4.2) of hidden activations.

Undefined cases are NaN, never 0: a silent sample (all activations 0) or a layer of one
unit has no Hoyer sparsity; a unit with all class means 0 has CCMAS 0/0 when eps is 0.
Epoch summaries skip undefined samples but return NaN if any activation is non-finite,
so a diverged run can never pass for a sparse one.
"""
from __future__ import annotations

import math

import torch

CCMAS_EPS = 1e-7  # the text's eps (section 4.1.2)


def _check_acts(acts: torch.Tensor) -> None:
    if not torch.is_tensor(acts) or acts.dim() != 2:
        shape = tuple(acts.shape) if torch.is_tensor(acts) else type(acts).__name__
        raise ValueError(f"activations must be a 2-D tensor (samples, units); got {shape}. "
                         "Flatten conv feature maps first.")
    if acts.shape[0] == 0 or acts.shape[1] == 0:
        raise ValueError(f"activations of shape {tuple(acts.shape)} are empty")


def hoyer_sparsity(acts: torch.Tensor) -> torch.Tensor:
    """Hoyer sparsity per sample, Eq. 4.1: ``(sqrt(N) - L1/L2) / (sqrt(N) - 1)``.

    ``acts``: [samples, N] non-negative activations. Returns [samples] in [0, 1]
    (1 = one active unit, 0 = all equal); NaN for a silent sample or N = 1.
    """
    _check_acts(acts)
    acts = acts.to(torch.float64) if acts.dtype == torch.float64 else acts.float()
    n = acts.shape[1]
    root = math.sqrt(n)
    l1 = acts.abs().sum(dim=1)
    l2 = acts.pow(2).sum(dim=1).sqrt()
    out = (root - l1 / l2) / (root - 1) if n > 1 else torch.full_like(l1, float("nan"))
    return torch.where(l2 > 0, out, torch.full_like(out, float("nan")))


def class_means(acts: torch.Tensor, labels: torch.Tensor, num_classes: int = 10):
    """Mean activation of each unit per class.

    Returns (means [num_classes, N], counts [num_classes]); rows of absent classes are NaN.
    """
    _check_labels(acts, labels, num_classes)
    sums = torch.zeros(num_classes, acts.shape[1], dtype=acts.dtype, device=acts.device)
    sums.index_add_(0, labels, acts)
    counts = torch.bincount(labels, minlength=num_classes).to(acts.dtype)
    return sums / counts[:, None], counts


def _check_labels(acts, labels, num_classes):
    _check_acts(acts)
    if not torch.is_tensor(labels) or labels.dim() != 1 or labels.dtype.is_floating_point:
        raise ValueError("labels must be a 1-D integer tensor of class indices")
    if labels.shape[0] != acts.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {acts.shape[0]} samples: one label per row of acts")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got {int(labels.min())}..{int(labels.max())}")


def ccmas_from_class_means(means: torch.Tensor, counts: torch.Tensor,
                           eps: float = CCMAS_EPS) -> torch.Tensor:
    """CCMAS per unit, Eq. 4.2, from class means [C, N] and class sample counts [C].

    ``u_max`` is the largest class mean; ``u_-max`` the mean of the other classes present
    (count > 0).
    """
    m = means[counts > 0]
    if m.shape[0] < 2:
        raise ValueError(f"CCMAS needs at least two classes among the labels; found {m.shape[0]}")
    u_max = m.max(dim=0).values
    u_rest = (m.sum(dim=0) - u_max) / (m.shape[0] - 1)
    return (u_max - u_rest) / (u_max + u_rest + eps)


def ccmas_selectivity(acts: torch.Tensor, labels: torch.Tensor, eps: float = CCMAS_EPS,
                      num_classes: int = 10) -> torch.Tensor:
    """CCMAS class selectivity per unit, Eq. 4.2. ``acts``: [samples, N]; ``labels``: [samples].

    Returns [N] in [0, 1] for non-negative activations. A class absent from ``labels`` is
    left out of ``u_-max`` (the mean is over the classes present).
    """
    return ccmas_from_class_means(*class_means(acts, labels, num_classes), eps)


def layer_summary(acts: torch.Tensor, labels: torch.Tensor, eps: float = CCMAS_EPS) -> dict:
    """The epoch values of one layer as the dissertation reports them.

    sparsity: mean Hoyer over samples; sparsity_std: sample std (ddof 1) over samples;
    selectivity_avg / selectivity_std: mean and population std (ddof 0) of CCMAS over units.
    """
    if not torch.isfinite(acts).all():
        return dict(NAN_SUMMARY)
    s = hoyer_sparsity(acts)
    s = s[~torch.isnan(s)]
    sel = ccmas_selectivity(acts, labels, eps)
    return dict(
        sparsity=s.mean().item() if s.numel() else math.nan,
        sparsity_std=s.std(correction=1).item() if s.numel() > 1 else math.nan,
        selectivity_avg=sel.mean().item(),
        selectivity_std=sel.std(correction=0).item(),
    )


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


def layer_records(acts: list[torch.Tensor], labels: torch.Tensor, eps: float = CCMAS_EPS) -> dict:
    """``layers_dict`` of one [samples, units] activation tensor per hidden layer."""
    return layers_dict([layer_summary(a, labels, eps) for a in acts], [a.double().sum().item() for a in acts])


NAN_SUMMARY = dict(sparsity=math.nan, sparsity_std=math.nan, selectivity_avg=math.nan, selectivity_std=math.nan)


def summary_from_sums(s_sum: float, s_sq: float, n: float, class_sums: torch.Tensor, counts: torch.Tensor,
                      eps: float = CCMAS_EPS) -> dict:
    """A layer summary from running sums: Hoyer sum, sum of squares and count of defined
    samples; per-class activation sums [C, N] and class counts [C]."""
    mean = s_sum / n if n else math.nan
    var = (s_sq - n * mean * mean) / (n - 1) if n > 1 else math.nan
    sel = ccmas_from_class_means(class_sums / counts[:, None], counts, eps)
    return dict(sparsity=mean, sparsity_std=math.sqrt(max(var, 0.0)) if n > 1 else math.nan,
                selectivity_avg=sel.mean().item(), selectivity_std=sel.std(correction=0).item())


class StreamingSummary:
    """Layer summary accumulated batch by batch (the 'during training' variant of Fig 5.2).

    Keeps per-sample Hoyer sums and per-class activation sums, so no activation buffer is
    needed even at batch size 1. ``update(acts [B, N], labels [B])``, then ``result()``.
    """

    def __init__(self, units: int, device, num_classes: int = 10, eps: float = CCMAS_EPS):
        self.eps = eps
        self.class_sums = torch.zeros(num_classes, units, dtype=torch.float64, device=device)
        self.counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
        self.s_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.s_sq = torch.zeros((), dtype=torch.float64, device=device)
        self.s_n = torch.zeros((), dtype=torch.float64, device=device)
        self.bad = torch.zeros((), dtype=torch.bool, device=device)

    def update(self, acts: torch.Tensor, labels: torch.Tensor) -> None:
        a = acts.detach().double()
        self.bad |= ~torch.isfinite(a).all()
        s = hoyer_sparsity(a)
        ok = ~torch.isnan(s)
        s = torch.where(ok, s, torch.zeros_like(s))
        self.s_sum += s.sum()
        self.s_sq += (s * s).sum()
        self.s_n += ok.sum()
        self.class_sums.index_add_(0, labels, a)
        self.counts += torch.bincount(labels, minlength=len(self.counts)).double()

    def result(self) -> dict:
        if bool(self.bad):
            return dict(NAN_SUMMARY)
        return summary_from_sums(self.s_sum.item(), self.s_sq.item(), self.s_n.item(),
                                 self.class_sums, self.counts, self.eps)
