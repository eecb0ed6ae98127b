"""One run, the dissertation's way: an nn.Module, torch.optim, one batch at a time.

This is the reference the stacked engine (``sparsel.engine``) is tested and benchmarked
against. Both record the same rows: at epoch 0 (before training) and after every epoch,
per split ('test', 'train' = clean post-epoch pass, 'train_during' = activations captured
while training, as the original Fig 5.2 did) and per layer ('1'.., 'mean', 'weighted').
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data import MNIST, load_mnist, stratified_indices
from .metrics import FIELDS, StreamingSummary, class_means, layer_records, layers_dict
from .models import build_model
from .optim import make_optimizer
from .orders import epoch_order, run_rng

EXTRA_SUBSET = 10_000  # train-split images for the metrics beyond Hoyer/CCMAS (as many as the test set)


@dataclass
class RunResult:
    """What one run produced: its rows (dicts, see ``rows_for``), divergence and timing."""
    spec: object
    rows: list = field(default_factory=list)
    diverged: bool = False
    diverged_epoch: int | None = None
    seconds: float = 0.0
    device: str = "cpu"
    trainer: str = "reference"  # "reference" (train_run); stacked: "engine", with "+compile", "+rows" (sparsel.rows)
    code_version: str | None = None  # None: the code of the process that stores it (see engine.resumed_code)
    model: object = None  # the trained nn.Module, only with train_run(keep_model=True)

    def mark_diverged(self, epoch: int, n_layers: int) -> None:
        """Divergence at ``epoch``: that epoch's rows and every later one are NaN."""
        self.diverged, self.diverged_epoch = True, epoch
        self.rows = [r for r in self.rows if r["epoch"] < epoch]
        for split in ("test", "train", "train_during"):
            self.rows += nan_rows(epoch, split, n_layers)


def flush_denormals() -> None:
    """Treat denormal floats (float32 below 1.2e-38, float64 below 2.2e-308) as zero in CPU
    arithmetic, as inputs and as results.

    The optimizer states of weights whose pixel is rarely non-zero (Adam's first moment,
    Adadelta's running averages) decay geometrically into that range, where each CPU
    operation on them takes up to a hundred times longer: a compiled 16-run batch-1 step
    slows from 2.3 to 6.6 ms within 1,000 steps, a batch-50 step from 6.9 to 9.3 ms. Below
    float32 rounding of any update they feed, so flushing them leaves the weights the same
    (``test_flushing_denormals_changes_no_number``). An activation in the denormal range (a
    sigmoid of about -88) would read as 0 too: a tie with the silent units at most. CPU threads
    take the mode from the thread that starts them: the command line sets it before torch's
    first parallel work; training calls set it for the calling thread (and leave it set), so
    in a session that had started torch's threads before, those keep denormals and are
    slower, not different. GPUs are unaffected."""
    torch.set_flush_denormal(True)


def resolve_device(device="auto") -> torch.device:
    """'auto' -> cuda if available, else cpu. Turns TF32 off: the study is fp32 throughout."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


def rows_for(epoch: int, split: str, loss: float, accuracy: float, layers: dict) -> list[dict]:
    """Flatten one split's evaluation into rows, one per layer key (every field of
    ``metrics.FIELDS``; NaN where a split does not measure one)."""
    return [dict(epoch=epoch, split=split, layer=name, loss=loss, accuracy=accuracy,
                 **{k: summary.get(k, math.nan) for k in FIELDS}) for name, summary in layers.items()]


def extra_idx(labels: torch.Tensor) -> torch.Tensor | None:
    """The fixed stratified subset of a split on which the additional metrics are computed
    (None when the split has at most ``EXTRA_SUBSET`` images: then all of them)."""
    if len(labels) <= EXTRA_SUBSET:
        return None
    return torch.from_numpy(stratified_indices(labels.cpu().numpy(), EXTRA_SUBSET)).to(labels.device)


def nan_rows(epoch: int, split: str, n_layers: int) -> list[dict]:
    nan = dict.fromkeys(FIELDS, math.nan)
    names = [str(i + 1) for i in range(n_layers)] + ["mean", "weighted"]
    return rows_for(epoch, split, math.nan, math.nan, dict.fromkeys(names, nan))


@torch.no_grad()
def evaluate(model, x, y, chunk: int = 10_000):
    """Loss (mean CE), accuracy and hidden activations of ``model`` on (x, y), in chunks."""
    logits, acts = [], []
    for i in range(0, len(x), chunk):
        out, a = model(x[i: i + chunk])
        logits.append(out)
        acts.append(a)
    logits = torch.cat(logits)
    acts = [torch.cat([a[j] for a in acts]) for j in range(len(acts[0]))]
    loss = F.cross_entropy(logits, y).item()
    # argmax of NaN logits picks some class and scores ~10 %: a diverged net has no accuracy
    acc = (logits.argmax(1) == y).float().mean().item() if torch.isfinite(logits).all() else math.nan
    return loss, acc, acts


def evaluation_rows(epoch, spec, model, data: MNIST, chunk=10_000) -> list[dict]:
    """Rows for the 'test' and clean 'train' splits at ``epoch``."""
    rows = []
    for split, x, y in (("test", data.x_test, data.y_test), ("train", data.x_train, data.y_train)):
        loss, acc, acts = evaluate(model, x, y, chunk)
        rows += rows_for(epoch, split, loss, acc, layer_records(acts, y, spec.ccmas_eps, extra_idx(y)))
    return rows


def during_rows(epoch, spec, trackers, loss, acc) -> list[dict]:
    """Rows of the 'train_during' split: the streamed metrics of the epoch's training pass."""
    layers = layers_dict([t.result() for t in trackers], [t.class_sums.sum().item() for t in trackers])
    return rows_for(epoch, "train_during", loss, acc, layers)


def train_run(spec, data: MNIST | None = None, device="auto", root=None,
              record_during: bool = True, on_epoch=None, keep_model: bool = False) -> RunResult:
    """Train ``spec`` and record every epoch. Never raises on divergence: NaN rows instead.

    ``data``: MNIST already on the device (loaded from ``root`` when None).
    ``on_epoch(epoch)``: optional progress callback.
    """
    t0 = time.perf_counter()
    flush_denormals()
    device = resolve_device(device)
    if data is None:
        data = load_mnist(root, device, spec.train_size, spec.test_size)
    if spec.protocol == "forget":  # two tasks in sequence (section 6.3.2)
        from . import forgetting
        return forgetting.train(spec, data, device)
    chunk = 1000 if spec.model == "cnn" else 10_000
    model = build_model(spec).to(device)
    opt = make_optimizer(spec.optimizer, model.parameters(), **spec.hp)
    rng = run_rng(spec.seed)
    labels = data.y_train.cpu().numpy()
    widths = list(spec.hidden)
    result = RunResult(spec, device=str(device))
    result.rows += evaluation_rows(0, spec, model, data, chunk)
    for epoch in range(1, spec.epochs + 1):
        if result.diverged:
            for split in ("test", "train", "train_during"):
                result.rows += nan_rows(epoch, split, len(widths))
            if on_epoch:
                on_epoch(epoch)
            continue
        order = torch.from_numpy(epoch_order(spec, labels, rng)).to(device)
        trackers = [StreamingSummary(w, device, eps=spec.ccmas_eps) for w in widths] if record_during else []
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        model.train()
        for idx in torch.split(order, spec.batch_size):
            x, y = data.x_train[idx], data.y_train[idx]
            logits, acts = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
            for t, a in zip(trackers, acts):
                t.update(a, y)
        model.eval()
        n = len(order)
        during_loss = loss_sum.item() / n
        result.rows += evaluation_rows(epoch, spec, model, data, chunk)
        if record_during:
            result.rows += during_rows(epoch, spec, trackers, during_loss, correct.item() / n)
        eval_losses = [r["loss"] for r in result.rows if r["epoch"] == epoch and r["split"] != "train_during"]
        if not (math.isfinite(during_loss) and all(map(math.isfinite, eval_losses))
                and all(torch.isfinite(p).all() for p in model.parameters())):
            result.mark_diverged(epoch, len(widths))
        if on_epoch:
            on_epoch(epoch)
    result.seconds = time.perf_counter() - t0
    if keep_model:
        result.model = model
    return result


def unit_profile(spec, data: MNIST | None = None, device="auto", root=None) -> dict:
    """Train ``spec`` on the reference loop and profile its trained network on the test split:
    dict(means=[tensor [10, N] per hidden layer: each unit's mean activation per digit],
    counts=tensor [10]: test images per digit, device, torch). It stands in for the weights the
    store does not keep: retrained from the same spec and seed, the network matches the stored
    run to float rounding where the stored run also trained on the reference loop with this
    device and torch, and closely otherwise (compare its CCMAS with the stored run's)."""
    if spec.protocol == "forget":
        raise ValueError("unit_profile trains one task; a forgetting run has two (profile a one-task spec)")
    device = resolve_device(device)
    if data is None:
        data = load_mnist(root, device, spec.train_size, spec.test_size)
    run = train_run(spec, data, device, record_during=False, keep_model=True)
    _, _, acts = evaluate(run.model, data.x_test, data.y_test, 1000 if spec.model == "cnn" else 10_000)
    per_layer = [class_means(a, data.y_test) for a in acts]
    return dict(means=[m.cpu() for m, _ in per_layer], counts=per_layer[0][1].cpu(), device=str(device),
                torch=torch.__version__)
