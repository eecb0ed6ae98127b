"""How a sweep spreads its runs over the machine: the 'auto' executor."""
import pytest

from sparsel import experiments as E
from sparsel import sweep
from sparsel.store import Store

# two CNN runs (the reference loop) and two MLP runs (one engine stack)
CELLS = E.cells("cnn", "smoke", optimizer=["sgd", "adam"])


def test_auto_trains_reference_runs_one_process_per_core_with_the_local_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    calls = []
    real = sweep._run_processes

    def spy(groups, *args):
        calls.append(([g[0].model for g in groups], args[-3]))  # the models and the worker count
        return real(groups, *args)
    monkeypatch.setattr(sweep, "_run_processes", spy)
    auto, local = Store(tmp_path / "auto.sqlite"), Store(tmp_path / "local.sqlite")
    stats = sweep.run_cells(CELLS, auto, device="cpu", executor="auto", progress=False)
    assert stats["trained"] == len(CELLS) == 4
    assert calls == [(["cnn", "cnn"], 2)]  # the MLP stack trained here, the CNN runs on two processes
    sweep.run_cells(CELLS, local, device="cpu", executor="local", progress=False)
    cols = ["key", "epoch", "split", "layer"]
    a = auto.records().sort_values(cols).reset_index(drop=True)
    b = local.records().sort_values(cols).reset_index(drop=True)
    assert (a[cols] == b[cols]).all().all()
    # one intra-op thread per process instead of two: float rounding at most
    for m in ("accuracy", "sparsity", "selectivity_avg"):
        assert (a[m] - b[m]).abs().max() < 1e-5, m


@pytest.mark.parametrize("device,runs,cores,want", [("cpu", 5, 2, 2), ("cpu", 1, 2, 1), ("cpu", 3, 8, 3),
                                                    ("cuda", 5, 2, 1)])
def test_auto_workers(monkeypatch, device, runs, cores, want):
    monkeypatch.setattr(sweep, "_cores", lambda: cores)
    assert sweep.auto_workers(device, runs) == want


def test_auto_starts_no_process_after_the_deadline(tmp_path, monkeypatch):
    import time
    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    monkeypatch.setattr(sweep, "_run_processes", lambda *a: pytest.fail("processes started after the deadline"))
    stats = sweep.run_cells(CELLS, Store(tmp_path / "s.sqlite"), device="cpu", executor="auto", progress=False,
                            deadline=time.time() - 1)
    assert stats["trained"] == 0 and stats["stopped"] == 4
