"""The stacked engine: many MLP runs trained as one batched model.

Runs that share an architecture, batch size, epoch count, data order kind, data subset and
optimizer train together. Every parameter has a leading run dimension R; each run keeps its
own seed, initial weights (built exactly as ``train.train_run`` builds them), data order and
hyper-parameters (tensors of shape [R, 1, 1]). Forward and backward are written out with
batched matmuls (no autograd); the four optimizers' updates follow torch.optim's
single-tensor arithmetic, so a run's numbers match the reference loop to float rounding and
do not depend on which other runs share its group. Metrics are computed with the same
functions as the reference loop, from activations the engine returns itself.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from .data import load_mnist
from .metrics import NAN_SUMMARY, hoyer_sparsity, layer_records, layers_dict, summary_from_sums
from .models import build_model
from .orders import epoch_order, run_rng
from .train import RunResult, nan_rows, rows_for

HP_NAMES = ("lr", "momentum", "rho", "beta1", "beta2", "eps", "weight_decay")


def supports(spec) -> bool:
    """The engine trains MLPs; the CNN (12 runs of the study) uses the reference loop."""
    return spec.model == "mlp"


def group_key(spec):
    return (spec.model, spec.hidden, spec.activation, spec.batch_size, spec.epochs, spec.order,
            spec.order_k, spec.train_size, spec.test_size, spec.optimizer, spec.ccmas_eps)


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
        out += [members[i: i + cap] for i in range(0, len(members), cap)]
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

    def __init__(self, specs, device):
        models = [build_model(s) for s in specs]
        layers = [list(m.hidden) + [m.out] for m in models]
        self.W = [torch.stack([ls[i].weight.detach() for ls in layers]).to(device).contiguous()
                  for i in range(len(layers[0]))]
        self.b = [torch.stack([ls[i].bias.detach() for ls in layers]).to(device).contiguous()
                  for i in range(len(layers[0]))]
        self.relu = specs[0].activation == "relu"

    def params(self):
        return self.W + self.b

    def forward(self, x):
        """``x``: [R, B, 784] (or [B, 784], shared). Returns logits [R, B, 10] and activations."""
        acts, h = [], x
        for W, b in zip(self.W[:-1], self.b[:-1]):
            z = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2)) if h.dim() == 3 else \
                torch.matmul(h, W.transpose(1, 2)) + b[:, None, :]
            h = torch.relu(z) if self.relu else torch.sigmoid(z)
            acts.append(h)
        return torch.baddbmm(self.b[-1][:, None, :], h, self.W[-1].transpose(1, 2)), acts

    def backward(self, x, y, logp, acts):
        """Gradients of each run's mean cross-entropy, from log-softmax ``logp`` [R, B, 10]:
        lists matching ``W`` and ``b``."""
        R, B, C = logp.shape
        d = logp.exp()
        d.scatter_add_(2, y[:, :, None], torch.full((R, B, 1), -1.0, device=d.device, dtype=d.dtype))
        d = d / B
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        inputs = [x] + acts
        for i in range(len(self.W) - 1, -1, -1):
            gW[i] = torch.bmm(d.transpose(1, 2), inputs[i])
            gb[i] = d.sum(dim=1)
            if i:
                dh = torch.bmm(d, self.W[i])
                a = acts[i - 1]
                d = dh * (a > 0) if self.relu else dh * a * (1 - a)
        return gW, gb


class StackedOptimizer:
    """torch.optim's SGD / Adagrad / Adadelta / Adam (single-tensor forms) for stacked parameters.

    Hyper-parameters are per-run tensors; ``step`` updates the parameters in place.
    """

    def __init__(self, name, specs, params, device):
        self.name, self.t = name, 0
        hp = {k: [getattr(s, k) for s in specs] for k in HP_NAMES if getattr(specs[0], k) is not None}
        self.hp64 = {k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in hp.items()}
        self.hp = {k: v.float() for k, v in self.hp64.items()}
        self.any_wd = bool((self.hp64["weight_decay"] != 0).any())
        self.state = [[torch.zeros_like(p) for p in params] for _ in range(2 if name in ("adadelta", "adam") else 1)]

    def _b(self, k, p):
        """Hyper-parameter ``k`` shaped to broadcast against ``p`` ([R] -> [R, 1, ...])."""
        v = self.hp[k]
        return v.view(-1, *([1] * (p.dim() - 1)))

    @torch.no_grad()
    def step(self, params, grads):
        self.t += 1
        if self.name == "adam":
            step_size = (self.hp64["lr"] / (1 - self.hp64["beta1"] ** self.t)).float()
            bc2_sqrt = (1 - self.hp64["beta2"] ** self.t).sqrt().float()
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.any_wd:
                g = g + self._b("weight_decay", p) * p
            if self.name == "sgd":
                buf = self.state[0][i]
                buf.mul_(self._b("momentum", p)).add_(g)  # momentum 0: buf = g, as torch.optim
                p.sub_(self._b("lr", p) * buf)
            elif self.name == "adagrad":
                s = self.state[0][i]
                s.addcmul_(g, g)
                p.sub_(self._b("lr", p) * g / (s.sqrt() + self._b("eps", p)))
            elif self.name == "adadelta":
                sq, acc = self.state[0][i], self.state[1][i]
                rho, eps = self._b("rho", p), self._b("eps", p)
                sq.mul_(rho).addcmul_(g, g * (1 - rho))
                delta = (acc + eps).sqrt() / (sq + eps).sqrt() * g
                acc.mul_(rho).addcmul_(delta, delta * (1 - rho))
                p.sub_(self._b("lr", p) * delta)
            else:  # adam
                m, v = self.state[0][i], self.state[1][i]
                b1, b2 = self._b("beta1", p), self._b("beta2", p)
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g * (1 - b2))
                shape = (-1,) + (1,) * (p.dim() - 1)
                denom = v.sqrt() / bc2_sqrt.view(shape) + self._b("eps", p)
                p.sub_(step_size.view(shape) * m / denom)


class StackedDuring:
    """The 'train_during' summary of every run and layer, accumulated step by step on device."""

    def __init__(self, R, widths, device, num_classes=10):
        self.sums = [torch.zeros(R, num_classes, w, dtype=torch.float64, device=device) for w in widths]
        self.counts = torch.zeros(R, num_classes, dtype=torch.float64, device=device)
        self.s = torch.zeros(len(widths), 3, R, dtype=torch.float64, device=device)  # sum, sum sq, n
        self.bad = torch.zeros(len(widths), R, dtype=torch.bool, device=device)
        self.C = num_classes

    def update(self, acts, y):
        onehot = F.one_hot(y, self.C).double()  # [R, B, C]
        self.counts += onehot.sum(1)
        for li, a in enumerate(acts):
            a = a.double()
            self.bad[li] |= ~torch.isfinite(a).flatten(1).all(1)
            self.sums[li] += torch.bmm(onehot.transpose(1, 2), a)
            R, B, N = a.shape
            h = hoyer_sparsity(a.reshape(R * B, N)).view(R, B)
            ok = ~torch.isnan(h)
            h = torch.where(ok, h, torch.zeros_like(h))
            self.s[li, 0] += h.sum(1)
            self.s[li, 1] += (h * h).sum(1)
            self.s[li, 2] += ok.sum(1)

    def result(self, r, eps):
        per = [dict(NAN_SUMMARY) if bool(self.bad[li, r]) else
               summary_from_sums(*(self.s[li, k, r].item() for k in range(3)), self.sums[li][r], self.counts[r], eps)
               for li in range(len(self.sums))]
        return layers_dict(per, [self.sums[li][r].sum().item() for li in range(len(self.sums))])


@torch.no_grad()
def _evaluate(stack, data, specs, epoch, chunk_runs=8):
    """Test and clean-train rows for every run, from stacked forward passes in chunks of runs."""
    rows = [[] for _ in specs]
    R = len(specs)
    for split, x, y in (("test", data.x_test, data.y_test), ("train", data.x_train, data.y_train)):
        for r0 in range(0, R, chunk_runs):
            sub = slice(r0, min(R, r0 + chunk_runs))
            part = _Slice(stack, sub)
            logits, acts = [], []
            for i in range(0, len(x), 10_000):
                lo, a = part.forward(x[i: i + 10_000])
                logits.append(lo)
                acts.append(a)
            logits = torch.cat(logits, dim=1)
            acts = [torch.cat([a[j] for a in acts], dim=1) for j in range(len(acts[0]))]
            for k, r in enumerate(range(sub.start, sub.stop)):
                loss = F.cross_entropy(logits[k], y).item()
                acc = (logits[k].argmax(1) == y).float().mean().item()
                layers = layer_records([a[k] for a in acts], y, specs[r].ccmas_eps)
                rows[r] += rows_for(epoch, split, loss, acc, layers)
    return rows


class _Slice(Stack):
    def __init__(self, stack, sub):  # a view of some runs of a stack (no copy)
        self.W, self.b, self.relu = [w[sub] for w in stack.W], [b[sub] for b in stack.b], stack.relu


def train_group(specs, device="cpu", root=None, data=None, on_epoch=None) -> list[RunResult]:
    """Train ``specs`` (one group from ``plan_groups``) together; one RunResult per spec."""
    t0 = time.perf_counter()
    device = torch.device(device)
    s0 = specs[0]
    if len({group_key(s) for s in specs}) != 1:
        raise ValueError("train_group takes specs of one group; use plan_groups to make groups")
    if data is None:
        data = load_mnist(root, device, s0.train_size, s0.test_size)
    R, B = len(specs), s0.batch_size
    stack = Stack(specs, device)
    opt = StackedOptimizer(s0.optimizer, specs, stack.params(), device)
    rngs = [run_rng(s.seed) for s in specs]
    labels = data.y_train.cpu().numpy()
    results = [RunResult(s, device=str(device)) for s in specs]
    for r, rows in enumerate(_evaluate(stack, data, specs, 0)):
        results[r].rows += rows
    diverged = [False] * R
    for epoch in range(1, s0.epochs + 1):
        orders = torch.stack([torch.from_numpy(epoch_order(s, labels, g)) for s, g in zip(specs, rngs)]).to(device)
        n = orders.shape[1]
        during = StackedDuring(R, s0.hidden, device)
        loss_sum = torch.zeros(R, dtype=torch.float64, device=device)
        correct = torch.zeros(R, dtype=torch.int64, device=device)
        for i in range(0, n, B):
            idx = orders[:, i: i + B]
            x, y = data.x_train[idx], data.y_train[idx]
            logits, acts = stack.forward(x)
            logp = torch.log_softmax(logits, dim=2)
            lossr = -logp.gather(2, y[:, :, None]).squeeze(2).mean(1)
            gW, gb = stack.backward(x, y, logp, acts)
            opt.step(stack.params(), gW + gb)
            loss_sum += lossr.double() * idx.shape[1]
            correct += (logits.argmax(2) == y).sum(1)
            during.update(acts, y)
        epoch_rows = _evaluate(stack, data, specs, epoch)
        losses = (loss_sum / n).tolist()
        accs = (correct.double() / n).tolist()
        for r, res in enumerate(results):
            if diverged[r]:
                for split in ("test", "train", "train_during"):
                    res.rows += nan_rows(epoch, split, len(s0.hidden))
                continue
            if not math.isfinite(losses[r]):
                diverged[r] = res.diverged = True
                res.diverged_epoch = epoch
            res.rows += epoch_rows[r]
            res.rows += rows_for(epoch, "train_during", losses[r], accs[r], during.result(r, s0.ccmas_eps))
        if on_epoch:
            on_epoch(R)
    seconds = time.perf_counter() - t0
    for res in results:
        res.seconds = seconds / R
    return results
