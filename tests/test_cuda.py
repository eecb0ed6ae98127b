"""The engine on a CUDA GPU: CUDA-graph replay equals eager steps, and both equal the
reference loop. Skipped without a GPU. Also a script for GPU machines without pytest:

    python tests/test_cuda.py             # exit status 0 = every check passed
    python tests/test_cuda.py --compiled  # also a stack compiled with torch.compile (SPARSEL_COMPILE=1)
"""
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sparsel import engine  # noqa: E402
from sparsel.data import load_mnist  # noqa: E402
from sparsel.spec import RunSpec  # noqa: E402
from sparsel.train import train_run  # noqa: E402

try:
    import pytest
    pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
except ImportError:  # the script path on a bare GPU machine
    pytest = None

ALL = ("loss", "accuracy", "sparsity", "selectivity_avg", "gini", "informedness", "auroc", "precision100")
SMOOTH = ("loss", "sparsity", "selectivity_avg", "gini", "treves_rolls")  # no counting: no flips


def _group(batch_size):
    # 1,000 images at batch 30 leave a last, smaller batch: it runs outside the graph
    kw = dict(epochs=2, train_size=1000, test_size=500, batch_size=batch_size, hidden=(32, 16))
    return [RunSpec(optimizer="adam", seed=1, **kw), RunSpec(optimizer="sgd", seed=2, momentum=0.9, **kw),
            RunSpec(optimizer="adadelta", seed=3, weight_decay=1e-4, **kw), RunSpec(optimizer="adagrad", seed=4, **kw),
            RunSpec(optimizer="adam", seed=5, beta1=0.5, lr=3e-3, **kw)]


def _worst(a_runs, b_runs, metrics):
    worst = 0.0
    for a, b in zip(a_runs, b_runs):
        for x, y in zip(a.rows, b.rows):
            for m in metrics:
                if not (math.isnan(x[m]) and math.isnan(y[m])):
                    worst = max(worst, abs(x[m] - y[m]))
    return worst


def check(batch_size=30, compiled=False) -> dict:
    """Worst differences: graph replay vs eager steps, the engine vs the reference loop, and
    with ``compiled`` a torch.compile'd stack (graphs too) vs eager (Adagrad left out of the
    last two: its first steps divide by a near-zero accumulator, as in tests/test_engine.py)."""
    from sparsel.train import resolve_device
    resolve_device("cuda")  # TF32 off, as every run
    data = load_mnist(None, "cuda", 1000, 500)
    group = _group(batch_size)
    os.environ["SPARSEL_CUDA_GRAPHS"] = "1"
    graphed = engine.train_group(group, "cuda", data=data)
    os.environ["SPARSEL_CUDA_GRAPHS"] = "0"
    try:
        eager = engine.train_group(group, "cuda", data=data)
    finally:
        os.environ.pop("SPARSEL_CUDA_GRAPHS")
    ref = [train_run(s, data, "cuda") for s in group if s.optimizer != "adagrad"]
    eng = [r for r in eager if r.spec.optimizer != "adagrad"]
    out = dict(graph_vs_eager=_worst(graphed, eager, ALL), engine_vs_reference=_worst(eng, ref, SMOOTH))
    if compiled:  # torch.compile's fused kernels, replayed from a graph: other rounding only
        fused = engine.train_group(group, "cuda", data=data, compile=True)
        out["compiled_vs_eager"] = _worst([r for r in fused if r.spec.optimizer != "adagrad"], eng, SMOOTH)
        out["compiled_trainer"] = sorted({r.trainer for r in fused})
    return out


def passed(out) -> bool:
    return (out["graph_vs_eager"] <= 1e-6 and out["engine_vs_reference"] <= 2e-3
            and out.get("compiled_vs_eager", 0.0) <= 2e-3
            and out.get("compiled_trainer", ["engine+compile"]) == ["engine+compile"])


def test_cuda_graphs_equal_eager_and_reference():
    out = check()
    assert out["graph_vs_eager"] <= 1e-6, out        # the same kernels, replayed
    assert out["engine_vs_reference"] <= 2e-3, out   # as tests/test_engine.py


def test_a_compiled_stack_on_cuda_gives_the_eager_numbers():
    out = check(compiled=True)
    assert passed(out), out


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("no CUDA GPU")
        sys.exit(2)
    out = check(compiled="--compiled" in sys.argv)  # --compiled: also torch.compile on CUDA
    print(f"cuda check on {torch.cuda.get_device_name()}: {out}")
    sys.exit(0 if passed(out) else 1)
