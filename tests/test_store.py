"""The results store: round trip, atomic writes, resume after a kill, clear errors."""
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from sparsel.spec import RunSpec
from sparsel.store import SCHEMA_VERSION, Store, StoreError
from sparsel.sweep import run_cells, status
from sparsel.train import RunResult
from sparsel import experiments as E


def fake_result(spec, value=0.5, diverged=False):
    rows = [dict(epoch=e, split="test", layer="mean", loss=value, accuracy=value,
                 sparsity=math.nan if diverged else value, sparsity_std=0.1, selectivity_avg=value,
                 selectivity_std=0.2) for e in range(spec.epochs + 1)]
    return RunResult(spec, rows, diverged=diverged, diverged_epoch=1 if diverged else None, seconds=1.0)


def test_round_trip_keeps_nan_as_nan(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    spec = RunSpec(epochs=2)
    st.put(fake_result(spec, diverged=True))
    assert st.has(spec) and not st.has(spec.replace(seed=5))
    rec = st.records([spec.key])
    assert len(rec) == 3 and rec.sparsity.isna().all() and (rec.accuracy == 0.5).all()
    runs = st.runs()
    assert runs.diverged.tolist() == [1] and runs.code_version[0].startswith("0.")
    assert runs.hidden[0] == (256,)


def test_a_failed_write_leaves_no_partial_run(tmp_path, monkeypatch):
    st = Store(tmp_path / "s.sqlite")
    spec = RunSpec(epochs=2)
    bad = fake_result(spec)
    bad.rows[1]["layer"] = object()  # sqlite cannot bind this: the insert fails mid-run
    with pytest.raises(Exception):
        st.put(bad)
    assert not st.has(spec) and len(st.records()) == 0


def test_newer_schema_and_foreign_files_are_refused_clearly(tmp_path):
    p = tmp_path / "new.sqlite"
    Store(p).close()
    db = sqlite3.connect(p)
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit(), db.close()
    with pytest.raises(StoreError, match="Upgrade sparsel"):
        Store(p)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable sparsel store"):
        Store(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not a sparsel store"):
        Store(other)


def test_sweep_resumes_after_an_interruption(tmp_path, monkeypatch):
    from sparsel import sweep
    st = Store(tmp_path / "s.sqlite")
    cells = E.cells("baseline", "smoke", seeds=(1, 2))
    calls = []
    real = sweep.train_group

    def flaky(specs, *a, **k):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(specs)
        return [fake_result(s) for s in specs]

    monkeypatch.setattr(sweep, "train_group", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_cells(cells, st, device="cpu", use_engine=False, progress=False)
    assert len(st.done_keys()) == 3
    monkeypatch.setattr(sweep, "train_group", lambda specs, *a, **k: [fake_result(s) for s in specs])
    stats = run_cells(cells, st, device="cpu", use_engine=False, progress=False)
    assert stats == dict(total=8, cached=3, trained=5, diverged=0)
    assert status(cells, st)["missing"] == 0


@pytest.mark.slow
def test_killed_cli_run_loses_no_finished_run(tmp_path):
    store = tmp_path / "k.sqlite"
    cmd = [sys.executable, "-m", "sparsel.cli", "run", "batch_size", "--scale", "smoke", "--device", "cpu",
           "--store", str(store), "--quiet", "--no-engine", "--only", "batch_size=50,200,500,1000"]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and done < 3:
        time.sleep(0.3)
        if store.exists():
            try:
                done = len(Store(store).done_keys())
            except StoreError:
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= done < 16
    before = Store(store).done_keys()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"{len(before)} already stored" in out.stdout
    assert before <= Store(store).done_keys() and len(Store(store).done_keys()) == 16


def test_pack_and_unpack_round_trip(tmp_path):
    from sparsel.store import pack, unpack
    a = Store(tmp_path / "a.sqlite")
    s1, s2 = RunSpec(epochs=2), RunSpec(epochs=2, seed=7)
    a.put(fake_result(s1, 0.25))
    a.put(fake_result(s2, 0.5, diverged=True))
    info = pack(a, tmp_path / "arch")
    assert info["runs"] == 2 and (tmp_path / "arch" / "FORMAT").exists()
    b = Store(tmp_path / "b.sqlite")
    b.put(fake_result(s1, 0.9))  # already present: kept, not overwritten
    assert unpack(tmp_path / "arch", b) == 1
    assert unpack(tmp_path / "arch", b) == 0
    rb = b.records().set_index(["key", "epoch", "split", "layer"]).sort_index()
    assert rb.loc[s1.key].accuracy.tolist() == [0.9] * 3
    assert rb.loc[s2.key].sparsity.isna().all() and rb.loc[s2.key].accuracy.tolist() == [0.5] * 3
    assert b.runs([s2.key]).diverged.tolist() == [1]
