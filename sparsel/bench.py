"""``sparsel bench``: the reference loop against the stacked engine, side by side, one process.

Both train the same specs (the four optimizers at Table 5.1's settings, several seeds) for one
epoch on a training subset, at batch size 1 and 50, including their per-epoch evaluation.
Prints run-steps per second for each and the ratio, then projects the wall time of the whole
full-scale registry both ways from the measured rates. The last line is ``speedup-bs1 <ratio>``.
"""
from __future__ import annotations

import time

import torch

from . import engine, experiments
from .data import load_mnist
from .spec import RunSpec
from .train import resolve_device, train_run


def _check_runs(runs):
    """``runs`` per measurement: at least 1, else the rates are 0 steps/s and the projection divides by 0."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs per measurement must be a whole number >= 1 (e.g. --runs 16); got {runs!r}")


def _specs(batch_size, train_size, runs):
    _check_runs(runs)
    seeds = range(1, runs // 4 + 2)
    out = [RunSpec(optimizer=o, batch_size=batch_size, epochs=1, train_size=train_size, test_size=100, seed=s)
           for s in seeds for o in ("sgd", "adagrad", "adadelta", "adam")]
    return out[:runs]


def _time(fn):
    fn()  # warm up allocators and kernels (and CUDA context)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def measure(device, batch_size, train_size, runs, root=None) -> dict:
    """Run-steps per second of the reference loop and of the engine on the same specs."""
    specs = _specs(batch_size, train_size, runs)
    data = load_mnist(root, device, train_size, 100)
    steps = len(specs) * -(-train_size // batch_size)
    groups = engine.plan_groups(specs, device)
    ref = _time(lambda: [train_run(s, data, device) for s in specs])
    eng = _time(lambda: [engine.train_group(g, device, data=data) for g in groups])
    return dict(batch_size=batch_size, runs=len(specs), steps=steps, ref_sps=steps / ref, eng_sps=steps / eng,
                speedup=ref / eng)


def project(rates: dict) -> tuple[float, float]:
    """Seconds for every MLP run-step of the full registry, reference vs engine.

    Per-step time at batch size b is interpolated linearly between the measured b = 1 and
    b = 50 (and extrapolated above 50): the time of a step grows with the data it touches.
    Evaluation passes and the 12 CNN runs are not included.
    """
    bad = [f"{k} {rates[b][k]} at batch {b}" for b in (1, 50) for k in ("ref_sps", "eng_sps") if not rates[b][k] > 0]
    if bad:
        raise ValueError(f"cannot project from a measured rate of 0 steps/s ({', '.join(bad)}): "
                         "measure at least one run (runs >= 1)")
    specs = experiments.cells("all", "full")
    seen, totals = set(), [0.0, 0.0]
    for c in specs:
        s = c.spec
        if s.key in seen or s.model != "mlp":
            continue
        seen.add(s.key)
        n = s.steps_per_epoch * s.epochs
        for i, key in enumerate(("ref_sps", "eng_sps")):
            t1, t50 = 1 / rates[1][key], 1 / rates[50][key]
            per_step = t1 + (t50 - t1) * (s.batch_size - 1) / 49
            totals[i] += n * max(per_step, t1)
    return totals[0], totals[1]


def bench(device="auto", root=None, runs=8, quick=False) -> dict:
    """Measure and print; ``quick`` uses tiny sizes (checks the command, measures nothing useful)."""
    _check_runs(runs)
    device = resolve_device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"sparsel bench on {name}, torch {torch.__version__}; {runs} runs per measurement "
          "(4 optimizers x seeds), 1 epoch each, evaluation included")
    sizes = {1: 2000 if device.type == "cpu" else 10_000, 50: 20_000 if device.type == "cpu" else 60_000}
    if quick:
        sizes = {1: 100, 50: 500}
    rates = {}
    for bs, n in sizes.items():
        r = measure(device, bs, n, runs, root)
        rates[bs] = r
        print(f"batch {bs:>2}: {r['steps']:>7} run-steps  reference {r['ref_sps']:10.0f} steps/s  "
              f"engine {r['eng_sps']:10.0f} steps/s  ratio {r['speedup']:.2f}x")
    ref_s, eng_s = project(rates)
    print(f"projected full-scale registry (MLP training steps only): reference {ref_s / 3600:.2f} h, "
          f"engine {eng_s / 3600:.2f} h ({eng_s / 60:.1f} min)")
    print(f"speedup-bs1 {rates[1]['speedup']:.2f}")
    return rates
