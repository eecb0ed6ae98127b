"""The stacked engine: many MLP runs trained as one batched model.

Runs that share an architecture, batch size, epoch count, number of images per epoch and data
subset train together, whatever their optimizer and data order. Every parameter has a leading run dimension R; each run keeps its
own seed, initial weights (built exactly as ``train.train_run`` builds them), data order and
hyper-parameters (tensors of shape [R, 1, 1]). Forward and backward are written out with
batched matmuls (no autograd); every optimizer's update is its registered rule in
``sparsel.optim`` (torch.optim's single-tensor arithmetic), applied to all its runs at once, so
a run's numbers match the reference loop to float rounding and do not depend on which other
runs share its group. Metrics are computed with the same
functions as the reference loop, from activations the engine returns itself. At batch 1 on a
CPU, the first layer of SGD, Adagrad and Adadelta runs is read and updated only where the
image is inked (``sparsel.rows``): the same rules, most of a batch-1 step's memory traffic saved.
"""
from __future__ import annotations

import math
import os
import threading
import time

import torch
import torch.nn.functional as F

from .data import load_mnist
from .metrics import NAN_SUMMARY, SAMPLE_METRICS, layer_metrics, layers_dict, sample_stats, summary_from_sums
from .models import build_model
from .optim import ALL_OPTIMIZERS, REGISTRY
from .orders import epoch_order, run_rng
from . import rows as row_kernels
from .rows import FirstLayerRows, first_layer
from .spec import TRAIN_FULL
from .train import RunResult, extra_idx, flush_denormals, nan_rows, rows_for


def supports(spec) -> bool:
    """The engine trains MLPs on one task; the CNN and the two-task forgetting protocol use the
    reference loop."""
    return spec.model == "mlp" and spec.protocol is None


def group_key(spec):
    """Runs with equal keys can share a stack. Each run draws its own data order, so orders may
    mix; only the number of images per epoch must agree, and every order but 'consecutive'
    (which trims each class to a multiple of k) uses each training image once."""
    epoch_images = ("trimmed to k", spec.order_k) if spec.order == "consecutive" else "all"
    # an optimizer that takes per-sample statistics (vSGD) stacks with its kind only, so no
    # other run's step pays for computing them
    return (spec.model, spec.hidden, spec.activation, spec.batch_size, spec.epochs, epoch_images,
            spec.train_size, spec.test_size, spec.ccmas_eps, REGISTRY[spec.optimizer].needs)


def plan_groups(specs, device, max_group=None) -> list[list]:
    """Pack specs into groups the engine can train together, sized to the device.

    On a GPU a group holds as many runs as a quarter of free memory allows (parameters,
    optimizer state, one evaluation pass); on the CPU at most 16 (more gains nothing there).
    """
    groups = {}
    for s in specs:
        groups.setdefault(group_key(s) if supports(s) else ("ref", s.key), []).append(s)
    out = []
    for key, members in groups.items():
        cap = max_group or _capacity(members[0], torch.device(device))
        # as few stacks as the cap allows, of even sizes: 18 runs as 9 + 9, not 16 + 2 (a
        # small stack pays the whole per-step overhead for few runs)
        n = -(-len(members) // cap)
        cuts = [len(members) * k // n for k in range(n + 1)]
        out += [members[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    return out


def _capacity(spec, device) -> int:
    if not supports(spec):
        return 1
    sizes = [784, *spec.hidden, 10]
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    eval_n = min(spec.train_size or 60_000, 10_000)
    per_run = 4 * (4 * params + eval_n * (sum(spec.hidden) + 10) * 2)  # bytes: params, grads, 2 states; eval
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, min(512, int(free * 0.25 // per_run)))
    return 16


class Stack:
    """Parameters of R runs: ``W[l]`` [R, out, in] and ``b[l]`` [R, out], hidden layers then output."""

    def __init__(self, specs, device, rows=False):
        models = [build_model(s) for s in specs]
        layers = [list(m.hidden) + [m.out] for m in models]
        self.W = [torch.stack([ls[i].weight.detach() for ls in layers]).to(device).contiguous()
                  for i in range(len(layers[0]))]
        self.b = [torch.stack([ls[i].bias.detach() for ls in layers]).to(device).contiguous()
                  for i in range(len(layers[0]))]
        self.relu = specs[0].activation == "relu"
        # rows: the first layer stored pixel-major ([R, 784, H], seen as the usual [R, H, 784]),
        # so the weights fed by one pixel are one contiguous row (sparsel.rows; where its kernels
        # cannot be built, as usual). rows_forward: batch-1 forward passes read only inked
        # pixels' rows (set by _Step on the pieces whose first layer it updates by rows).
        self.rows = bool(rows) and torch.device(device).type == "cpu" and row_kernels.library() is not None
        self.rows_forward = False
        if self.rows:
            self.W[0] = self.W[0].transpose(1, 2).contiguous().transpose(1, 2)

    def params(self):
        return self.W + self.b

    def forward(self, x):
        """``x``: [R, B, 784] (or [B, 784], shared). Returns logits [R, B, 10] and activations."""
        acts, h = [], x
        for i, (W, b) in enumerate(zip(self.W[:-1], self.b[:-1])):
            if i == 0 and self.rows_forward and h.dim() == 3 and h.shape[1] == 1:  # inked pixels' rows only
                z = first_layer(h[:, 0], W.transpose(1, 2), b)[:, None, :]
            else:
                z = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2)) if h.dim() == 3 else \
                    torch.matmul(h, W.transpose(1, 2)) + b[:, None, :]
            h = torch.relu(z) if self.relu else torch.sigmoid(z)
            acts.append(h)
        return torch.baddbmm(self.b[-1][:, None, :], h, self.W[-1].transpose(1, 2)), acts

    def backward(self, x, y, logp, acts, stats=False, first_error=False):
        """Gradients of each run's mean cross-entropy, from log-softmax ``logp`` [R, B, 10]:
        lists matching ``W`` and ``b``.

        ``first_error=True`` (batch 1 only): in place of the first layer's weight gradient,
        which is the outer product of this error and the image, the first layer's error [R, H]
        (what ``sparsel.rows`` updates the rows of inked pixels from).

        ``stats=True`` also returns what vSGD takes (``sparsel.optim.NEEDS``), lists matching
        ``W + b``: 'grad_sq', the batch mean of each sample's squared gradient (sample s's
        gradient of W is the outer product of its error B d_s and input a_s, so the mean of its
        squares is B (d^2)^T a^2), and 'curvature', bbprop's diagonal Gauss-Newton estimate
        averaged over the batch: softmax cross-entropy's p (1 - p) on the logits, carried down
        through squared weights and squared activation slopes, times the squared inputs.
        """
        R, B, C = logp.shape
        d = logp.exp()
        e = d * (1 - d) if stats else None  # per-sample diagonal of the loss's Hessian in the logits
        d.scatter_add_(2, y[:, :, None], torch.full((R, B, 1), -1.0, device=d.device, dtype=d.dtype))
        d = d / B
        n = len(self.W)
        gW, gb = [None] * n, [None] * n
        sq, h = [None] * (2 * n), [None] * (2 * n)
        inputs = [x] + acts
        if first_error and (B != 1 or stats):
            raise ValueError("first_error needs batch 1 and an optimizer without per-sample statistics")
        for i in range(n - 1, -1, -1):
            # at batch 1 an outer product: written as one, compiled code can fuse it into the update
            if i == 0 and first_error:
                gW[i] = d[:, 0, :]
            else:
                gW[i] = d.transpose(1, 2) * inputs[i] if B == 1 else torch.bmm(d.transpose(1, 2), inputs[i])
            gb[i] = d.sum(dim=1)
            if stats:
                a2 = inputs[i] * inputs[i]
                sq[i] = gW[i] * gW[i] if B == 1 else B * torch.bmm((d * d).transpose(1, 2), a2)
                sq[n + i] = gb[i] * gb[i] if B == 1 else B * (d * d).sum(dim=1)
                h[i] = torch.bmm(e.transpose(1, 2), a2) / B
                h[n + i] = e.mean(dim=1)
            if i:
                dh = torch.bmm(d, self.W[i])
                a = acts[i - 1]
                # written as before the statistics existed: the same rounding, so the same numbers
                d = dh * (a > 0) if self.relu else dh * a * (1 - a)
                if stats:
                    slope = (a > 0).to(a.dtype) if self.relu else a * (1 - a)
                    e = torch.bmm(e, self.W[i] * self.W[i]) * (slope * slope)
        if stats:
            return gW, gb, {"grad_sq": sq, "curvature": h}
        return gW, gb

    def sample_errors(self, x, y, delta=None):
        """Each sample's own loss gradient with respect to each layer's pre-activations, and
        each layer's inputs, in float64, at the parameters or at the parameters + ``delta``
        (a list matching ``W + b``): lists of [R, B, out] and [R, B, in] (the first layer's
        input as ``x`` is given), input layer first. Sample s's gradient of ``W[i]`` is the
        outer product of ``errors[i][:, s]`` and ``inputs[i][:, s]``."""
        n = len(self.W)
        W = [w.double() + (0 if delta is None else delta[i].double()) for i, w in enumerate(self.W)]
        b = [v.double() + (0 if delta is None else delta[n + i].double()) for i, v in enumerate(self.b)]
        inputs, h = [], x.double()
        for i in range(n):
            inputs.append(h)
            z = torch.matmul(h, W[i].transpose(1, 2)) + b[i][:, None, :]
            if i < n - 1:
                h = torch.relu(z) if self.relu else torch.sigmoid(z)
        # a comparison, not F.one_hot, which checks its input on the host (no CUDA-graph capture)
        e = torch.softmax(z, dim=2) - (y[..., None] == torch.arange(z.shape[2], device=y.device)).to(z.dtype)
        errors = [e]
        for i in range(n - 1, 0, -1):
            a = inputs[i]
            e = torch.bmm(e, W[i]) * ((a > 0).to(a.dtype) if self.relu else a * (1 - a))
            errors.insert(0, e)
        return inputs, errors

    def fd_stats(self, x, y, delta, budget=1 << 22):
        """vSGD-fd's statistics (``sparsel.optim.NEEDS``) of the batch ``x`` [R, B, 784] (or
        [B, 784]), ``y`` [R, B], along ``delta`` (a list matching ``W + b``): per parameter, the
        batch means of each sample's finite-difference curvature |g_s(p) - g_s(p + delta)| /
        |delta| and of its square, lists matching ``W + b`` in the parameters' dtype.

        Computed in float64 (the difference of two nearby gradients). The first layer's input
        is the image at both points, so its difference is the outer product of the error's
        difference and the image, and the means are two matrix products; a later layer's
        per-sample differences are formed about ``budget`` numbers at a time (at least one
        sample of every run at once: R x out x in numbers, which ``_capacity`` does not count;
        small beside a stack's evaluation pass for the hidden widths run here)."""
        a0, e0 = self.sample_errors(x, y)
        a1, e1 = self.sample_errors(x, y, delta)
        n, B = len(self.W), e0[0].shape[1]
        mean_abs, mean_sq = [None] * (2 * n), [None] * (2 * n)
        for i in range(n):
            de = e0[i] - e1[i]
            if i == 0:
                m1 = torch.matmul(de.abs().transpose(1, 2), a0[0].abs()) / B
                m2 = torch.matmul((de * de).transpose(1, 2), a0[0] * a0[0]) / B
            else:
                R, _, out = de.shape
                step = max(1, budget // (R * out * a0[i].shape[2]))
                m1 = m2 = 0
                for s in range(0, B, step):
                    part = slice(s, s + step)
                    d = e0[i][:, part, :, None] * a0[i][:, part, None, :] - e1[i][:, part, :, None] * a1[i][:, part, None, :]
                    m1 = m1 + d.abs().sum(1)
                    m2 = m2 + (d * d).sum(1)
                m1, m2 = m1 / B, m2 / B
            mean_abs[i], mean_sq[i] = m1, m2
            mean_abs[n + i], mean_sq[n + i] = de.abs().mean(1), (de * de).mean(1)
        dt = self.W[0].dtype
        curv = [(m / delta[k].double().abs()).to(dt) for k, m in enumerate(mean_abs)]
        curv_sq = [(m / delta[k].double().square()).to(dt) for k, m in enumerate(mean_sq)]
        return {"fd_curvature": curv, "fd_curvature_sq": curv_sq}


class StackedOptimizer:
    """The registered optimizers (``sparsel.optim.REGISTRY``) for stacked parameters.

    ``specs`` must list each optimizer's runs contiguously (``train_group`` orders them so):
    every optimizer updates its own range of runs, a view of the stacked tensors, with
    per-run hyper-parameter tensors; ``step`` updates the parameters in place. Runs of
    different optimizers thus share one forward and backward pass.
    """

    def __init__(self, specs, params, device):
        self.parts = []
        names = [s.optimizer for s in specs]
        for name in dict.fromkeys(names):
            lo = names.index(name)
            hi = len(names) - names[::-1].index(name)
            if names[lo:hi] != [name] * (hi - lo):
                raise ValueError("StackedOptimizer needs each optimizer's runs next to each other")
            self.parts.append(_Rule(name, slice(lo, hi), specs[lo:hi], [p[lo:hi] for p in params], device))

    @property
    def state(self):
        """Every state tensor (what a checkpoint saves), the step counts last."""
        return [t for part in self.parts for ts in part.state for t in ts] + [part.t for part in self.parts]

    @torch.no_grad()
    def step(self, params, grads, stats=None, n=None):
        """``stats``: the per-sample statistics of a batch of ``n`` samples (``Stack.backward``)
        for optimizers that take them."""
        for part in self.parts:
            cut = None if stats is None else {k: [s[part.runs] for s in v] for k, v in stats.items()}
            part.step([p[part.runs] for p in params], [g[part.runs] for g in grads], cut, n)

    @torch.no_grad()
    def step_part(self, runs, params, grads, stats=None, n=None):
        """Update one optimizer's runs ``runs`` (a slice of the stack) given their own
        parameters and gradients (views or tensors covering just those runs)."""
        part = next(p for p in self.parts if p.runs == runs)
        part.step(params, grads, stats, n)

    @property
    def needs(self) -> bool:
        """Whether some optimizer of the stack takes per-sample statistics."""
        return any(part.opt.needs for part in self.parts)

    def probe(self, grads, runs=None):
        """Where optimizers measure their statistics at shifted parameters (vSGD-fd), the shift
        each wants before this step, given this batch's gradients ``grads``: a list matching
        the parameters, for the whole stack or, with ``runs``, one optimizer's runs (both must
        be covered by probing optimizers only). None where no optimizer probes."""
        parts = [p for p in self.parts if runs is None or p.runs == runs]
        if not any(part.opt.probe for part in parts):
            return None
        if not all(part.opt.probe for part in parts):
            raise ValueError("a stack that probes must hold probing optimizers only (engine.group_key keeps them apart)")
        if runs is not None:
            return parts[0].probe(grads)
        per_part = [part.probe([g[part.runs] for g in grads]) for part in parts]
        return [torch.cat(ds) for ds in zip(*per_part)]


class _Rule:
    """One optimizer's update over its range of runs: its registered rule, called per parameter
    with the runs' parameters [R, ...] and hyper-parameters broadcast as [R, 1, ...].

    A hyper-parameter equal in all these runs is passed as a plain number (the rule then skips
    what it makes trivial, e.g. zero weight decay); the others as float64 tensors, so per-run
    scalars such as Adam's bias corrections are computed in float64, as torch.optim does.
    """

    def __init__(self, name, runs, specs, params, device):
        self.name, self.runs, self.opt, self.specs = name, runs, REGISTRY[name], specs
        # the step count lives on the device, so a captured CUDA graph advances it on replay
        self.t = torch.zeros((), dtype=torch.float64, device=device)
        hp = {}
        for k in self.opt.defaults:
            values = [float(getattr(s, k)) for s in specs]
            hp[k] = values[0] if len(set(values)) == 1 else torch.tensor(values, dtype=torch.float64, device=device)
        shape = lambda p: (-1,) + (1,) * (p.dim() - 1)  # noqa: E731 - [R] -> [R, 1, ...]
        self.hp = [{**{k: v.view(shape(p)) if isinstance(v, torch.Tensor) else v for k, v in hp.items()},
                    **self.opt.fixed} for p in params]
        # state[j][i]: state j of parameter i (the order checkpoints keep)
        self.names = self.opt.state + tuple(self.opt.run_state)
        self.state = [[torch.zeros_like(p) for p in params] for _ in self.opt.state]
        self.state += [[torch.full((len(specs),) + (1,) * (p.dim() - 1), init, dtype=torch.float64, device=device)
                        for p in params] for init in self.opt.run_state.values()]
        self.param_state = [{n: ts[i] for n, ts in zip(self.names, self.state)} for i in range(len(params))]
        self.model_size = sum(p[0].numel() for p in params)  # one run's parameters

    def probe(self, grads):
        """The shift the rule measures its statistics along before the coming step."""
        return [self.opt.probe(g, state, self.t + 1, **hp) for g, state, hp in zip(grads, self.param_state, self.hp)]

    def step(self, params, grads, stats=None, n=None):
        self.t += 1
        shared = dict(batch_size=n, model_size=self.model_size, run_dims=1)  # what vSGD also takes
        for i, (p, g, state, hp) in enumerate(zip(params, grads, self.param_state, self.hp)):
            if g is None:  # updated elsewhere (sparsel.rows)
                continue
            extra = {k: stats[k][i] for k in self.opt.needs} | shared if self.opt.needs else {}
            self.opt.step(p, g, state, self.t, **hp, **extra)


class StackedDuring:
    """The 'train_during' summary of every run and layer, accumulated step by step on device:
    running sums of the per-sample metrics and per-class activation sums (for CCMAS)."""

    def __init__(self, R, widths, device, num_classes=10):
        self.sums = [torch.zeros(R, num_classes, w, dtype=torch.float64, device=device) for w in widths]
        self.counts = torch.zeros(R, num_classes, dtype=torch.float64, device=device)
        self.stats = torch.zeros(len(widths), len(SAMPLE_METRICS), 3, R, dtype=torch.float64, device=device)
        self.bad = torch.zeros(len(widths), R, dtype=torch.bool, device=device)
        self.C = num_classes

    def reset(self):
        for t in (*self.sums, self.counts, self.stats, self.bad):
            t.zero_()

    def update(self, acts, y):
        # a comparison, not F.one_hot, which checks its input on the host (no CUDA-graph capture)
        onehot = (y[..., None] == torch.arange(self.C, device=y.device)).double()  # [R, B, C]
        self.counts += onehot.sum(1)
        for li, raw in enumerate(acts):
            a = raw.double()
            self.bad[li] |= ~torch.isfinite(a).flatten(1).all(1)
            self.sums[li] += torch.bmm(onehot.transpose(1, 2), a)
            self.stats[li] += sample_stats(raw)  # float64 inside; sorts the float32 values

    def results(self, eps):
        """One ``layers_dict`` per run."""
        stats, bad = self.stats.tolist(), self.bad.tolist()
        out = []
        for r in range(len(self.counts)):
            per = [dict(NAN_SUMMARY) if bad[li][r] else
                   summary_from_sums({m: [stats[li][k][j][r] for j in range(3)] for k, m in enumerate(SAMPLE_METRICS)},
                                     self.sums[li][r], self.counts[r], eps)
                   for li in range(len(self.sums))]
            out.append(layers_dict(per, [self.sums[li][r].sum().item() for li in range(len(self.sums))]))
        return out


@torch.no_grad()
def _evaluate(stack, data, specs, epoch, chunk_runs=None):
    """Test and clean-train rows for every run: stacked forward passes and every metric
    computed for a chunk of runs at once."""
    rows = [[] for _ in specs]
    R = len(specs)
    eps = specs[0].ccmas_eps
    if chunk_runs is None:  # on a CPU one run at a time is fastest (0.75 s vs 1.2 s per run at 8)
        chunk_runs = 1 if data.x_train.device.type == "cpu" else 32
    for split, x, y in (("test", data.x_test, data.y_test), ("train", data.x_train, data.y_train)):
        sub_idx = extra_idx(y)
        for r0 in range(0, R, chunk_runs):
            sub = slice(r0, min(R, r0 + chunk_runs))
            part = _Slice(stack, sub)
            logits, acts = [], []
            for i in range(0, len(x), 10_000):
                lo, a = part.forward(x[i: i + 10_000])
                logits.append(lo)
                acts.append(a)
            logits = torch.cat(logits, dim=1)                       # [r, n, 10]
            acts = [torch.cat([a[j] for a in acts], dim=1) for j in range(len(acts[0]))]
            logp = torch.log_softmax(logits, dim=2)
            loss = (-logp.gather(2, y.expand(logits.shape[0], -1)[:, :, None]).mean((1, 2))).tolist()
            finite = torch.isfinite(logits).flatten(1).all(1)
            acc = torch.where(finite, (logits.argmax(2) == y).double().mean(1),
                              torch.full_like(finite, math.nan, dtype=torch.float64)).tolist()
            per_layer = [{k: v.tolist() for k, v in layer_metrics(a, y, eps, sub_idx).items()} for a in acts]
            activity = [a.double().sum((1, 2)).tolist() for a in acts]
            for k, r in enumerate(range(sub.start, sub.stop)):
                layers = layers_dict([{f: m[f][k] for f in m} for m in per_layer], [w[k] for w in activity])
                rows[r] += rows_for(epoch, split, loss[k], acc[k], layers)
    return rows


class _Slice(Stack):
    def __init__(self, stack, sub):  # a view of some runs of a stack (no copy)
        self.W, self.b, self.relu = [w[sub] for w in stack.W], [b[sub] for b in stack.b], stack.relu
        self.runs, self.rows, self.rows_forward = sub, stack.rows, False


class _Step:
    """One training step of a group, eager or (on CUDA) replayed from a captured CUDA graph.

    The whole step (gather the batch, forward, closed-form backward, update, epoch sums and
    the streamed metrics) writes only into tensors that live as long as the group, so a graph
    captured once per group replays it for every full batch of every epoch; a CUDA graph
    launches its ~100 small kernels at once instead of one by one from Python. The last,
    smaller batch of an epoch runs eagerly. Set SPARSEL_CUDA_GRAPHS=0 to train eagerly.
    """

    WARMUP = 3  # eager steps before capture (cuBLAS workspaces, allocator) on a side stream

    def __init__(self, stack, opt, data, R, B, widths, device, compiled=False):
        self.stack, self.opt, self.data, self.B = stack, opt, data, B
        if compiled:
            # One fused loop per parameter instead of ~10 passes over it (the optimizer update
            # is memory-bound on a CPU). Where inductor cannot compile the whole step, body and
            # update are compiled apart; where that fails too, they run eagerly. A fresh cache
            # per group, so a long campaign never hits dynamo's recompile limit.
            torch._dynamo.reset()
            _patch_inductor_local_buffers()
            apart = lambda idx: update(body(idx))  # noqa: E731
            body = _Compiled(self._forward_backward, "the step's forward and backward", self._forward_backward)
            update = _Compiled(self._apply, "the step's update", self._apply)
            self._run = _Compiled(self._eager_step, "the whole step", apart, "forward-backward and update apart")
        else:
            self._run = self._eager_step
        # Compiled, an in-place update of a slice of the stack becomes a scatter into the whole
        # stack: one extra pass over every run's parameters per optimizer and step (twice the
        # update's memory traffic at batch 1 with four optimizers). So each optimizer's runs
        # go through the step as views of their own (non-overlapping, so compiled code updates
        # them in place), from forward pass to update.
        many = compiled and len(opt.parts) > 1
        # the optimizers whose first-layer update sparsel.rows does (pixel-major storage, batch 1)
        self.rows = {k: FirstLayerRows(part.name, _Slice(stack, part.runs).W[0], part.param_state[0], part.specs)
                     for k, part in enumerate(opt.parts)
                     if getattr(stack, "rows", False) and B == 1 and row_kernels.library() is not None
                     and row_kernels.applies(part.name, part.specs)}
        self.pieces = [_Slice(stack, part.runs) for part in opt.parts] if many or self.rows else None
        for k in self.rows:
            # only these: around the opaque op, compiled code updates a dense-updated first
            # layer through two temporary copies (Adam's was 6x slower); a product it fuses well
            self.pieces[k].rows_forward = True
        self.loss_sum = torch.zeros(R, dtype=torch.float64, device=device)
        self.correct = torch.zeros(R, dtype=torch.int64, device=device)
        self.during = StackedDuring(R, widths, device)
        self.use_graph = device.type == "cuda" and os.environ.get("SPARSEL_CUDA_GRAPHS", "1") != "0"
        self.probes = any(part.opt.probe for part in opt.parts)  # decided once, not every step
        self.idx = torch.zeros(R, B, dtype=torch.int64, device=device)
        self.graph, self.calls = None, 0

    def reset(self):
        self.loss_sum.zero_()
        self.correct.zero_()
        self.during.reset()

    def _forward_backward(self, idx):
        """Gradients of the batch ``idx`` [R, B] (one list per piece of the stack); adds to the
        epoch's sums and streamed metrics."""
        x, y = self.data.x_train[idx], self.data.y_train[idx]
        grads, logits, acts = [], [], []
        for k, piece in enumerate(self.pieces or [self.stack]):
            runs = piece.runs if self.pieces else slice(None)
            lo, a = piece.forward(x[runs])
            by_rows = k in self.rows
            out = piece.backward(x[runs], y[runs], torch.log_softmax(lo, dim=2), a, stats=self.opt.needs,
                                 first_error=by_rows)
            if self.probes:  # vSGD-fd: a second pass, at the parameters + delta
                delta = self.opt.probe(out[0] + out[1], piece.runs if self.pieces else None)
                out[2].update(piece.fd_stats(x[runs], y[runs], delta))
            error = out[0][0] if by_rows else None
            if by_rows:
                out[0][0] = None
            grads.append((out[0] + out[1], out[2] if self.opt.needs else None, idx.shape[1], error))
            logits.append(lo)
            acts.append(a)
        logits = torch.cat(logits) if self.pieces else logits[0]
        acts = [torch.cat(layer) for layer in zip(*acts)] if self.pieces else acts[0]
        logp = torch.log_softmax(logits, dim=2)
        lossr = -torch.gather(logp, 2, y[:, :, None]).squeeze(2).mean(1)
        self.loss_sum += lossr.double() * idx.shape[1]
        self.correct += (logits.argmax(2) == y).sum(1)
        self.during.update(acts, y)
        return grads

    def _apply(self, grads):
        """``grads``: per piece of the stack, (gradients, per-sample statistics or None, batch
        size, first-layer error or None). Returns those errors: the first-layer updates left to
        ``sparsel.rows``."""
        if self.pieces is None:
            self.opt.step(self.stack.params(), *grads[0][:3])
        else:
            for piece, g in zip(self.pieces, grads):
                self.opt.step_part(piece.runs, piece.params(), *g[:3])
        return [g[3] for g in grads]

    def _eager_step(self, idx):
        return self._apply(self._forward_backward(idx))

    def _step(self, idx):
        errors = self._run(idx)
        for k, by_rows in self.rows.items():  # outside compiled code: in place, rows picked at run time
            part = self.opt.parts[k]
            by_rows.step(self.data.x_train[idx[part.runs, 0]], errors[k], int(part.t))

    def flush(self):
        """At the end of an epoch: every optimizer state as the dense update would hold it."""
        for k, by_rows in self.rows.items():
            by_rows.flush(int(self.opt.parts[k].t))

    def __call__(self, idx):
        if not self.use_graph or idx.shape[1] != self.B:
            return self._step(idx)
        self.idx.copy_(idx)
        if self.graph is not None:
            return self.graph.replay()
        self.calls += 1
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._step(self.idx)
        torch.cuda.current_stream().wait_stream(side)
        if self.calls < self.WARMUP:
            return None
        try:  # capture records the step without running it; the next call replays it
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._step(self.idx)
            self.graph = graph
        except Exception as err:  # noqa: BLE001 - any capture failure: train on, eagerly
            print(f"sparsel: CUDA graph capture failed ({type(err).__name__}: {err}); training eagerly")
            self.use_graph = False
        return None


def _patch_inductor_local_buffers() -> None:
    """Work around pytorch/pytorch#188228 (open in 2.11-2.14): inductor's CPU code generator,
    promoting a buffer to a loop-local one, asks each user where it reads it, and a user that
    only writes it (the in-place update of an optimizer's state) raises KeyError, failing the
    whole compile. Answering "nowhere" makes the generator keep that buffer global, as it
    does for any buffer it cannot prove contiguous, and the stacked step compiles whole."""
    try:
        from torch._inductor.loop_body import LoopBody
    except ImportError:
        return
    original = getattr(LoopBody, "get_read_expr", None)
    if original is None or getattr(original, "_sparsel_patch", False):
        return

    def get_read_expr(self, buffer_name):
        try:
            return original(self, buffer_name)
        except KeyError:
            return None
    get_read_expr._sparsel_patch = True
    LoopBody.get_read_expr = get_read_expr


class _Compiled:
    """``fn`` compiled by torch.compile; if compiling fails (at the first call, before anything
    runs), a one-line notice and ``fallback`` (described by ``instead``) from then on."""

    def __init__(self, fn, what, fallback, instead="it eagerly"):
        self.run, self.what, self.fallback, self.ok = torch.compile(fn, dynamic=False), what, fallback, False
        self.instead = instead

    def __call__(self, *args):
        if self.ok:
            return self.run(*args)
        try:
            out = self.run(*args)
        except Exception as err:  # noqa: BLE001 - a compiler's failure: train on without it
            if self.run is self.fallback:
                raise
            print(f"sparsel: torch.compile failed on {self.what} ({type(err).__name__}: "
                  f"{str(err).strip().splitlines()[0][:100]}); running {self.instead}", flush=True)
            self.run = self.fallback
            out = self.run(*args)
        self.ok = True
        return out


class Stopped(Exception):
    """A group stopped at an epoch boundary (time budget or signal); its checkpoint is kept."""


_STOP = threading.Event()


def request_stop() -> None:
    """Make every stack of this process stop at its next epoch boundary (``Stopped``).

    A signal handler that raises an exception is not enough alone: Python runs the handler
    wherever the main thread happens to be, and an exception raised inside a finalizer or
    weakref callback is printed and swallowed, so the training would go on. The flag is seen."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def group_id(specs) -> str:
    """A group's name: a hash of its runs' keys (``specs``: RunSpecs or their keys)."""
    import hashlib
    return hashlib.sha256(",".join(sorted(getattr(s, "key", s) for s in specs)).encode()).hexdigest()[:16]


def resumed_code(saved: str | None, now: str) -> str:
    """The code version of a group resumed by code ``now`` from a checkpoint saved by code
    ``saved`` (itself perhaps a chain): ``now`` alone if the same code made every epoch, else
    ``<now>.resumed-<saved after its '+'>`` (e.g. 0.1.0+src.b2.g222.resumed-src.a1.g111), so
    the run's provenance names every code that trained it, the last one first."""
    if saved == now or (saved or "").split(".resumed-")[0] == now:
        return saved or now
    return f"{now}.resumed-{saved.split('+', 1)[-1] if saved else 'unknown'}"


def _save_checkpoint(path, epoch, stack, opt, rngs, results, seconds):
    """Everything a group needs to go on after ``epoch`` exactly as if never stopped."""
    from .store import code_version
    state = dict(epoch=epoch, W=[w.cpu() for w in stack.W], b=[b.cpu() for b in stack.b],
                 opt_state=[t.cpu() for t in opt.state],
                 rngs=[g.bit_generator.state for g in rngs], seconds=seconds,
                 results=[(r.rows, r.diverged, r.diverged_epoch) for r in results],
                 code=results[0].code_version or code_version())
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    keys = path.with_suffix(".json")  # which runs it holds, readable without loading the tensors
    if not keys.exists():
        import json
        keys.write_text(json.dumps(sorted(r.spec.key for r in results)))


def _load_checkpoint(path, stack, opt, rngs, results):
    state = torch.load(path, weights_only=False)
    for dst, src in zip(stack.W + stack.b, state["W"] + state["b"]):
        dst.copy_(src)
    for dst, src in zip(opt.state, state["opt_state"]):
        dst.copy_(src)
    for g, st in zip(rngs, state["rngs"]):
        g.bit_generator.state = st
    from .store import code_version
    code = resumed_code(state.get("code"), code_version())
    for r, (rows, div, div_ep) in zip(results, state["results"]):
        r.rows, r.diverged, r.diverged_epoch, r.code_version = rows, div, div_ep, code
    return state["epoch"], state["seconds"]


COMPILE_MIN_STEPS = 20_000  # below this the ~20 s of compilation costs more than it saves


def use_compile(specs, device) -> bool:
    """Whether ``train_group(compile="auto")`` compiles the step with torch.compile: on a CPU,
    for groups of at least ``COMPILE_MIN_STEPS`` steps (every full-scale group; no smoke one).
    ``SPARSEL_COMPILE=0`` or ``1`` overrides. CUDA replays CUDA graphs instead."""
    forced = os.environ.get("SPARSEL_COMPILE", "auto")
    if forced in ("0", "1"):
        return forced == "1"
    s = specs[0]
    steps = s.epochs * math.ceil((s.train_size or TRAIN_FULL) / s.batch_size)
    return torch.device(device).type == "cpu" and steps >= COMPILE_MIN_STEPS


def use_rows(specs, device) -> bool:
    """Whether ``train_group`` stores the first layer pixel-major and updates it row by row
    where the rule allows (``sparsel.rows``): batch 1 on a CPU, where the kernels could be built.
    Every batch-1 CPU stack, whatever its optimizers: the layout changes how a matrix product
    rounds, and a run's numbers must not depend on which runs share its stack.
    ``SPARSEL_ROWS=0`` turns it off."""
    if specs[0].batch_size != 1 or torch.device(device).type != "cpu":
        return False
    if row_kernels.library() is None:
        row_kernels.notice_once()
        return False
    return True


def train_group(specs, device="cpu", root=None, data=None, on_epoch=None, checkpoint_dir=None,
                deadline=None, checkpoint_every: float = 60.0, compile="auto") -> list[RunResult]:
    """Train ``specs`` (one group from ``plan_groups``) together; one RunResult per spec.

    ``checkpoint_dir``: save the group's whole state after every epoch there and resume from
    it, so a group killed mid-way goes on from its last finished epoch with exactly the
    numbers of an uninterrupted run (``drop_checkpoint`` removes it once the runs are stored).
    ``checkpoint_every``: at most one checkpoint per this many seconds (0: every epoch).
    ``compile``: True / False / "auto" (see ``use_compile``); compiled runs record the
    trainer "engine+compile" (same maths, float rounding of fused kernels).
    ``deadline`` (a ``time.time()``): stop at the first epoch boundary past it, raising
    ``Stopped`` (the checkpoint keeps the work done).
    """
    t0 = time.perf_counter()
    flush_denormals()
    device = torch.device(device)
    s0 = specs[0]
    if len({group_key(s) for s in specs}) != 1:
        raise ValueError("train_group takes specs of one group; use plan_groups to make groups")
    if data is None:
        data = load_mnist(root, device, s0.train_size, s0.test_size)
    asked = list(specs)
    specs = sorted(specs, key=lambda s: ALL_OPTIMIZERS.index(s.optimizer))  # each optimizer's runs contiguous
    R, B = len(specs), s0.batch_size
    stack = Stack(specs, device, rows=use_rows(specs, device))
    opt = StackedOptimizer(specs, stack.params(), device)
    rngs = [run_rng(s.seed) for s in specs]
    labels = data.y_train.cpu().numpy()
    results = [RunResult(s, device=str(device), trainer="engine") for s in specs]
    ckpt, start, before = None, 1, 0.0
    if checkpoint_dir is not None:
        from pathlib import Path
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        ckpt = Path(checkpoint_dir) / f"group-{group_id(specs)}.pt"
    if ckpt is not None and ckpt.exists():
        done, before = _load_checkpoint(ckpt, stack, opt, rngs, results)
        start = done + 1
        if on_epoch:
            on_epoch(R * done)
    else:
        for r, rows in enumerate(_evaluate(stack, data, specs, 0)):
            results[r].rows += rows
    compiled = use_compile(specs, device) if compile == "auto" else bool(compile)
    step = _Step(stack, opt, data, R, B, s0.hidden, device, compiled)
    by_rows = {r for k, part in enumerate(opt.parts) if k in step.rows for r in range(R)[part.runs]}
    for r, res in enumerate(results):
        # compiled: the same maths, float rounding of fused kernels; rows: this run's first
        # layer read and updated by sparsel.rows (the others of a batch-1 CPU stack are stored
        # pixel-major too: their products round as that layout's do)
        res.trainer = "engine" + ("+compile" if compiled else "") + ("+rows" if r in by_rows else "")
    last_save = time.perf_counter()
    for epoch in range(start, s0.epochs + 1):
        if deadline is not None and time.time() > deadline:
            raise Stopped(f"time budget reached before epoch {epoch} of {s0.epochs}")
        if _STOP.is_set():
            raise Stopped(f"stop requested before epoch {epoch} of {s0.epochs}")
        orders = torch.stack([torch.from_numpy(epoch_order(s, labels, g)) for s, g in zip(specs, rngs)]).to(device)
        n = orders.shape[1]
        step.reset()
        for i in range(0, n, B):
            step(orders[:, i: i + B])
        step.flush()
        loss_sum, correct, during = step.loss_sum, step.correct, step.during
        epoch_rows = _evaluate(stack, data, specs, epoch)
        losses = (loss_sum / n).tolist()
        accs = (correct.double() / n).tolist()
        during_layers = during.results(s0.ccmas_eps)
        finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in stack.params()]).all(0).tolist()
        for r, res in enumerate(results):
            if res.diverged:
                for split in ("test", "train", "train_during"):
                    res.rows += nan_rows(epoch, split, len(s0.hidden))
                continue
            res.rows += epoch_rows[r]
            res.rows += rows_for(epoch, "train_during", losses[r], accs[r], during_layers[r])
            eval_losses = [x["loss"] for x in epoch_rows[r]]
            if not (math.isfinite(losses[r]) and finite[r] and all(map(math.isfinite, eval_losses))):
                res.mark_diverged(epoch, len(s0.hidden))
        if ckpt is not None and epoch < s0.epochs and time.perf_counter() - last_save >= checkpoint_every:
            last_save = time.perf_counter()
            _save_checkpoint(ckpt, epoch, stack, opt, rngs, results, before + time.perf_counter() - t0)
        if on_epoch:
            on_epoch(R)
    seconds = before + time.perf_counter() - t0
    for res in results:
        res.seconds = seconds / R
    by_key = {r.spec.key: r for r in results}
    return [by_key[s.key] for s in asked]


def largest_weights(specs, data, steps: int, every: int = 10) -> list[dict]:
    """Train ``specs`` (stacked by ``group_key``) for ``steps`` batches of their first epoch's order, eagerly,
    and every ``every`` steps record each run's largest absolute weight per layer: rows of
    {condition: the spec's optimizer, seed, step, layer (1 = the first hidden layer's incoming
    weights), max_abs}. What a step rule does to the weights, which the stored metrics (of the
    activations) do not show. ``data``: MNIST as ``load_mnist`` gives it."""
    def look(stack, opt, specs, i):
        top = torch.stack([W.flatten(1).abs().amax(1) for W in stack.W]).tolist()  # [layer][run]
        return [dict(condition=s.optimizer, seed=s.seed, step=i, layer=l + 1, max_abs=top[l][r])
                for r, s in enumerate(specs) for l in range(len(stack.W))]
    return _follow(specs, data, steps, every, look)


def vsgd_rates(specs, data, steps: int, every: int = 10) -> list[dict]:
    """Train runs of the authors'-code vSGD rules (``vsgd_authors*``, ``vsgd_fd*``) as
    ``largest_weights`` does and every ``every`` steps record the learning rate each applied to
    its first layer's weights (``optim.vsgd_rate``), per input pixel: rows of {condition, seed,
    step, pixel (0-783, row-major), rate: the median over the hidden units of the rates of that
    pixel's weights}. Where a rule's curvature estimate departs from the diagonal, the rates of
    weights of faint pixels show it. The batch size must divide the training images where
    ``steps`` goes past an epoch (the rate depends on it, and an epoch's last batch would be short)."""
    from .optim import vsgd_authors_step, vsgd_fd_step, vsgd_rate
    bad = sorted({s.optimizer for s in specs if REGISTRY[s.optimizer].step not in (vsgd_authors_step, vsgd_fd_step)})
    if bad:
        raise ValueError(f"vsgd_rates follows the authors'-code vSGD rules (vsgd_authors*, vsgd_fd*) only; "
                         f"got {', '.join(bad)}")
    n = len(data.y_train)
    short = sorted({s.batch_size for s in specs if n % s.batch_size and steps * s.batch_size > n})
    if short:
        raise ValueError(f"vsgd_rates: batch size {short[0]} does not divide the {n:,} training images, so "
                         f"{steps:,} batches would reach an epoch's short last batch; take a batch size that "
                         f"divides it, or at most {n // short[0]:,} steps")

    def look(stack, opt, specs, i):
        rows = []
        for part in opt.parts:
            rate = vsgd_rate(part.param_state[0], part.t, batch_size=part.specs[0].batch_size, **part.hp[0])
            med = rate.median(1).values.tolist()  # W[0] is [runs, hidden, 784]: over the hidden units
            rows += [dict(condition=s.optimizer, seed=s.seed, step=i, pixel=p, rate=v)
                     for s, m in zip(part.specs, med) for p, v in enumerate(m)]
        return rows
    return _follow(specs, data, steps, every, look)


def saturation(specs, data, steps: int, every: int = 10, probe: int = 1000) -> list[dict]:
    """Train ``specs`` as ``largest_weights`` does and every ``every`` steps record, per hidden
    layer, how much of it passes no error back on the first ``probe`` training images: rows of
    {condition, seed, step, layer (1 = the first hidden layer), stuck: the fraction of (unit,
    image) pairs whose activation slope is exactly 0 (float32: a sigmoid unit's a rounds to 0
    or 1; a ReLU unit's a == 0), saturated: the fraction of units stuck on every probe image,
    whose incoming weights and bias get a zero gradient from each of them}. Both are NaN for a
    run whose activations hold a NaN (it diverged)."""
    x = data.x_train[:probe]

    def look(stack, opt, specs, i):
        _, acts = stack.forward(x)  # x shared: acts[l] is [runs, probe, units]
        rows = []
        for l, a in enumerate(acts):
            stuck = (a == 0) if stack.relu else (a * (1 - a) == 0)
            bad = a.isnan().flatten(1).any(1).tolist()
            pairs, units = stuck.float().mean((1, 2)).tolist(), stuck.all(1).float().mean(1).tolist()
            rows += [dict(condition=s.optimizer, seed=s.seed, step=i, layer=l + 1,
                          stuck=math.nan if bad[r] else pairs[r], saturated=math.nan if bad[r] else units[r])
                     for r, s in enumerate(specs)]
        return rows
    return _follow(specs, data, steps, every, look)


def _follow(specs, data, steps, every, look):
    """Train ``specs``, stacked by ``group_key``, for ``steps`` batches of their first epoch's
    order, eagerly, calling ``look(stack, opt, specs, step)`` at step 0 and every ``every``
    steps; returns the rows it gives, group by group."""
    from .sweep import foreground_threads  # sweep imports this module
    threads = torch.get_num_threads()
    if data.x_train.device.type == "cpu":  # beside a campaign, torch's threads would crawl
        torch.set_num_threads(foreground_threads())
    groups = {}
    for s in specs:
        groups.setdefault(group_key(s), []).append(s)
    try:
        return [row for group in groups.values() for row in _follow_group(group, data, steps, every, look)]
    finally:
        torch.set_num_threads(threads)


def _follow_group(specs, data, steps, every, look):
    flush_denormals()
    device = data.x_train.device
    specs = sorted(specs, key=lambda s: ALL_OPTIMIZERS.index(s.optimizer))
    stack = Stack(specs, device)
    opt = StackedOptimizer(specs, stack.params(), device)
    labels = data.y_train.cpu().numpy()
    orders = torch.stack([torch.from_numpy(epoch_order(s, labels, run_rng(s.seed))) for s in specs]).to(device)
    B = specs[0].batch_size
    step = _Step(stack, opt, data, len(specs), B, specs[0].hidden, device)
    rows = []
    for i in range(steps + 1):
        if i % every == 0:
            rows += look(stack, opt, specs, i)
        if i < steps:
            step(orders[:, (i * B) % orders.shape[1]:][:, :B])
    return rows


def drop_checkpoint(specs, checkpoint_dir) -> None:
    """Remove a group's checkpoint once its runs are stored (``specs``: RunSpecs or their keys)."""
    from pathlib import Path
    if checkpoint_dir is not None:
        for ext in (".pt", ".json"):
            (Path(checkpoint_dir) / f"group-{group_id(specs)}{ext}").unlink(missing_ok=True)


def checkpoint_epoch(specs, checkpoint_dir) -> int | None:
    """The last epoch saved in the checkpoint of the group ``specs`` (RunSpecs or their keys),
    or None where it has none (or an unreadable one). Reads the small header fields alone: the
    file is memory-mapped, so its tensors (tens of MB) are not read."""
    from pathlib import Path
    path = Path(checkpoint_dir) / f"group-{group_id(specs)}.pt"
    try:
        return int(torch.load(path, map_location="cpu", mmap=True, weights_only=False)["epoch"])
    except Exception:  # missing, torn or of an unknown layout: the group trains from epoch 0
        return None


def checkpointed_groups(checkpoint_dir) -> list[list[str]]:
    """The run keys of each group with a checkpoint in ``checkpoint_dir``, oldest first. A
    checkpoint saved before its key list was kept beside it is not listed: it resumes only
    where the same runs are grouped together again."""
    import json
    from pathlib import Path
    if checkpoint_dir is None or not Path(checkpoint_dir).is_dir():
        return []
    out = []
    for f in sorted(Path(checkpoint_dir).glob("group-*.json"), key=lambda f: f.stat().st_mtime):
        try:
            keys = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if f.with_suffix(".pt").exists() and isinstance(keys, list):
            out.append(keys)
    return out
