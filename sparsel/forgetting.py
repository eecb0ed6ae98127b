"""Does a sparse, selective network forget less? The two-task protocol of section 6.3.2.

A run with ``spec.protocol == "forget"`` trains phase A on five digits S (chosen by
``spec.split_seed``) for ``spec.epochs`` epochs, or until its training accuracy on S reaches
``spec.criterion``, then phase B on the other five digits T for ``spec.epochs_b`` epochs (at
most ``spec.steps_b`` updates), and, with ``spec.epochs_c``, phase C relearns S (the accuracy on S
is probed after ``PROBES`` updates of phases A and C: relearning savings). After every epoch of both phases it records, on the test
images of S ("test_A") and of T ("test_B"), the loss, the accuracy and every layer metric,
plus columns of its own: ``phase`` (1 = A, 2 = B; numbers, as the store keeps only
numbers), ``updates`` and ``images`` (seen so far) and ``overlap`` (cosine similarity of the mean hidden activation on S's and on T's test
images: how much the two tasks share the same units).

The head: "shared" is one 10-way softmax for both tasks (class-incremental: the literal
protocol, where published results predict near-zero retention for every model); "masked"
trains and scores each task on its own five classes (task-incremental), so forgetting is not
just the output layer's bias towards the newest classes. ``carry_state`` keeps the optimizer's
state (Adagrad's accumulator, Adam's moments) into phase B or resets it.

``measures(df)`` turns the records into one row per run (retention, forgetting, sparsity and
selectivity after A...), and ``regress`` fits forgetting on those with standard errors.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .metrics import layer_records
from .models import build_model
from .optim import make_optimizer
from .orders import run_rng, shuffled, sorted_by_class
from .train import RunResult, rows_for

SPLITS = ("test_A", "test_B")
PROBES = (10, 30, 100, 300)  # updates into phase A and into phase C at which S's accuracy is probed


def split_digits(split_seed: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(S, T): five digits drawn at random by ``split_seed`` and the other five, each sorted."""
    s = np.random.default_rng([split_seed, 0xF0E7]).choice(10, size=5, replace=False)
    return tuple(sorted(int(d) for d in s)), tuple(d for d in range(10) if d not in s)


def task_order(spec, labels: np.ndarray, digits, rng) -> np.ndarray:
    """One epoch of a task: indices of every training image of ``digits``, each once, shuffled
    (or sorted by class for ``order == 'sorted'``)."""
    idx = np.flatnonzero(np.isin(labels, digits))
    if spec.order == "sorted":
        return idx[sorted_by_class(labels[idx])]
    return idx[shuffled(len(idx), rng)]


def masked_logits(logits: torch.Tensor, digits) -> torch.Tensor:
    """``logits`` [n, 10] with every class outside ``digits`` at -inf: a softmax, loss and
    argmax over the task's own classes only."""
    keep = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    keep[list(digits)] = True
    return logits.masked_fill(~keep, float("-inf"))


def _score(logits, y, digits, head):
    """Loss and accuracy on one task's images under the run's head (NaN accuracy when the
    network's outputs are not finite: argmax of NaN scores about chance, never a real 0.1)."""
    finite = bool(torch.isfinite(logits).all())
    if head == "masked":
        logits = masked_logits(logits, digits)
    loss = F.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item() if finite else math.nan
    return loss, acc


@torch.no_grad()
def _evaluate(epoch, phase, spec, model, data, tasks, counters) -> list[dict]:
    rows, means = [], {}
    for split, digits in zip(SPLITS, tasks):
        sel = torch.isin(data.y_test, torch.tensor(digits, device=data.y_test.device))
        x, y = data.x_test[sel], data.y_test[sel]
        logits, acts = model(x)
        loss, acc = _score(logits, y, digits, spec.head)
        # CCMAS over the task's own five classes (labels renumbered 0..4)
        local = torch.searchsorted(torch.tensor(digits, device=y.device), y)
        layers = layer_records(acts, local, spec.ccmas_eps, num_classes=len(digits))
        means[split] = [a.double().mean(0) for a in acts]
        rows += rows_for(epoch, split, loss, acc, layers)
    cos = [F.cosine_similarity(a, b, dim=0).item() for a, b in zip(means["test_A"], means["test_B"])]
    for r in rows:
        layer = r["layer"]
        r["overlap"] = float(np.mean(cos)) if not layer.isdigit() else cos[int(layer) - 1]
        r.update(phase=phase, **counters)
    return rows


def train(spec, data, device) -> RunResult:
    """Both phases of one ``protocol == 'forget'`` run; rows as the module docstring says.
    A non-finite loss or weight ends the run: that epoch and every later one are NaN."""
    t0 = time.perf_counter()
    model = build_model(spec).to(device)
    rng = run_rng(spec.seed)
    labels = data.y_train.cpu().numpy()
    tasks = split_digits(spec.split_seed)
    result = RunResult(spec, device=str(device))
    counters = dict(updates=0, images=0)
    result.rows += _evaluate(0, 1, spec, model, data, tasks, counters)
    opt = make_optimizer(spec.optimizer, model.parameters(), **spec.hp)
    epoch = 0
    probes = {}  # (phase, updates into it) -> accuracy on S's test images
    phases = [(1, tasks[0], spec.epochs), (2, tasks[1], spec.epochs_b)] + \
        ([(3, tasks[0], spec.epochs_c)] if spec.epochs_c else [])
    for phase, digits, n_epochs in phases:
        if phase > 1 and not spec.carry_state:
            opt = make_optimizer(spec.optimizer, model.parameters(), **spec.hp)
        b_updates = 0
        in_phase = 0
        for _ in range(n_epochs):
            epoch += 1
            order = torch.from_numpy(task_order(spec, labels, digits, rng)).to(device)
            # tensors, read once per epoch: no host sync per step (on a GPU each would stall it)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            finite = torch.ones((), dtype=torch.bool, device=device)
            seen = 0
            model.train()
            for idx in torch.split(order, spec.batch_size):
                if phase == 2 and spec.steps_b is not None and b_updates >= spec.steps_b:
                    break
                x, y = data.x_train[idx], data.y_train[idx]
                logits, _ = model(x)
                if spec.head == "masked":
                    logits = masked_logits(logits, digits)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                finite &= torch.isfinite(loss.detach())
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(idx)
                counters["updates"] += 1
                counters["images"] += len(idx)
                b_updates += phase == 2
                in_phase += 1
                if phase != 2 and in_phase in PROBES:
                    probes[(phase, in_phase)] = _probe(spec, model, data, tasks[0])
                    model.train()
            model.eval()
            finite = bool(finite) and all(torch.isfinite(p).all() for p in model.parameters())
            if not finite:
                return _diverged(result, epoch, spec, t0)
            result.rows += _evaluate(epoch, phase, spec, model, data, tasks, counters)
            if phase == 1 and spec.criterion is not None and int(correct) / max(seen, 1) >= spec.criterion:
                break
            if phase == 2 and spec.steps_b is not None and b_updates >= spec.steps_b:
                break
    # the probes ride on the epoch-0 rows (the store keeps one row per epoch, split and layer)
    for r in result.rows:
        if r["epoch"] == 0:
            r.update({f"probe_{'A' if ph == 1 else 'C'}_{k}": acc for (ph, k), acc in probes.items()})
    result.seconds = time.perf_counter() - t0
    return result


@torch.no_grad()
def _probe(spec, model, data, digits) -> float:
    """Accuracy on the test images of ``digits`` under the run's head (no other metric: cheap)."""
    model.eval()
    sel = torch.isin(data.y_test, torch.tensor(digits, device=data.y_test.device))
    logits, _ = model(data.x_test[sel])
    return _score(logits, data.y_test[sel], digits, spec.head)[1]


def _diverged(result, epoch, spec, t0):
    result.diverged, result.diverged_epoch = True, epoch
    nan = {k: math.nan for k in result.rows[0] if k not in ("epoch", "split", "layer")}
    for split in SPLITS:
        for layer in dict.fromkeys(r["layer"] for r in result.rows):
            result.rows.append({**nan, "epoch": epoch, "split": split, "layer": layer})
    result.seconds = time.perf_counter() - t0
    return result


# --- the measures -----------------------------------------------------------------------

def measures(df: pd.DataFrame, layer: str = "mean") -> pd.DataFrame:
    """One row per run from ``summary.results`` rows of forgetting runs (layer ``layer``):

    - ``acc_A_end_A``: accuracy on S when phase A ends; ``retention``: on S when B ends;
    - ``forgetting``: best accuracy on S over the whole run minus its final accuracy (>= 0);
    - ``learned_B``: accuracy on T when B ends; ``updates_A``, ``updates_B``: phase lengths;
    - ``sparsity_A``, ``gini_A``, ``selectivity_A``, ``informedness_A``: of the network on S's
      test images when phase A ends; ``overlap_A`` / ``overlap_end``: overlap then and at the end;
    - ``savings_<k>``: relearning savings, the accuracy on S after k updates of phase C minus
      that after k updates of phase A (runs with ``epochs_c``; ``PROBES`` gives the k).
    """
    keep = df[df.layer == layer]
    rows = []
    for key, g in keep.groupby("run_key", sort=False):
        a = g[g.split == "test_A"].sort_values("epoch")
        b = g[g.split == "test_B"].sort_values("epoch")
        end_a = a[a.phase == 1].iloc[-1]
        final_a, final_b = a[a.phase <= 2].iloc[-1], b[b.phase <= 2].iloc[-1]  # when phase B ends
        row = {c: g[c].iloc[0] for c in ("condition", "optimizer", "seed", "split_seed", "head", "batch_size")
               if c in g}
        row.update(run_key=key, acc_A_end_A=end_a.accuracy, retention=final_a.accuracy,
                   forgetting=a.accuracy.max() - final_a.accuracy, learned_B=final_b.accuracy,
                   updates_A=end_a.updates, updates_B=final_a.updates - end_a.updates,
                   sparsity_A=end_a.sparsity, gini_A=end_a.gini, selectivity_A=end_a.selectivity_avg,
                   informedness_A=end_a.informedness, overlap_A=end_a.overlap, overlap_end=final_a.overlap)
        # relearning savings: how much better S is after k updates of relearning (phase C) than
        # after k updates of learning it first (phase A); NaN where a phase was shorter than k
        first = g[g.epoch == 0].iloc[0]
        for k in PROBES:
            row[f"savings_{k}"] = first.get(f"probe_C_{k}", np.nan) - first.get(f"probe_A_{k}", np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def regress(m: pd.DataFrame, y: str, xs) -> pd.DataFrame:
    """Ordinary least squares of ``y`` on the columns ``xs`` (plus an intercept), rows with any
    NaN dropped: coefficient, standard error, t and n per term. Used to ask whether forgetting
    falls with sparsity after A when A's accuracy and the number of updates are held fixed."""
    d = m[[y, *xs]].astype(float).dropna()
    n, k = len(d), len(xs) + 1
    if n <= k:
        return pd.DataFrame({"coef": np.nan, "se": np.nan, "t": np.nan, "n": n}, index=["intercept", *xs])
    X = np.column_stack([np.ones(n), d[list(xs)].to_numpy()])
    beta, *_ = np.linalg.lstsq(X, d[y].to_numpy(), rcond=None)
    resid = d[y].to_numpy() - X @ beta
    cov = (resid @ resid / (n - k)) * np.linalg.pinv(X.T @ X)
    se = np.sqrt(np.diag(cov))
    return pd.DataFrame({"coef": beta, "se": se, "t": beta / np.where(se > 0, se, np.nan), "n": n},
                        index=["intercept", *xs])


def verdict(fit: pd.DataFrame, term: str) -> str:
    """The chapter-1 hypothesis (sparser/more selective after A -> less forgetting) read from a
    ``regress`` fit: 'holds' when ``term``'s coefficient is negative beyond 2 SE, 'does not hold'
    when positive beyond 2 SE, 'inconclusive' within, 'not run' without a fit."""
    t = fit.at[term, "t"] if term in fit.index else np.nan
    if not np.isfinite(t):
        return "not run"
    return "holds" if t < -2 else "does not hold" if t > 2 else "inconclusive"
