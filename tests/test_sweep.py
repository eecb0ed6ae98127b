"""How a sweep spreads its runs over the machine: the 'auto' executor."""
import os

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


# two engine stacks (widths 64 and 128, batch 50), two seeds each
STACKS = E.cells("width", "smoke", optimizer=["sgd", "adam"], batch_size=[50], value=[64, 128])


def _same_numbers(a: Store, b: Store, tol=1e-5):
    cols = ["key", "epoch", "split", "layer"]
    a = a.records().sort_values(cols).reset_index(drop=True)
    b = b.records().sort_values(cols).reset_index(drop=True)
    assert len(a) == len(b) and (a[cols] == b[cols]).all().all()
    for m in ("accuracy", "sparsity", "selectivity_avg"):
        assert (a[m] - b[m]).abs().max() < tol, m


def test_auto_trains_long_engine_stacks_one_process_per_core_with_the_local_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    monkeypatch.setattr(sweep, "_worth_a_process", lambda g, dev, use_engine: True)  # as full-scale stacks are
    calls = []
    real = sweep._run_processes

    def spy(groups, *args):
        calls.append((sorted(g[0].hidden for g in groups), args[-3]))
        return real(groups, *args)
    monkeypatch.setattr(sweep, "_run_processes", spy)
    auto, local = Store(tmp_path / "auto.sqlite"), Store(tmp_path / "local.sqlite")
    assert sweep.run_cells(STACKS, auto, device="cpu", executor="auto", progress=False)["trained"] == 4
    assert calls == [([(64,), (128,)], 2)]
    sweep.run_cells(STACKS, local, device="cpu", executor="local", progress=False)
    _same_numbers(auto, local)


def test_auto_trains_a_lone_long_stack_here_on_every_core(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    monkeypatch.setattr(sweep, "_worth_a_process", lambda g, dev, use_engine: True)
    monkeypatch.setattr(sweep, "_run_processes", lambda *a: pytest.fail("a process for one group"))
    one = [c for c in STACKS if c.spec.hidden == (64,)]
    assert sweep.run_cells(one, Store(tmp_path / "s.sqlite"), device="cpu", executor="auto",
                           progress=False)["trained"] == 2


def test_worker_processes_report_progress_epoch_by_epoch(tmp_path):
    class Bar:
        updates = []

        def update(self, n):
            self.updates.append(n)
    groups = sweep.engine.plan_groups(sweep.unique_specs(STACKS), "cpu")
    stored = []
    stats = dict(stopped=0)
    sweep._run_processes(groups, lambda g, results: stored.extend(results), Bar(), stats, "cpu", None, True,
                         2, None, None)
    epochs = STACKS[0].spec.epochs
    assert len(stored) == 4 and stats["stopped"] == 0
    assert sum(Bar.updates) == 4 * epochs and len(Bar.updates) == 2 * epochs  # one update per stack-epoch


def test_worth_a_process():
    full = E.cells("baseline", "full")[0].spec
    smoke = E.cells("baseline", "smoke")[0].spec
    cnn = E.cells("cnn", "smoke", model=["cnn"])[0].spec
    assert sweep._worth_a_process([full], "cpu", True)  # compiled: hours of work
    assert not sweep._worth_a_process([smoke], "cpu", True)  # seconds: a process start would dominate
    assert sweep._worth_a_process([cnn], "cpu", True)  # the reference loop, single-thread-friendly
    assert sweep._worth_a_process([smoke], "cpu", False)


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


def test_status_divides_the_estimate_by_the_processes_that_will_train_it(tmp_path, monkeypatch):
    """Two missing stacks of one run each, at the per-step time of the one stored run like them
    scaled by their weights (64 and 128 units where it has 256): on one core the estimate is
    their steps at those times, on two cores (each stack a process of its own under 'auto')
    half of it."""
    store = Store(tmp_path / "s.sqlite")
    sweep.run_cells(E.cells("baseline", "smoke", optimizer=["sgd"]), store, device="cpu", progress=False)
    ran = store.runs().iloc[0]
    missing = E.cells("width", "smoke", optimizer=["sgd"], batch_size=[50], value=[64, 128])
    spec = missing[0].spec
    per_step = ran.seconds / (spec.steps_per_epoch * ran.epochs)
    weights = {w: 785 * w + (w + 1) * 10 for w in (64, 128, 256)}  # 784 inputs + bias -> w -> 10
    scale = (weights[64] + weights[128]) / weights[256]
    monkeypatch.setattr(sweep, "_worth_a_process", lambda g, dev, use_engine: True)
    monkeypatch.setattr(sweep, "_cores", lambda: 1)
    alone = sweep.status(missing, store, device="cpu")
    assert alone["missing"] == 2
    near = dict(abs=0.06)  # status rounds to 0.1 s
    assert alone["eta_seconds"] == pytest.approx(scale * per_step * spec.steps_per_epoch * spec.epochs, **near)
    monkeypatch.setattr(sweep, "_cores", lambda: 2)
    assert sweep.status(missing, store, device="cpu")["eta_seconds"] == pytest.approx(alone["eta_seconds"] / 2, **near)
    assert sweep.status(missing, store, device="cuda")["eta_seconds"] == pytest.approx(alone["eta_seconds"], **near)


def test_a_stack_stopped_in_a_worker_is_counted_as_stopped(tmp_path):
    import time
    groups = sweep.engine.plan_groups(sweep.unique_specs(STACKS), "cpu")
    stats, stored = dict(stopped=0), []

    class Bar:
        def update(self, n):
            pass
    # the deadline is already past: each worker's stack stops before its first epoch
    sweep._run_processes(groups, lambda g, results: stored.extend(results), Bar(), stats, "cpu", None, True,
                         2, tmp_path, time.time() - 1)
    assert stored == [] and stats["stopped"] == 4


def test_status_times_a_run_by_its_own_trainer_and_all_its_updates(tmp_path, monkeypatch):
    """A forgetting run trains on the reference loop for phases A, B and C of five digits each:
    its estimate is those updates at the per-update time of a stored reference-loop MLP run
    (the nearest batch size), not of an engine stack; with no reference-loop MLP run stored it
    borrows the engine's rate and says so."""
    from test_store import fake_result
    from sparsel.spec import RunSpec
    monkeypatch.setattr(sweep, "_cores", lambda: 1)
    forget = RunSpec(batch_size=1, protocol="forget", split_seed=0, epochs=5, epochs_b=3, epochs_c=1,
                     head="shared", carry_state=True)
    assert forget.total_steps == 30_000 * (5 + 3 + 1)
    assert forget.replace(steps_b=100).total_steps == 30_000 * 6 + 100
    assert RunSpec(batch_size=50, epochs=4).total_steps == 1200 * 4
    missing = [E.Cell("forgetting", "sgd", forget)]
    store = Store(tmp_path / "s.sqlite")
    stack = RunSpec(batch_size=1, epochs=1, seed=7)
    store.put(fake_result(stack, trainer="engine+compile", seconds=6.0))  # 0.1 ms an update
    est = sweep.status(missing, store, device="cpu")
    assert est["eta_borrowed"] and est["eta_seconds"] == pytest.approx(1e-4 * forget.total_steps, abs=0.06)
    ref = RunSpec(batch_size=10, epochs=2, seed=8)  # 12,000 updates; the nearest batch to 1 stored
    store.put(fake_result(ref, trainer="reference", seconds=12.0))  # 1 ms an update
    store.put(fake_result(RunSpec(batch_size=1000, epochs=1, seed=9), trainer="reference", seconds=600.0))
    est = sweep.status(missing, store, device="cpu")
    assert not est["eta_borrowed"] and est["eta_seconds"] == pytest.approx(1e-3 * forget.total_steps, abs=0.06)


def test_a_checkpointed_group_resumes_as_it_was_when_more_runs_join_its_stack(tmp_path, monkeypatch):
    """A group stopped mid-way keeps its checkpoint and the list of its runs. A later sweep over
    more cells, which would stack those runs with others (a new group, its hours lost), trains
    the checkpointed group as it was, from its checkpoint, and the newcomers apart; the numbers
    are those of runs never stopped. Once its runs are stored by other means, an orphaned
    checkpoint is removed."""
    from sparsel import engine
    two = E.cells("width", "smoke", optimizer=["sgd", "adam"], batch_size=[50], value=[64])
    three = E.cells("width", "smoke", optimizer=["sgd", "adam", "adagrad"], batch_size=[50], value=[64])
    assert len(engine.plan_groups(sweep.unique_specs(three), "cpu")) == 1  # all three would share a stack
    store = Store(tmp_path / "s.sqlite")
    ckpt = sweep.checkpoint_dir(store)
    real = engine.train_group

    def stop_after_epoch_1(specs, *a, **kw):
        kw.update(checkpoint_every=0, on_epoch=lambda n: engine.request_stop())  # stops at the next boundary
        try:
            return real(specs, *a, **kw)
        finally:
            engine._STOP.clear()
    monkeypatch.setattr(engine, "train_group", stop_after_epoch_1)
    stats = sweep.run_cells(two, store, device="cpu", executor="local", progress=False)
    assert stats["stopped"] == 2 and [len(k) for k in engine.checkpointed_groups(ckpt)] == [2]

    groups, resumed = [], []

    def spy(specs, *a, **kw):
        groups.append(sorted(s.optimizer for s in specs))
        resumed.append((ckpt / f"group-{engine.group_id(specs)}.pt").exists())
        return real(specs, *a, **kw)
    monkeypatch.setattr(engine, "train_group", spy)
    stats = sweep.run_cells(three, store, device="cpu", executor="local", progress=False)
    assert stats["trained"] == 3 and groups == [["adam", "sgd"], ["adagrad"]] and resumed == [True, False]
    assert engine.checkpointed_groups(ckpt) == [] and not list(ckpt.glob("group-*"))

    fresh = Store(tmp_path / "fresh.sqlite")
    sweep.run_cells(three, fresh, device="cpu", executor="local", progress=False)
    a, b = store.records(), fresh.records()
    cols = ["key", "epoch", "split", "layer"]
    a, b = a.sort_values(cols).reset_index(drop=True), b.sort_values(cols).reset_index(drop=True)
    assert (a[cols] == b[cols]).all().all()
    for m in ("accuracy", "sparsity", "selectivity_avg"):  # alone vs stacked: float rounding at most
        assert (a[m] - b[m]).abs().max() < 1e-5, m

    # an orphan: a checkpoint of runs another machine has stored since
    monkeypatch.setattr(engine, "train_group", stop_after_epoch_1)
    other = Store(tmp_path / "other.sqlite")
    sweep.run_cells(two, other, device="cpu", executor="local", progress=False)
    assert len(engine.checkpointed_groups(sweep.checkpoint_dir(other))) == 1
    from sparsel.store import pack, unpack
    pack(store, tmp_path / "arch")
    unpack(tmp_path / "arch", other)
    sweep.run_cells(two, other, device="cpu", executor="local", progress=False)
    assert not list(sweep.checkpoint_dir(other).glob("group-*"))


def test_status_counts_only_the_epochs_a_checkpointed_group_has_left(tmp_path, monkeypatch, capsys):
    """Two runs stopped after their first epoch of three resume from their checkpoint: their
    estimate is two thirds of the same runs' estimate from scratch, and status says so; a
    checkpoint of runs partly stored elsewhere is not resumed (``_plan``), so not counted."""
    from sparsel import engine
    from sparsel.cli import main
    monkeypatch.setattr(sweep, "_cores", lambda: 1)
    store = Store(tmp_path / "s.sqlite")
    from test_store import fake_result  # a slow stored run: an estimate far above status's 0.1 s rounding
    store.put(fake_result(E.cells("baseline", "smoke", optimizer=["sgd"])[0].spec, trainer="engine", seconds=600.0))
    two = E.cells("width", "smoke", optimizer=["sgd", "adam"], batch_size=[50], value=[64])
    assert {c.spec.epochs for c in two} == {3}
    scratch = sweep.status(two, store, device="cpu")
    assert scratch["resuming"] == {} and scratch["eta_seconds"] > 1
    real = engine.train_group

    def stop_after_epoch_1(specs, *a, **kw):
        kw.update(checkpoint_every=0, on_epoch=lambda n: engine.request_stop())
        try:
            return real(specs, *a, **kw)
        finally:
            engine._STOP.clear()
    monkeypatch.setattr(engine, "train_group", stop_after_epoch_1)
    assert sweep.run_cells(two, store, device="cpu", executor="local", progress=False)["stopped"] == 2
    keys = sorted(c.spec.key for c in two)
    assert engine.checkpoint_epoch(keys, sweep.checkpoint_dir(store)) == 1
    resumed = sweep.status(two, store, device="cpu")
    assert resumed["resuming"] == {k: 1 for k in keys}
    assert resumed["eta_seconds"] == pytest.approx(scratch["eta_seconds"] * 2 / 3, abs=0.1)
    # asked about one run of the group (a stack may hold runs of several experiments): it resumes too
    assert sweep.status(two[:1], store, device="cpu")["resuming"] == {two[0].spec.key: 1}
    assert main(["status", "width", "--scale", "smoke", "--store", str(store.path)]) == 0
    assert "2 missing runs resume from checkpoints (after epoch 1)" in capsys.readouterr().out
    # one of the two stored by other means: the group is not resumed, both counted from scratch
    (done,) = [c for c in two if c.spec.optimizer == "sgd"]
    monkeypatch.setattr(engine, "train_group", real)
    other = Store(tmp_path / "other.sqlite")
    sweep.run_cells([done], other, device="cpu", progress=False)
    from sparsel.store import pack, unpack
    pack(other, tmp_path / "arch")
    unpack(tmp_path / "arch", store)
    after = sweep.status(two, store, device="cpu")
    assert after["missing"] == 1 and after["resuming"] == {}
    for f in sweep.checkpoint_dir(store).glob("group-*"):  # the same estimate without the checkpoint
        f.unlink()
    assert after["eta_seconds"] == sweep.status(two, store, device="cpu")["eta_seconds"]


def test_busy_cores_from_two_snapshots_by_hand():
    before = {0: (100, 1000), 1: (50, 500), 2: (0, 10)}
    after = {0: (350, 1500), 1: (550, 1000), 2: (0, 10)}  # cpu0 half busy, cpu1 all busy, cpu2 no ticks
    assert sweep.busy_cores(before, after, {0, 1}) == pytest.approx(1.5)
    assert sweep.busy_cores(before, after, {1}) == pytest.approx(1.0)
    assert sweep.busy_cores(before, after, {2, 3}) == 0.0  # no ticks between, and a CPU not listed


def test_cpu_times_reads_each_cpu_line_of_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\n"  # the sum of all CPUs: not a CPU of its own
                    "cpu0 10 1 4 80 5 0 0 0 0 0\n"  # busy 10+1+4, total 100
                    "cpu1 3 0 2 20 0 1 1 3 7 0\n"  # guest (7) is inside user already: 8 fields only
                    "intr 12345 1 2\nctxt 99\n")
    assert sweep._cpu_times(str(stat)) == {0: (15, 100), 1: (10, 30)}
    assert sweep._cpu_times(str(tmp_path / "absent")) == {}


@pytest.mark.skipif(not __import__("os").path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_foreground_training_takes_one_thread_when_every_core_is_busy(monkeypatch):
    """A busy process on each core (as a background campaign keeps them): torch's threads would
    wait on each other at every op's barrier, so training here drops to one thread."""
    import os
    import subprocess
    import sys
    import torch
    spin = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"
    procs = [subprocess.Popen([sys.executable, "-c", spin, str(c)]) for c in sorted(os.sched_getaffinity(0))]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(max(2, threads))
        import time
        time.sleep(0.3)  # the spinners start
        assert sweep.foreground_threads(sample_s=0.5) == 1
        torch.set_num_threads(1)
        assert sweep.foreground_threads() == 1  # never more than torch was given
    finally:
        torch.set_num_threads(threads)
        for p in procs:
            p.kill()


def test_local_training_uses_the_foreground_threads_and_gives_torchs_back(tmp_path, monkeypatch):
    import torch
    seen = []
    real = sweep.train_group

    def spy(group, *a, **k):
        seen.append(torch.get_num_threads())
        return real(group, *a, **k)
    monkeypatch.setattr(sweep, "train_group", spy)
    monkeypatch.setattr(sweep, "foreground_threads", lambda sample_s=0.25: 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sweep.run_cells(STACKS, Store(tmp_path / "s.sqlite"), device="cpu", executor="local", progress=False)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_status_times_a_missing_run_by_the_newest_runs_like_it(tmp_path, monkeypatch):
    """Runs stored long ago by slower code (or on a busier machine) do not hold the estimate
    up: 30 old runs at 10 ms an update, then NEWEST_RATES new ones at 1 ms; the estimate is
    the new rate, although the old runs are the majority."""
    from test_store import fake_result
    from sparsel.spec import RunSpec
    monkeypatch.setattr(sweep, "_cores", lambda: 1)
    store = Store(tmp_path / "s.sqlite")
    steps = RunSpec(batch_size=50, epochs=1).total_steps  # 1,200 updates
    for seed in range(30):
        store.put(fake_result(RunSpec(batch_size=50, epochs=1, seed=seed), trainer="engine", seconds=steps * 1e-2))
    missing = [E.Cell("x", "sgd", RunSpec(batch_size=50, epochs=2, seed=999))]
    assert sweep.status(missing, store, device="cpu")["eta_seconds"] == pytest.approx(2 * steps * 1e-2, abs=0.06)
    for seed in range(100, 100 + sweep.NEWEST_RATES):
        store.put(fake_result(RunSpec(batch_size=50, epochs=1, seed=seed), trainer="engine", seconds=steps * 1e-3))
    assert sweep.status(missing, store, device="cpu")["eta_seconds"] == pytest.approx(2 * steps * 1e-3, abs=0.06)


def test_status_times_a_missing_run_by_stored_runs_of_the_nearest_size(tmp_path, monkeypatch):
    """A step's fixed cost dominates a narrow run: per weight, the 16-unit runs stored last are
    far slower than the 1,024-unit ones stored before them. A missing 2,048-unit run is timed by
    the 1,024-unit runs' rate per weight, a missing 32-unit run by the 16-unit runs'."""
    from test_store import fake_result
    from sparsel.spec import RunSpec
    monkeypatch.setattr(sweep, "_cores", lambda: 1)
    store = Store(tmp_path / "s.sqlite")
    steps = RunSpec(batch_size=50, epochs=1).total_steps

    def put(width, seed, per_weight):
        spec = RunSpec(batch_size=50, epochs=1, seed=seed, hidden=(width,))
        store.put(fake_result(spec, trainer="engine", seconds=steps * per_weight * sweep._weights(spec)))
    for seed in range(3):
        put(1024, seed, 1e-9)
    for seed in range(10, 10 + sweep.NEWEST_RATES):
        put(16, seed, 1e-7)
    for width, per_weight in ((2048, 1e-9), (32, 1e-7)):
        spec = RunSpec(batch_size=50, epochs=2, seed=999, hidden=(width,))
        want = per_weight * sweep._weights(spec) * 2 * steps
        got = sweep.status([E.Cell("x", "sgd", spec)], store, device="cpu")["eta_seconds"]
        assert got == pytest.approx(want, abs=0.06)


def test_status_times_a_missing_run_by_its_own_optimizers_runs(tmp_path, monkeypatch):
    """At batch 1 an Adam update costs about twice an SGD one: with both stored, a missing Adam
    run is timed by the Adam runs and a missing SGD run by the SGD runs; an optimizer with no run
    stored at its batch size takes the median of all of them, and a batch size stored for
    another optimizer only is preferred to its own optimizer's runs at another batch size."""
    from test_store import fake_result
    from sparsel.spec import RunSpec
    monkeypatch.setattr(sweep, "_cores", lambda: 1)
    store = Store(tmp_path / "s.sqlite")
    steps = RunSpec(batch_size=1, epochs=1).total_steps

    def put(optimizer, seed, per_step, batch_size=1):
        spec = RunSpec(optimizer=optimizer, batch_size=batch_size, epochs=1, seed=seed)
        store.put(fake_result(spec, trainer="engine", seconds=spec.total_steps * per_step))
    put("sgd", 1, 1e-4)
    put("sgd", 2, 1e-4)
    put("adam", 1, 3e-4)  # median of the three: 1e-4; of Adam's: 3e-4

    def eta(optimizer, batch_size=1):
        spec = RunSpec(optimizer=optimizer, batch_size=batch_size, epochs=1, seed=999)
        return sweep.status([E.Cell("x", optimizer, spec)], store, device="cpu")["eta_seconds"], spec.total_steps
    got, n = eta("adam")
    assert got == pytest.approx(3e-4 * n, abs=0.06)
    got, n = eta("sgd")
    assert got == pytest.approx(1e-4 * n, abs=0.06)
    got, n = eta("adagrad")
    assert got == pytest.approx(1e-4 * n, abs=0.06)
    put("adam", 3, 9e-3, batch_size=50)  # Adam's only other batch size; SGD has none at 50
    got, n = eta("sgd", 50)
    assert got == pytest.approx(9e-3 * n, abs=0.06)  # its batch size, stored for Adam only
    put("sgd", 3, 5e-4, batch_size=2)
    got, n = eta("adam", 2)
    assert got == pytest.approx(5e-4 * n, abs=0.06)  # batch 2 of SGD before batch 1 or 50 of Adam
    assert steps == n * 2
    # the width before the optimizer: Adam stored only at 16 units, SGD at 256 (all the runs
    # above): a missing 256-unit Adam run at batch 20 takes the SGD rate, not 16 units' (per
    # weight many times higher)
    wide = RunSpec(optimizer="sgd", batch_size=20, epochs=1, seed=5)
    narrow = RunSpec(optimizer="adam", batch_size=20, epochs=1, seed=6, hidden=(16,))
    store.put(fake_result(wide, trainer="engine", seconds=wide.total_steps * 1e-3))
    store.put(fake_result(narrow, trainer="engine", seconds=narrow.total_steps * 1e-3))
    got, n = eta("adam", 20)
    assert got == pytest.approx(1e-3 * n, abs=0.06)


def test_ranked_groups_start_by_rank_then_longest_first(tmp_path, monkeypatch):
    """With ``rank``, a sweep starts its groups rank by rank and, within a rank, the longest
    first by the stored runs' rates: an Adam update at 3x SGD's, a 2,048-unit run at 32x the
    weights of a 64-unit one. A group that resumes from a checkpoint starts before all; without
    ``rank`` the groups keep the grid's order."""
    from test_store import fake_result
    from sparsel.spec import RunSpec
    store = Store(tmp_path / "s.sqlite")
    for opt, per_weight in (("sgd", 1e-9), ("adam", 3e-9)):
        spec = RunSpec(optimizer=opt, batch_size=1, epochs=1, seed=7, hidden=(256,))
        store.put(fake_result(spec, trainer="engine", seconds=spec.total_steps * per_weight * sweep._weights(spec)))
    cells = [E.Cell("a" if w == 64 else "b", opt, RunSpec(optimizer=opt, batch_size=1, epochs=1, hidden=(w,)))
             for w in (64, 2048) for opt in ("sgd", "adam")]
    started = []
    monkeypatch.setattr(sweep, "_run_local", lambda groups, *a: started.append([(g[0].optimizer, g[0].hidden[0])
                                                                                  for g in groups]))

    def run(rank):
        sweep.run_cells(cells, store, device="cpu", executor="local", progress=False, max_group=1, rank=rank)
        return started.pop()
    assert run(None) == [("sgd", 64), ("adam", 64), ("sgd", 2048), ("adam", 2048)]
    assert run(lambda c: 0) == [("adam", 2048), ("sgd", 2048), ("adam", 64), ("sgd", 64)]
    assert run(lambda c: c.experiment) == [("adam", 64), ("sgd", 64), ("adam", 2048), ("sgd", 2048)]
    ckpt = sweep.checkpoint_dir(store)
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "group-x.json").write_text(f'["{cells[0].spec.key}"]')  # SGD, 64 units: stopped mid-run
    (ckpt / "group-x.pt").write_bytes(b"")
    assert run(lambda c: 0) == [("sgd", 64), ("adam", 2048), ("sgd", 2048), ("adam", 64)]
    (ckpt / "group-y.json").write_text(f'["{cells[1].spec.key}"]')  # Adam, 64 units: stopped before it
    (ckpt / "group-y.pt").write_bytes(b"")
    os.utime(ckpt / "group-y.json", (1, 1))  # the oldest checkpoint resumes first
    assert run(lambda c: 0) == [("adam", 64), ("sgd", 64), ("adam", 2048), ("sgd", 2048)]
    for f in ckpt.iterdir():
        f.unlink()
    # a stack of runs of two experiments takes the smaller rank: 64 units of 'b' stacked with
    # 64 units of 'a' start before 2,048 units of 'b'
    two = [E.Cell(x, "sgd", RunSpec(batch_size=1, epochs=1, hidden=(w,), seed=seed))
           for x, w, seed in (("b", 2048, 1), ("b", 64, 1), ("a", 64, 2))]
    sweep.run_cells(two, store, device="cpu", executor="local", progress=False, rank=lambda c: c.experiment)
    assert started.pop() == [("sgd", 64), ("sgd", 2048)]
