"""The Ray executor against a local Ray instance with two fake GPUs."""
import os

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra; `make test` installs it")

from sparsel import experiments as E  # noqa: E402
from sparsel.store import Store  # noqa: E402
from sparsel.sweep import run_cells  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"SPARSEL_DATA": os.environ["SPARSEL_DATA"]}})
    yield
    ray.shutdown()


CELLS = E.cells("batch_size", "smoke", optimizer=["sgd", "adam"], batch_size=[200, 500])


def test_ray_results_equal_local_results(cluster, tmp_path):
    remote, local = Store(tmp_path / "ray.sqlite"), Store(tmp_path / "local.sqlite")
    stats = run_cells(CELLS, remote, device="cpu", executor="ray", progress=False)
    assert stats["trained"] == len(CELLS) == 4
    run_cells(CELLS, local, device="cpu", progress=False)
    a = remote.records().sort_values(["key", "epoch", "split", "layer"]).reset_index(drop=True)
    b = local.records().sort_values(["key", "epoch", "split", "layer"]).reset_index(drop=True)
    assert (a[["key", "epoch", "split", "layer"]] == b[["key", "epoch", "split", "layer"]]).all().all()
    assert (a.sparsity - b.sparsity).abs().max() < 1e-6


def test_a_lost_worker_costs_only_its_group(cluster, tmp_path):
    marker = tmp_path / "crashed-once"
    store = Store(tmp_path / "crash.sqlite")

    def crash_once(specs, device, root, use_engine):  # pickled by value into the workers
        from sparsel.sweep import train_group
        if specs[0].batch_size == 500 and not marker.exists():  # one group: all optimizers share a stack
            marker.touch()
            os._exit(1)  # the worker process dies mid-group
        return train_group(specs, device, root, use_engine)

    from sparsel import ray_executor, sweep
    original = ray_executor.run_groups
    try:
        ray_executor.run_groups = lambda groups, **kw: original(groups, task=crash_once, **kw)
        stats = sweep.run_cells(CELLS, store, device="cpu", executor="ray", progress=False)
    finally:
        ray_executor.run_groups = original
    assert marker.exists()
    assert stats["trained"] == 4 and len(store.done_keys()) == 4
