"""``sparsel bench``: the reference loop against the stacked engine, side by side, one process.

Both train the same specs (the four optimizers at Table 5.1's settings, several seeds) for one
epoch on a training subset, at batch sizes 1, 50 and 500, each streaming the 'train_during'
metrics as the real runs do. The reference loop trains each run
alone with torch.optim; the engine trains them as the sweep does, all optimizers in one stack.
Training steps are timed apart from the per-epoch evaluation, whose cost is measured once at
full scale (10,000 test and 60,000 train images, every metric). From the measured rates the
bench projects the hours of the ten dissertation experiments at full scale on this device,
evaluation included. On a CPU the engine is timed eager and compiled (``torch.compile``,
what full-scale groups use there); the ratio and projection are the compiled engine's.
The last three lines are ``speedup-bs1 <ratio>``, ``speedup-bs50
<ratio>`` and ``registry-hours <hours>`` (the engine's projection).
"""
from __future__ import annotations

import math
import os
import time

import torch

from . import engine, experiments
from . import rows as row_kernels
from .data import load_mnist
from .optim import OPTIMIZERS, make_optimizer
from .spec import RunSpec
from .train import evaluation_rows, resolve_device
from .models import build_model
from .orders import epoch_order, run_rng

BATCHES = (1, 50, 500)


def _check_runs(runs):
    """``runs`` per measurement: at least 1, else the rates are 0 steps/s and the projection divides by 0."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs per measurement must be a whole number >= 1 (e.g. --runs 16); got {runs!r}")


def _specs(batch_size, train_size, runs):
    _check_runs(runs)
    seeds = range(1, runs // 4 + 2)
    out = [RunSpec(optimizer=o, batch_size=batch_size, epochs=1, train_size=train_size, test_size=100, seed=s)
           for s in seeds for o in OPTIMIZERS]
    return out[:runs]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reference_steps(spec, data, device) -> float:
    """Seconds for one epoch of training steps of ``spec`` with torch.optim, streaming the
    'train_during' metrics as ``train_run`` does (the engine's steps do too); no evaluation."""
    import torch.nn.functional as F
    from .metrics import StreamingSummary
    model = build_model(spec).to(device)
    trackers = [StreamingSummary(w, device, eps=spec.ccmas_eps) for w in spec.hidden]
    opt = make_optimizer(spec.optimizer, model.parameters(), **spec.hp)
    order = torch.from_numpy(epoch_order(spec, data.y_train.cpu().numpy(), run_rng(spec.seed))).to(device)
    _sync(device)
    t0 = time.perf_counter()
    for idx in torch.split(order, spec.batch_size):
        y = data.y_train[idx]
        logits, acts = model(data.x_train[idx])
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for t, a in zip(trackers, acts):
            t.update(a, y)
    _sync(device)
    return time.perf_counter() - t0


def _engine_steps(specs, data, device, compiled=False, ready=None, rows=None) -> tuple[float, float]:
    """Seconds for one epoch of the engine's steps over a stack of ``specs`` (no evaluation),
    and, with ``compiled``, the seconds torch.compile took (a first step, outside the timing).
    ``ready()`` is called between the two (processes timed side by side wait there).
    ``rows``: batch-1 first layers updated by ``sparsel.rows`` (None: where ``train_group`` would)."""
    ordered = sorted(specs, key=lambda s: OPTIMIZERS.index(s.optimizer))
    stack = engine.Stack(ordered, device, rows=engine.use_rows(ordered, device) if rows is None else rows)
    opt = engine.StackedOptimizer(ordered, stack.params(), device)
    labels = data.y_train.cpu().numpy()
    orders = torch.stack([torch.from_numpy(epoch_order(s, labels, run_rng(s.seed))) for s in ordered]).to(device)
    B = ordered[0].batch_size
    step = engine._Step(stack, opt, data, len(ordered), B, ordered[0].hidden, device, compiled)
    t0 = time.perf_counter()
    if compiled:
        step(orders[:, :B])
    build = time.perf_counter() - t0
    if ready:
        ready()
    _sync(device)
    t0 = time.perf_counter()
    for i in range(0, orders.shape[1], B):
        step(orders[:, i: i + B])
    step.flush()  # the epoch's end: Adadelta's stale rows caught up (sparsel.rows)
    _sync(device)
    return time.perf_counter() - t0, build


def measure(device, batch_size, train_size, runs, root=None) -> dict:
    """Run-steps per second of the reference loop (per optimizer and in all) and of the engine."""
    specs = _specs(batch_size, train_size, runs)
    # all 60,000 is the full set (a stratified subset needs equal classes; MNIST's are not)
    data = load_mnist(root, device, None if train_size >= 60_000 else train_size, 100)
    steps_per_run = -(-train_size // batch_size)
    _engine_steps(specs[:1], data, device)  # warm up allocators, kernels, the CUDA context
    per_opt = {}
    for o in OPTIMIZERS:
        mine = [s for s in specs if s.optimizer == o]
        if mine:
            per_opt[o] = len(mine) * steps_per_run / sum(_reference_steps(s, data, device) for s in mine)
    ref_s = sum(len([s for s in specs if s.optimizer == o]) * steps_per_run / r for o, r in per_opt.items())
    eng_s = _engine_steps(specs, data, device)[0]
    steps = len(specs) * steps_per_run
    out = dict(batch_size=batch_size, runs=len(specs), steps=steps, ref_sps=steps / ref_s, eng_sps=steps / eng_s,
               speedup=ref_s / eng_s, ref_by_optimizer=per_opt)
    # compiled: what full-scale CPU groups use (engine.use_compile); on CUDA only when asked
    # (SPARSEL_COMPILE=1, then replayed from a graph like the eager step), to see whether
    # fusing the step's ~50 small kernels pays there
    if _times_compiled(device):
        cmp_s, out["compile_s"] = _engine_steps(specs, data, device, compiled=True)
        out.update(cmp_sps=steps / cmp_s, speedup=ref_s / cmp_s, eager_speedup=ref_s / eng_s)
        if engine.use_rows(specs, device) and any(row_kernels.applies(o, [s for s in specs if s.optimizer == o])
                                                  for o in OPTIMIZERS):  # the stack with every weight updated
            dense_s = _engine_steps(specs, data, device, compiled=True, rows=False)[0]
            out.update(dense_sps=steps / dense_s, rows_speedup=dense_s / cmp_s)
    return out


def _times_compiled(device) -> bool:
    """Whether a measurement also times the compiled engine: always on a CPU (what full-scale
    groups use there), on CUDA only when asked (SPARSEL_COMPILE=1)."""
    return device.type == "cpu" or os.environ.get("SPARSEL_COMPILE") == "1"


_BARRIER = None  # in a bench worker: where the workers meet before timing


def _bench_worker_init(barrier):
    global _BARRIER
    torch.set_num_threads(1)
    _BARRIER = barrier


def _one_thread_stack(batch_size, train_size, runs, root) -> float:
    """In a bench worker: seconds of a compiled stack's steps on one thread, timed from the
    moment every worker has compiled."""
    from .train import flush_denormals
    flush_denormals()
    device = torch.device("cpu")
    data = load_mnist(root, device, None if train_size >= 60_000 else train_size, 100)
    return _engine_steps(_specs(batch_size, train_size, runs), data, device, compiled=True,
                         ready=_BARRIER.wait)[0]


def per_core(batch_size, train_size, runs, workers, root=None) -> float:
    """Run-steps per second of ``workers`` compiled stacks of ``runs`` runs each, trained at the
    same time on one single-thread process apiece: what ``executor='auto'`` does with long
    groups on a multi-core CPU (compare the compiled rate of one stack on every thread)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_bench_worker_init,
                             initargs=(ctx.Barrier(workers),)) as pool:
        jobs = [pool.submit(_one_thread_stack, batch_size, train_size, runs, root) for _ in range(workers)]
        seconds = [j.result() for j in jobs]
    steps = runs * -(-train_size // batch_size)
    return sum(steps / t for t in seconds)


def evaluation_seconds(device, root=None, runs=8, quick=False) -> dict:
    """Seconds per run of one epoch's evaluation (test + clean train pass, every metric) at full
    scale, the reference loop's (one run at a time) and the engine's (a stack of ``runs``)."""
    size = dict(train_size=1000, test_size=500) if quick else dict(train_size=None, test_size=None)
    data = load_mnist(root, device, size["train_size"], size["test_size"])
    specs = [RunSpec(optimizer=o, seed=s, epochs=1, **size) for s in (1, 2) for o in OPTIMIZERS][:runs]
    model = build_model(specs[0]).to(device)
    _sync(device)
    t0 = time.perf_counter()
    evaluation_rows(1, specs[0], model, data)
    _sync(device)
    ref = time.perf_counter() - t0
    stack = engine.Stack(specs, device)
    _sync(device)
    t0 = time.perf_counter()
    engine._evaluate(stack, data, specs, 1)
    _sync(device)
    return dict(reference=ref, engine=(time.perf_counter() - t0) / len(specs))


def _interp(rates: dict, key, batch_size) -> float:
    """Seconds per run-step at ``batch_size``, linear in log batch size between measured ones."""
    bs = sorted(rates)
    xs = [math.log(b) for b in bs]
    ys = [1 / rates[b][key] for b in bs]
    x = math.log(batch_size)
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1] + (ys[-1] - ys[-2]) * (x - xs[-1]) / (xs[-1] - xs[-2])


def project(rates: dict, eval_s: dict | None = None) -> tuple[float, float]:
    """Seconds for the full-scale registry's MLP runs, reference vs engine: every training step
    (per-step time interpolated between the measured batch sizes) plus, with ``eval_s``, one
    evaluation per run and epoch (and epoch 0). The CNN runs are not included."""
    bad = [f"{k} {r[k]} at batch {b}" for b, r in rates.items() for k in ("ref_sps", "eng_sps") if not r[k] > 0]
    if bad:
        raise ValueError(f"cannot project from a measured rate of 0 steps/s ({', '.join(bad)}): "
                         "measure at least one run (runs >= 1)")
    seen, totals = set(), [0.0, 0.0]
    for c in experiments.cells("all", "full"):
        s = c.spec
        if s.key in seen or s.model != "mlp":
            continue
        seen.add(s.key)
        n = s.steps_per_epoch * s.epochs
        for i, key in enumerate(("ref_sps", "cmp_sps" if "cmp_sps" in rates[1] else "eng_sps")):
            totals[i] += n * _interp(rates, key, s.batch_size)
            if eval_s:
                totals[i] += (s.epochs + 1) * eval_s["reference" if i == 0 else "engine"]
    return totals[0], totals[1]


def bench(device="auto", root=None, runs=8, quick=False) -> dict:
    """Measure and print; ``quick`` uses tiny sizes (checks the command, measures nothing useful)."""
    _check_runs(runs)
    device = resolve_device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"sparsel bench on {name}, torch {torch.__version__}; {runs} runs per measurement "
          "(4 optimizers x seeds), 1 epoch of training steps each")
    graphs = device.type == "cuda" and os.environ.get("SPARSEL_CUDA_GRAPHS", "1") != "0"
    print("engine: stacked steps, all optimizers in one stack"
          + (" replayed from a CUDA graph (captured once per stack; capture time is inside the first epoch)"
             if graphs else ", eager and compiled with torch.compile (the ratio is the compiled engine's,"
             " what full-scale CPU groups use)" if device.type == "cpu" else ", eager")
          + ("; also compiled with torch.compile (SPARSEL_COMPILE=1; the ratio is the compiled engine's)"
             if device.type == "cuda" and _times_compiled(device) else ""))
    cpu = device.type == "cpu"
    # the reference loop's batch-1 steps are slow on both (~1 ms each on a GPU, Python-bound)
    sizes = {1: 2000, 50: 20_000 if cpu else 60_000, 500: 60_000}
    if quick:
        sizes = {1: 100, 50: 500, 500: 1000}
    rates = {}
    for bs, n in sizes.items():
        r = measure(device, bs, n, runs, root)
        rates[bs] = r
        per = "  ".join(f"{o} {v:.0f}" for o, v in r["ref_by_optimizer"].items())
        line = (f"batch {bs:>3}: {r['steps']:>7} run-steps  reference {r['ref_sps']:9.0f} run-steps/s ({per})  "
                f"engine {r['eng_sps']:9.0f} run-steps/s")
        if "cmp_sps" in r:
            line += (f" ({r['eager_speedup']:.2f}x), compiled {r['cmp_sps']:9.0f} run-steps/s "
                     f"(+{r['compile_s']:.0f} s to compile)")
        print(f"{line}  ratio {r['speedup']:.2f}x")
        if "rows_speedup" in r:
            print(f"batch {bs:>3}: compiled, every first-layer weight updated {r['dense_sps']:9.0f} run-steps/s; "
                  f"only inked pixels' rows (sparsel.rows) {r['cmp_sps']:9.0f}: ratio {r['rows_speedup']:.2f}x")
    from .sweep import _cores
    if cpu and _cores() > 1:  # the auto executor's choice for long groups on a multi-core CPU
        n = _cores()
        for bs in (1, 50):
            r = rates[bs]
            r["core_sps"] = per_core(bs, sizes[bs], runs, n, root)
            print(f"batch {bs:>3}: {n} compiled stacks on one thread each {r['core_sps']:9.0f} run-steps/s "
                  f"against one on {torch.get_num_threads()} threads {r['cmp_sps']:9.0f}: "
                  f"ratio {r['core_sps'] / r['cmp_sps']:.2f}x (one process per core)")
    ev = evaluation_seconds(device, root, quick=quick)
    print(f"evaluation per run and epoch ({'smoke' if quick else 'full'} scale, every metric): "
          f"reference {ev['reference']:.2f} s, engine {ev['engine']:.2f} s")
    ref_s, eng_s = project(rates, ev)
    print(f"projected full-scale registry (MLP runs, training steps and evaluation): reference "
          f"{ref_s / 3600:.1f} h, engine {eng_s / 3600:.1f} h on this device")
    print(f"speedup-bs1 {rates[1]['speedup']:.2f}")
    print(f"speedup-bs50 {rates[50]['speedup']:.2f}")
    print(f"registry-hours {eng_s / 3600:.2f}")
    return rates
