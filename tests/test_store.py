"""The results store and its committed archive.

Each defect of issue 13 has a test here that fails on the old code (schema 1, archive
format 1, 90951f7) and passes now; the defect number is in the test's docstring. The
kill-at-random-points checks of the whole campaign path are in test_faults.py.
"""
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparsel import experiments as E
from sparsel.metrics import FIELDS, STREAM_FIELDS
from sparsel.spec import RunSpec
from sparsel.store import (SCHEMA_VERSION, V1_VALUES, ArchiveError, Store, StoreError, expected_rows, pack,
                           read_archive, read_profiles, unpack)
from sparsel.sweep import run_cells, status
from sparsel.train import RunResult, nan_rows, rows_for

REPO = Path(__file__).resolve().parents[1]
IDX = ["key", "epoch", "split", "layer"]
SPLITS = ("test", "train", "train_during")


# --- realistic fake runs ----------------------------------------------------------------
def fake_result(spec, value=0.5, diverged_epoch=None, trainer="reference", seconds=1.25):
    """A complete RunResult as a real run records it: rows_for every (epoch, split, layer)
    (``expected_rows``), values with many significant digits, the streamed 'train_during'
    split NaN outside ``STREAM_FIELDS``, a one-layer run's 'mean' and 'weighted' equal to its
    layer '1' (as ``combine_layers`` makes them); ``diverged_epoch``: NaN rows from that
    epoch on, as ``train_run`` leaves them. Same (spec, value): same numbers."""
    rng = random.Random(f"{spec.key}/{value}")
    n = len(spec.hidden)

    def summary(split):
        return {k: (value + rng.random() / 3 if split != "train_during" or k in STREAM_FIELDS else math.nan)
                for k in FIELDS}
    rows = []
    for epoch in range(spec.epochs + 1):
        for split in SPLITS if epoch else SPLITS[:2]:
            per = [summary(split) for _ in range(n)]
            layers = {str(i + 1): s for i, s in enumerate(per)}
            layers["mean"] = per[0] if n == 1 else summary(split)
            layers["weighted"] = per[0] if n == 1 else summary(split)
            rows += rows_for(epoch, split, 2.3 * value + rng.random(), rng.random(), layers)
    result = RunResult(spec, rows, seconds=seconds, trainer=trainer)
    if diverged_epoch is not None:
        result.mark_diverged(diverged_epoch, n)
        for epoch in range(diverged_epoch + 1, spec.epochs + 1):
            for split in SPLITS:
                result.rows += nan_rows(epoch, split, n)
    assert len(result.rows) == expected_rows(spec)
    return result


def smoke_specs(n=None):
    """The baseline experiment's smoke-scale specs (so the CLI can name them)."""
    return [c.spec for c in E.cells("baseline", "smoke")][:n]


def filled(path, specs, value=0.5, **kw):
    st = Store(path)
    for s in specs:
        assert st.put(fake_result(s, value, **kw))
    return st


def wide(rec):
    return rec.set_index(IDX).sort_index()


def same_values(a, b):
    """Equal tables, NaN equal to NaN (and only to NaN)."""
    a, b = wide(a), wide(b)
    cols = sorted(set(a.columns) | set(b.columns))
    a, b = a.reindex(columns=cols), b.reindex(columns=cols)
    assert a.index.equals(b.index)
    x, y = a.to_numpy(float), b.to_numpy(float)
    return bool(((x == y) | (np.isnan(x) & np.isnan(y))).all())


def at_7_digits(rec):
    out = rec.copy()
    cols = [c for c in out.columns if c not in IDX]
    out[cols] = out[cols].apply(lambda col: col.map(lambda v: float(f"{v:.7g}") if v == v else v))
    return out


def file_bytes(folder):
    """Every file of an archive folder (a stray shard or temp file counts), by name."""
    return {f.name: f.read_bytes() for f in sorted(Path(folder).iterdir()) if f.is_file()}


def snapshot(path):
    """What a reader must leave alone: the bytes and mtime of a store and of its folder."""
    path = Path(path)
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


# --- the store --------------------------------------------------------------------------
def test_round_trip_keeps_every_value_and_nan_as_nan(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    one, two = RunSpec(epochs=3), RunSpec(epochs=2, hidden=(64, 32), seed=3)
    a, b = fake_result(one, diverged_epoch=2), fake_result(two, trainer="engine")
    assert st.put(a) and st.put(b)
    assert st.has(one) and st.has(two) and not st.has(one.replace(seed=5))
    assert same_values(st.records([one.key]), pd.DataFrame(a.rows).assign(key=one.key))
    assert same_values(st.records(), pd.DataFrame(a.rows + b.rows).assign(
        key=[one.key] * len(a.rows) + [two.key] * len(b.rows)))
    rec = st.records([one.key])
    assert rec[rec.epoch >= 2].drop(columns=IDX).isna().all().all()  # diverged: NaN, never 0
    assert rec[rec.epoch < 2].accuracy.notna().all()
    runs = st.runs().set_index("key")
    assert runs.diverged.to_dict() == {one.key: 1, two.key: 0} and runs.diverged_epoch[one.key] == 2
    assert runs.trainer.to_dict() == {one.key: "reference", two.key: "engine"}
    assert runs.n_records.to_dict() == {one.key: expected_rows(one), two.key: expected_rows(two)}
    assert runs.hidden[two.key] == (64, 32) and runs.code_version[one.key].startswith("0.")


def test_a_failed_write_leaves_no_partial_run(tmp_path):
    st = Store(tmp_path / "s.sqlite")
    spec = RunSpec(epochs=2)
    bad = fake_result(spec)
    bad.rows[7]["loss"] = "n/a"  # not a number: the write fails after the run row went in
    with pytest.raises(Exception):
        st.put(bad)
    assert not st.has(spec) and len(st.records()) == 0
    assert st.db.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    assert st.put(fake_result(spec)) and st.has(spec)


def test_newer_schema_and_foreign_files_are_refused_clearly(tmp_path):
    p = tmp_path / "new.sqlite"
    Store(p).close()
    db = sqlite3.connect(p)
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit(), db.close()
    for readonly in (False, True):
        with pytest.raises(StoreError, match="Upgrade sparsel"):
            Store(p, readonly=readonly)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable sparsel store"):
        Store(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not a sparsel store"):
        Store(other)


def test_committed_runs_are_in_the_main_file_not_a_wal(tmp_path):
    """Defect 5: with WAL, finished runs sat in store.sqlite-wal; a copy of the .sqlite file
    alone (what survives a kill and a careless copy) held none of them. The writer here is
    never closed, as after a kill (test_faults kills real writers)."""
    st = filled(tmp_path / "s.sqlite", [RunSpec(epochs=2, seed=i) for i in range(3)])
    assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert st.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert not Path(str(st.path) + "-wal").exists() and not Path(str(st.path) + "-journal").exists()
    (tmp_path / "copy").mkdir()
    shutil.copy(st.path, tmp_path / "copy" / "s.sqlite")
    alone = Store(tmp_path / "copy" / "s.sqlite", readonly=True)
    assert alone.done_keys() == st.done_keys() and len(alone.done_keys()) == 3
    assert same_values(alone.records(), st.records())


def test_a_write_cut_short_by_a_kill_is_rolled_back_not_called_unusable(tmp_path, capsys):
    """A sweep killed mid-commit leaves a hot -journal. Any writing open rolls it back and
    loses nothing committed; a read-only open cannot, and must say so instead of calling the
    store unusable and telling the user to move the .sqlite file aside (without its journal
    that would keep the half-written commit). test_faults meets this after real kills."""
    from sparsel.cli import main
    p = tmp_path / "s.sqlite"
    specs = smoke_specs()
    filled(p, specs).close()
    want = Store(p, readonly=True).records()
    cut = ("import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA cache_size=1'); "
           "db.execute('BEGIN'); db.execute('DELETE FROM records'); os._exit(9)")  # killed mid-transaction
    assert subprocess.run([sys.executable, "-c", cut, str(p)]).returncode == 9
    assert Path(str(p) + "-journal").stat().st_size > 0
    with pytest.raises(StoreError) as err:
        Store(p, readonly=True)
    assert "-journal" in str(err.value) and "Move it aside" not in str(err.value)
    assert main(["status", "baseline", "--store", str(p)]) == 2
    msg = capsys.readouterr().err
    assert "cut short" in msg and "Move it aside" not in msg, msg
    st = Store(p)  # what the next sweep does: SQLite rolls the cut write back
    assert st.done_keys() == {s.key for s in specs} and same_values(st.records(), want)
    assert not Path(str(p) + "-journal").exists()
    st.close()
    assert len(Store(p, readonly=True).done_keys()) == 4


def test_a_run_missing_rows_is_not_done_and_is_trained_again(tmp_path, monkeypatch):
    """Defect 6: a run whose rows went missing (or were never written) counted as done."""
    from sparsel import sweep
    specs = smoke_specs()
    st = filled(tmp_path / "s.sqlite", specs)
    with st.db:
        st.db.execute("DELETE FROM records WHERE key=? AND epoch=1", (specs[0].key,))
        st.db.execute("DELETE FROM records WHERE key=?", (specs[1].key,))
    assert st.done_keys() == {s.key for s in specs[2:]}
    assert not st.has(specs[0]) and set(st.runs().key) == st.done_keys()
    assert status(E.cells("baseline", "smoke"), st)["missing"] == 2
    trained = []
    monkeypatch.setattr(sweep, "train_group", lambda g, *a, **k: trained.extend(g) or [fake_result(s) for s in g])
    stats = run_cells(E.cells("baseline", "smoke"), st, device="cpu", use_engine=False, progress=False)
    assert sorted(s.key for s in trained) == sorted(s.key for s in specs[:2])
    assert stats["trained"] == 2 and st.done_keys() == {s.key for s in specs}  # stored again, complete
    n = dict(st.db.execute("SELECT key, COUNT(*) FROM records GROUP BY key").fetchall())
    assert n == {s.key: expected_rows(s) for s in specs}


@pytest.mark.parametrize("table", ["records", "runs"])
def test_a_store_missing_a_table_is_damaged_not_recreated(tmp_path, capsys, table):
    """Defect 6: a dropped table was silently recreated (empty) and export wrote 0 rows with
    exit code 0."""
    from sparsel.cli import main
    p = tmp_path / "s.sqlite"
    filled(p, smoke_specs()).close()
    db = sqlite3.connect(p)
    db.execute(f"DROP TABLE {table}")
    db.commit(), db.close()
    before = snapshot(p)
    for readonly in (False, True):
        with pytest.raises(StoreError, match="damaged"):
            Store(p, readonly=readonly)
    out = tmp_path / "out.csv"
    assert main(["export", "baseline", "--store", str(p), "--csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and str(p) in err and not out.exists()
    assert snapshot(p) == before  # nothing recreated


def test_put_never_replaces_a_stored_run_unless_asked(tmp_path):
    """Defect 9: two sweeps that trained one run overwrote each other (INSERT OR REPLACE)."""
    st = Store(tmp_path / "s.sqlite")
    spec = RunSpec(epochs=2)
    first, second = fake_result(spec, 0.25), fake_result(spec, 0.75, trainer="engine")
    assert st.put(first) is True
    assert st.put(second) is False
    assert same_values(st.records(), pd.DataFrame(first.rows).assign(key=spec.key))
    assert st.runs().trainer.tolist() == ["reference"]
    assert st.put(second, replace=True) is True
    assert same_values(st.records(), pd.DataFrame(second.rows).assign(key=spec.key))
    assert st.runs().trainer.tolist() == ["engine"] and len(st.records()) == expected_rows(spec)


def test_a_second_sweep_on_the_same_store_fails_at_once_naming_the_pid(tmp_path, monkeypatch):
    """Defect 9: concurrent sweeps retrained the same runs. (test_faults starts a second
    `sparsel run` process beside a running one.)"""
    from sparsel import sweep
    trained = []
    monkeypatch.setattr(sweep, "train_group", lambda g, *a, **k: trained.extend(g) or [fake_result(s) for s in g])
    cells = E.cells("baseline", "smoke")
    first = Store(tmp_path / "s.sqlite")
    with first.writer_lock():
        with pytest.raises(StoreError, match=rf"pid {os.getpid()}\b.*training into"):
            run_cells(cells, Store(tmp_path / "s.sqlite"), device="cpu", use_engine=False, progress=False)
        assert trained == []
    assert run_cells(cells, Store(tmp_path / "s.sqlite"), device="cpu", use_engine=False,
                     progress=False)["trained"] == 4  # the lock goes with its holder


def test_sweep_resumes_after_an_interruption(tmp_path, monkeypatch):
    from sparsel import sweep
    st = Store(tmp_path / "s.sqlite")
    cells = E.cells("baseline", "smoke", seeds=(1, 2))
    calls = []

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
    assert stats == dict(total=8, cached=3, trained=5, diverged=0, stopped=0)
    assert status(cells, st)["missing"] == 0


def test_read_only_store_is_never_written(tmp_path):
    """Defect 8: a read-only store could not be read. The file is made 0444 in a 0555
    folder; root ignores those bits, so the test also checks that reading wrote nothing:
    the same bytes and mtime, no -journal, -wal or .lock file beside it."""
    folder = tmp_path / "ro"
    folder.mkdir()
    p = folder / "s.sqlite"
    specs = smoke_specs()
    filled(p, specs).close()
    os.chmod(p, 0o444)
    os.chmod(folder, 0o555)
    try:
        before = snapshot(p)
        st = Store(p, readonly=True)
        assert st.done_keys() == {s.key for s in specs} and len(st.records()) == sum(map(expected_rows, specs))
        assert len(st.runs()) == 4 and status(E.cells("baseline", "smoke"), st)["missing"] == 0
        with pytest.raises(StoreError, match="read-only"):
            st.put(fake_result(RunSpec(epochs=1)))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            st.db.execute("DELETE FROM records")  # the connection itself cannot write, even for root
        pack(st, tmp_path / "arch")  # packing reads the store only
        st.close()
        assert snapshot(p) == before
    finally:
        os.chmod(folder, 0o755)
        os.chmod(p, 0o644)
    assert len(read_archive(tmp_path / "arch")[0]) == 4


def test_read_commands_never_create_a_store_and_expand_the_tilde(tmp_path, capsys, monkeypatch):
    """Defect 12: status/export/pack at a mistyped path created an empty store there (and
    reported an empty study); --store=~/x was taken literally."""
    from sparsel.cli import main
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    where = tmp_path / "home" / "typo" / "s.sqlite"
    for cmd in (["status", "baseline"], ["export", "baseline", "--csv", str(tmp_path / "o.csv")],
                ["pack", "baseline", "--out", str(tmp_path / "arch")]):
        assert main([*cmd, "--store=~/typo/s.sqlite"]) == 2, cmd
        err = capsys.readouterr().err
        assert f"no store at {where}" in err, err
    assert sorted(os.listdir(tmp_path)) == ["home"] and os.listdir(tmp_path / "home") == []
    # the writing command that takes --store and no experiment: ~ is the home folder
    filled(tmp_path / "a.sqlite", smoke_specs(2)).close()
    pack(Store(tmp_path / "a.sqlite", readonly=True), tmp_path / "arch")
    assert main(["unpack", str(tmp_path / "arch"), "--store=~/u.sqlite"]) == 0
    assert len(Store(tmp_path / "home" / "u.sqlite").done_keys()) == 2 and not (tmp_path / "~").exists()


def test_each_run_records_which_trainer_made_it(tmp_path):
    """Defect 13: the reference loop and the engine stored different numbers under one key
    and nothing said which made them. Tiny real runs of both, under the same key."""
    from sparsel.sweep import train_group
    spec = RunSpec(epochs=1, train_size=100, test_size=100, batch_size=50)
    (eng,) = train_group([spec], "cpu", use_engine=True)
    (ref,) = train_group([spec], "cpu", use_engine=False)
    assert (eng.trainer, ref.trainer) == ("engine", "reference")
    assert len(eng.rows) == len(ref.rows) == expected_rows(spec)
    st = Store(tmp_path / "s.sqlite")
    assert st.put(eng) and not st.put(ref)  # one key: the first stays, and says who made it
    assert st.runs().trainer.tolist() == ["engine"]
    assert same_values(st.records(), pd.DataFrame(eng.rows).assign(key=spec.key))
    other = spec.replace(seed=2)
    assert st.put(RunResult(other, fake_result(other).rows))  # RunResult's default: reference
    pack(st, tmp_path / "arch")
    back = Store(tmp_path / "b.sqlite")
    unpack(tmp_path / "arch", back)
    assert back.runs().set_index("key").trainer.to_dict() == {spec.key: "engine", other.key: "reference"}


# --- schema 1 stores ----------------------------------------------------------------------
# The DDL and put() of sparsel 0.1 (git show 90951f7:sparsel/store.py), verbatim.
_V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY, spec TEXT NOT NULL, code_version TEXT NOT NULL,
    diverged INTEGER NOT NULL, diverged_epoch INTEGER, seconds REAL NOT NULL,
    device TEXT NOT NULL, torch TEXT NOT NULL, finished REAL NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT NOT NULL REFERENCES runs(key), epoch INTEGER NOT NULL, split TEXT NOT NULL,
    layer TEXT NOT NULL, loss REAL, accuracy REAL, sparsity REAL, sparsity_std REAL,
    selectivity_avg REAL, selectivity_std REAL, PRIMARY KEY (key, epoch, split, layer));
"""
_V1_RECORD_COLUMNS = ("epoch", "split", "layer", *V1_VALUES)  # V1_VALUES starts with loss, accuracy


def _v1_store(path, results):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.executescript(_V1_SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', '1')")
    nan_to_none = lambda v: None if isinstance(v, float) and v != v else v  # noqa: E731
    for r in results:
        spec = r.spec
        with db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?)", (
                spec.key, json.dumps(spec.to_dict(), sort_keys=True), "0.1.0+src.0123456789.g90951f7",
                int(r.diverged), r.diverged_epoch, r.seconds, r.device, "2.5.1", 1795628123.456))
            db.execute("DELETE FROM records WHERE key=?", (spec.key,))
            db.executemany(f"INSERT INTO records VALUES (?,{','.join('?' * len(_V1_RECORD_COLUMNS))})",
                           [(spec.key, *(nan_to_none(row[c]) for c in _V1_RECORD_COLUMNS)) for row in r.rows])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()


def _v1_results():
    a, b = RunSpec(epochs=2), RunSpec(epochs=2, hidden=(64, 32), optimizer="adam", seed=7)
    return [fake_result(a, 0.25), fake_result(b, 0.5, diverged_epoch=1)]


def _check_upgraded(st, results):
    keys = {r.spec.key for r in results}
    assert st.done_keys() == keys
    runs = st.runs().set_index("key")
    assert set(runs.trainer) == {"unknown"}
    assert runs.n_records.to_dict() == {r.spec.key: expected_rows(r.spec) for r in results}
    assert runs.diverged.to_dict() == {r.spec.key: int(r.diverged) for r in results}
    assert runs.finished.tolist() == [1795628123.456] * 2 and set(runs.torch) == {"2.5.1"}
    want = pd.DataFrame([dict(row, key=r.spec.key) for r in results for row in r.rows])
    got = st.records()
    assert same_values(got[[*IDX, *V1_VALUES]], want[[*IDX, *V1_VALUES]])
    assert got.drop(columns=[*IDX, *V1_VALUES]).isna().all().all()  # not measured then


def test_a_schema_1_store_is_upgraded_in_place_and_loses_nothing(tmp_path):
    p = tmp_path / "old.sqlite"
    results = _v1_results()
    _v1_store(p, results)
    st = Store(p)
    assert st.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    _check_upgraded(st, results)
    st.close()
    st = Store(p)  # a second opening finds schema 2: nothing to do, nothing changed
    _check_upgraded(st, results)
    tables = {r[0] for r in st.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "runs", "records"}
    new = RunSpec(epochs=1, seed=11)
    assert st.put(fake_result(new)) and len(st.done_keys()) == 3


def test_a_schema_1_store_is_read_only_upgraded_in_memory(tmp_path):
    (tmp_path / "db").mkdir()
    p = tmp_path / "db" / "old.sqlite"
    results = _v1_results()
    _v1_store(p, results)
    before = snapshot(p)
    st = Store(p, readonly=True)
    _check_upgraded(st, results)
    pack(st, tmp_path / "arch")
    st.close()
    assert snapshot(p) == before  # still schema 1 on disk
    db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    db.close()
    runs, rec = read_archive(tmp_path / "arch")
    assert set(runs.trainer) == {"unknown"} and len(rec) == sum(expected_rows(r.spec) for r in results)


# --- the archive ----------------------------------------------------------------------------
def test_pack_round_trip(tmp_path):
    """7 significant digits; a one-layer run's 'mean'/'weighted' rows are left out of the
    archive and restored by unpack, a multi-layer run keeps its own; NaN stays NaN (never 0);
    every run field survives; packing is deterministic (byte-identical files)."""
    one, deep = RunSpec(epochs=3), RunSpec(epochs=2, hidden=(64, 32, 16), optimizer="adam")
    one_div, deep_div = one.replace(seed=2), deep.replace(seed=2)
    st = Store(tmp_path / "a.sqlite")
    for r in (fake_result(one), fake_result(deep, trainer="engine"), fake_result(one_div, diverged_epoch=2),
              fake_result(deep_div, diverged_epoch=1, trainer="engine")):
        assert st.put(r)
    info = pack(st, tmp_path / "arch")
    assert (info["runs"], info["added"], info["conflicts"]) == (4, 4, [])
    raw = pd.read_csv(tmp_path / "arch" / "records.csv.gz", dtype={"layer": str})
    layers = raw.groupby("key").layer.agg(lambda s: sorted(set(s))).to_dict()
    assert layers[one.key] == layers[one_div.key] == ["1"]
    assert layers[deep.key] == layers[deep_div.key] == ["1", "2", "3", "mean", "weighted"]
    assert info["records"] == len(raw) == 2 * (3 * 3 + 2) + 2 * expected_rows(deep)
    manifest = json.loads((tmp_path / "arch" / "MANIFEST.json").read_text())
    assert manifest["runs"] == 4 and manifest["format"] == 4 and (tmp_path / "arch" / "FORMAT").read_text() == "4\n"
    assert manifest["shards"] == ["records.csv.gz"]
    for name in ("runs.csv.gz", "records.csv.gz"):
        assert manifest["sha256"][name] == hashlib.sha256((tmp_path / "arch" / name).read_bytes()).hexdigest()

    back = Store(tmp_path / "b.sqlite")
    assert unpack(tmp_path / "arch", back) == dict(added=4, same=0, conflicts=[], profiles=0)
    assert back.done_keys() == st.done_keys()
    got, want = back.records(), st.records()
    assert len(got) == len(want) == sum(expected_rows(s) for s in (one, deep, one_div, deep_div))
    assert same_values(got, at_7_digits(want))
    assert not same_values(got, want)  # the store had more digits than the archive keeps
    div = got[got.key.isin([one_div.key, deep_div.key])]
    assert div[div.epoch >= 2].drop(columns=IDX).isna().all().all()
    assert (div.drop(columns=IDX).fillna(1) != 0).all().all()  # never 0 for NaN
    during = got[got.split == "train_during"].set_index(IDX)
    assert during[[c for c in FIELDS if c not in STREAM_FIELDS]].isna().all().all()
    cols = ["key", "code_version", "trainer", "diverged", "diverged_epoch", "seconds", "device", "torch",
            "finished", "n_records"]
    a = st.runs().sort_values("key")[cols].reset_index(drop=True)
    b = back.runs().sort_values("key")[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)  # finished: to the microsecond (repr)

    first = file_bytes(tmp_path / "arch")
    pack(st, tmp_path / "arch")
    assert file_bytes(tmp_path / "arch") == first  # re-packing the same store: byte-identical
    pack(back, tmp_path / "arch2")
    assert file_bytes(tmp_path / "arch2") == first  # store -> archive -> store -> archive: identical


def test_finished_keeps_its_seconds(tmp_path):
    """Defect 2: '%.7g' rounded the finish time (~1.8e9 s) to 1,000 s."""
    st = filled(tmp_path / "s.sqlite", smoke_specs(2))
    pack(st, tmp_path / "arch")
    runs, _ = read_archive(tmp_path / "arch")
    stored = dict(st.db.execute("SELECT key, finished FROM runs").fetchall())
    assert {k: float(v) for k, v in zip(runs.key, runs.finished)} == stored
    assert all(abs(v - time.time()) < 600 for v in stored.values())


def test_pack_merges_into_the_archive_and_never_shrinks_it(tmp_path, capsys):
    """Defect 1: `sparsel pack` replaced the archive: packing another experiment, an --only
    subset or an empty store dropped committed runs."""
    from sparsel.cli import main
    specs = smoke_specs()  # baseline sgd, adagrad, adadelta, adam
    arch = tmp_path / "arch"
    a = filled(tmp_path / "a.sqlite", specs[:2])
    assert pack(a, arch)["runs"] == 2
    b = filled(tmp_path / "b.sqlite", specs[2:3])  # another experiment's store
    info = pack(b, arch)
    assert (info["runs"], info["added"], info["conflicts"]) == (3, 1, [])
    full = file_bytes(arch)
    assert pack(a, arch, keys=[specs[0].key])["runs"] == 3  # an --only subset
    assert pack(Store(tmp_path / "empty.sqlite"), arch)["runs"] == 3  # an empty store
    assert file_bytes(arch) == full
    for argv in (["--store", str(tmp_path / "empty.sqlite")],
                 ["--store", str(tmp_path / "a.sqlite"), "--only", "optimizer=sgd"]):
        assert main(["pack", "baseline", *argv, "--out", str(arch)]) == 0
        assert "it holds 3 runs" in capsys.readouterr().out
    assert file_bytes(arch) == full

    # a run in both with other numbers: a conflict; the archive's copy stays unless force
    c = filled(tmp_path / "c.sqlite", specs[:1], value=0.9)
    c.put(fake_result(specs[3]))
    info = pack(c, arch)
    assert (info["runs"], info["added"], info["conflicts"]) == (4, 1, [specs[0].key])
    _, rec = read_archive(arch)
    assert same_values(rec[rec.key == specs[0].key], at_7_digits(a.records([specs[0].key])))
    assert main(["pack", "baseline", "--store", str(tmp_path / "c.sqlite"), "--out", str(arch)]) == 0
    assert f"conflict: run {specs[0].key}" in capsys.readouterr().out
    info = pack(c, arch, force=True)
    assert (info["runs"], info["conflicts"]) == (4, [specs[0].key])
    _, rec = read_archive(arch)
    assert same_values(rec[rec.key == specs[0].key], at_7_digits(c.records([specs[0].key])))
    assert pack(c, arch)["conflicts"] == []
    assert not [f for f in os.listdir(arch) if f.endswith(".tmp")]


def test_a_pack_that_adds_runs_leaves_the_committed_files_as_they_are(tmp_path):
    """Format 4: the records in shards. Every pack rewrote the whole records file (12 MB at
    1,000 runs), so each commit of the campaign grew the repository by the whole archive; now
    new runs go to a new shard, a format-3 archive's records.csv.gz stays its first one, a
    forced replacement rewrites them as one, and a shard the manifest does not list (a pack
    cut short) is ignored, then removed."""
    specs = smoke_specs(4)
    arch = tmp_path / "arch"
    a = filled(tmp_path / "a.sqlite", specs[:2])
    assert pack(a, arch)["shards"] == 1
    first = (arch / "records.csv.gz").read_bytes()
    b = filled(tmp_path / "b.sqlite", specs[2:3], value=0.25)
    info = pack(b, arch)
    assert (info["runs"], info["added"], info["shards"]) == (3, 1, 2)
    assert (arch / "records.csv.gz").read_bytes() == first
    manifest = json.loads((arch / "MANIFEST.json").read_text())
    assert manifest["shards"] == ["records.csv.gz", "records-2.csv.gz"] and manifest["format"] == 4
    assert set(pd.read_csv(arch / "records-2.csv.gz", dtype={"key": str}).key) == {specs[2].key}
    assert manifest["records"] == info["records"] == sum(len(pd.read_csv(arch / n)) for n in manifest["shards"])
    runs, rec = read_archive(arch)
    assert sorted(runs.key) == sorted(s.key for s in specs[:3])
    both = pd.concat([a.records(), b.records()], ignore_index=True)
    assert same_values(rec, at_7_digits(both))
    back = Store(tmp_path / "back.sqlite")
    assert unpack(arch, back)["added"] == 3 and same_values(back.records(), rec)
    pack(back, tmp_path / "one")  # the same runs packed at once: one shard, the same numbers
    assert json.loads((tmp_path / "one" / "MANIFEST.json").read_text())["shards"] == ["records.csv.gz"]
    assert same_values(read_archive(tmp_path / "one")[1], rec)
    sharded = file_bytes(arch)
    assert pack(b, arch)["shards"] == 2 and file_bytes(arch) == sharded  # nothing new: nothing written

    # a format-3 archive (FORMAT 3, no shard list): its records.csv.gz becomes the first shard
    old = tmp_path / "v3"
    pack(a, old)
    m = json.loads((old / "MANIFEST.json").read_text())
    del m["shards"]
    m["format"] = 3
    (old / "MANIFEST.json").write_text(json.dumps(m))
    (old / "FORMAT").write_text("3\n")
    v3 = (old / "records.csv.gz").read_bytes()
    assert len(read_archive(old)[0]) == 2
    assert pack(b, old)["shards"] == 2 and (old / "records.csv.gz").read_bytes() == v3
    assert (old / "FORMAT").read_text() == "4\n" and same_values(read_archive(old)[1], rec)

    # a shard no manifest lists (a pack killed after renaming it): read past, then replaced
    (arch / "records-3.csv.gz").write_bytes(b"half a shard")
    assert same_values(read_archive(arch)[1], rec)
    c = filled(tmp_path / "c.sqlite", specs[3:4])
    assert pack(c, arch)["shards"] == 3
    assert len(read_archive(arch)[0]) == 4 and (arch / "records-3.csv.gz").read_bytes() != b"half a shard"

    # --force replacing a run: the records rewritten as one shard, the others removed
    d = filled(tmp_path / "d.sqlite", specs[2:3], value=0.75)
    info = pack(d, arch, force=True)
    assert info["conflicts"] == [specs[2].key] and info["shards"] == 1
    assert sorted(f.name for f in arch.iterdir() if f.name.startswith("records")) == ["records.csv.gz"]
    runs, rec = read_archive(arch)
    assert len(runs) == 4 and same_values(rec[rec.key == specs[2].key], at_7_digits(d.records()))

    # a manifest edited by hand: shards that are not record files, or a run in two shards
    pack(c, tmp_path / "two")
    pack(b, tmp_path / "two")
    man = tmp_path / "two" / "MANIFEST.json"
    good = man.read_text()
    for shards in (["../runs.csv.gz"], ["records.csv.gz", "records.csv.gz"], [], "records.csv.gz"):
        man.write_text(json.dumps(dict(json.loads(good), shards=shards)))
        with pytest.raises(ArchiveError, match="lists shards"):
            read_archive(tmp_path / "two")
    m = json.loads(good)
    (tmp_path / "two" / "records-3.csv.gz").write_bytes((tmp_path / "two" / "records-2.csv.gz").read_bytes())
    m["shards"].append("records-3.csv.gz")
    m["sha256"]["records-3.csv.gz"] = m["sha256"]["records-2.csv.gz"]
    man.write_text(json.dumps(m))
    with pytest.raises(ArchiveError, match=f"run {specs[2].key} has rows in both records-2.csv.gz and records-3"):
        read_archive(tmp_path / "two")


def fake_profile(widths, value=0.5):
    rng = np.random.default_rng(int(value * 1000))
    return dict(means=[rng.random((10, w)) / 3 + value for w in widths], counts=rng.integers(80, 120, 10),
                code_version="0.1.0+test")


def _same_profile(a, b, digits=7):
    return (len(a["means"]) == len(b["means"]) and list(a["counts"]) == list(b["counts"])
            and all(np.allclose(x, y, rtol=10 ** -(digits - 1), atol=0) for x, y in zip(a["means"], b["means"])))


def test_unit_profiles_travel_with_their_runs_through_store_and_archive(tmp_path):
    """A profile is kept to 7 digits, never replaced unless asked, packed with its run only,
    unpacked into a store that lacks it; an archive keeps its own profile against a store's
    other one unless force, like its runs."""
    specs = smoke_specs(3)
    st = filled(tmp_path / "a.sqlite", specs[:2])
    assert st.profile(specs[0].key) is None and st.profiles() == {}
    p0, p1 = fake_profile((256,)), fake_profile((256,), 0.7)
    assert st.put_profile(specs[0].key, p0)
    got = st.profile(specs[0].key)
    assert _same_profile(got, p0) and got["code_version"] == "0.1.0+test" and got["trainer"] == "reference"
    assert got["means"][0].shape == (10, 256)
    assert not st.put_profile(specs[0].key, p1) and _same_profile(st.profile(specs[0].key), p0)
    assert st.put_profile(specs[0].key, p1, replace=True) and _same_profile(st.profile(specs[0].key), p1)
    st.put_profile(specs[0].key, p0, replace=True)
    st.put_profile(specs[2].key, p1)  # a profile of a run the store does not hold: not packed

    arch = tmp_path / "arch"
    info = pack(st, arch)
    assert (info["runs"], info["profiles"]) == (2, 1)
    manifest = json.loads((arch / "MANIFEST.json").read_text())
    assert manifest["sha256"]["profiles.json.gz"] == hashlib.sha256((arch / "profiles.json.gz").read_bytes()).hexdigest()
    assert set(read_profiles(arch)) == {specs[0].key}
    back = Store(tmp_path / "b.sqlite")
    unpack(arch, back)
    assert _same_profile(back.profile(specs[0].key), p0) and back.profile(specs[1].key) is None
    first = file_bytes(arch)
    pack(back, tmp_path / "arch2")
    assert file_bytes(tmp_path / "arch2") == first  # store -> archive -> store -> archive: identical

    other = filled(tmp_path / "c.sqlite", specs[:2])
    other.put_profile(specs[0].key, p1)
    other.put_profile(specs[1].key, p1)
    assert pack(other, arch)["profiles"] == 2
    assert _same_profile(json_profile(read_profiles(arch)[specs[0].key]), p0)  # the archive's stays
    assert _same_profile(json_profile(read_profiles(arch)[specs[1].key]), p1)  # a new one is added
    pack(other, arch, force=True)
    assert _same_profile(json_profile(read_profiles(arch)[specs[0].key]), p1)
    pack(Store(tmp_path / "empty.sqlite"), arch)
    assert len(read_profiles(arch)) == 2  # the archive never loses one


def json_profile(entry):
    body = json.loads(entry[2])
    return dict(means=[np.array(m) for m in body["means"]], counts=body["counts"])


def test_an_archive_with_a_bad_profiles_file_is_refused(tmp_path):
    specs = smoke_specs(2)
    st = filled(tmp_path / "a.sqlite", specs)
    st.put_profile(specs[0].key, fake_profile((256,)))
    arch = tmp_path / "arch"
    pack(st, arch)
    good = (arch / "profiles.json.gz").read_bytes()
    body = json.loads(gzip.decompress(good))
    (arch / "profiles.json.gz").write_bytes(gzip.compress(json.dumps({**body, "0" * 16: body[specs[0].key]}).encode()))
    with pytest.raises(ArchiveError, match="does not match its hash"):
        unpack(arch, Store(tmp_path / "b.sqlite"))
    m = json.loads((arch / "MANIFEST.json").read_text())
    m["sha256"]["profiles.json.gz"] = hashlib.sha256((arch / "profiles.json.gz").read_bytes()).hexdigest()
    (arch / "MANIFEST.json").write_text(json.dumps(m))
    with pytest.raises(ArchiveError, match="profiles of 1 runs not in runs.csv.gz"):
        unpack(arch, Store(tmp_path / "c.sqlite"))
    (arch / "profiles.json.gz").unlink()
    with pytest.raises(ArchiveError, match="listed in MANIFEST.json but missing"):
        read_archive(arch)


def test_a_store_from_before_profiles_reads_none_and_gains_the_table_when_written(tmp_path):
    """Opening never adds the table (a store that cannot be written still opens); the first
    profile written does, and replacing a run drops the profile of the network it replaced."""
    path = tmp_path / "old.sqlite"
    spec = smoke_specs(1)[0]
    filled(path, [spec]).close()
    tables = lambda: {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}  # noqa: E731
    assert "profiles" not in tables()
    before = snapshot(path)
    ro = Store(path, readonly=True)
    assert ro.profile(spec.key) is None and ro.profiles() == {}
    ro.close()
    Store(path).close()
    assert snapshot(path) == before and "profiles" not in tables()
    st = Store(path)
    assert st.put_profile(spec.key, fake_profile((256,)))
    assert "profiles" in tables() and st.profile(spec.key) is not None
    st.put(fake_result(spec, 0.9), replace=True)
    assert st.profile(spec.key) is None


def test_a_profile_keeps_nan_as_null_and_records_where_it_was_computed(tmp_path):
    """A class absent from the test images (NaN means) is stored as JSON null, valid JSON for
    any reader, and read back as NaN; device and torch travel with the profile."""
    spec = smoke_specs(1)[0]
    st = filled(tmp_path / "a.sqlite", [spec])
    p = fake_profile((4,))
    p["means"][0][3] = np.nan
    st.put_profile(spec.key, dict(p, device="cpu", torch="2.13.0"))
    got = st.profile(spec.key)
    assert np.isnan(got["means"][0][3]).all() and np.isfinite(got["means"][0][:3]).all()
    assert (got["device"], got["torch"]) == ("cpu", "2.13.0")
    pack(st, tmp_path / "arch")
    text = gzip.decompress((tmp_path / "arch" / "profiles.json.gz").read_bytes()).decode()
    assert "NaN" not in text and "null" in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = Store(tmp_path / "b.sqlite")
    assert unpack(tmp_path / "arch", back)["profiles"] == 1
    again = back.profile(spec.key)
    assert np.isnan(again["means"][0][3]).all() and again["device"] == "cpu"


class Crash(Exception):
    """Stands for a kill at one step of writing the archive."""


def _crash_at(monkeypatch, point, n):
    """Make the n-th call of one file operation pack uses fail as a kill would leave it:
    gzip: half the data written to the file being written; replace: the rename not done;
    write_text: the file opened (truncated), nothing written. Returns a dict whose 'hit'
    says whether the crash happened."""
    import pathlib
    state = dict(calls=0, hit=False)

    def now():
        state["calls"] += 1
        state["hit"] = state["hit"] or state["calls"] == n
        return state["calls"] == n
    if point == "gzip":
        real = gzip.GzipFile.write

        def write(self, data):
            if now():
                real(self, bytes(data)[: len(data) // 2])
                raise Crash(point)
            return real(self, data)
        monkeypatch.setattr(gzip.GzipFile, "write", write)
    elif point == "replace":
        real = os.replace

        def replace(a, b, **kw):
            if now():
                raise Crash(point)
            return real(a, b, **kw)
        monkeypatch.setattr(os, "replace", replace)
    else:
        real = pathlib.Path.write_text

        def write_text(self, text, *a, **kw):
            if now():
                real(self, "", *a, **kw)
                raise Crash(point)
            return real(self, text, *a, **kw)
        monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    return state


def _write_v1_archive(folder, store):
    """An archive as sparsel 0.1 wrote it (format 1: every row, the six old values)."""
    folder.mkdir()
    runs = pd.read_sql_query("SELECT * FROM runs", store.db).drop(columns=["trainer", "n_records"])
    rec = store.records()[["key", *_V1_RECORD_COLUMNS]].sort_values(IDX)
    runs.sort_values("key").to_csv(folder / "runs.csv.gz", index=False, float_format="%.7g")
    rec.to_csv(folder / "records.csv.gz", index=False, float_format="%.7g")
    (folder / "FORMAT").write_text("1\n")


@pytest.mark.parametrize("base", ["format 2", "format 1"])
def test_pack_killed_at_any_step_leaves_the_old_archive_or_a_detectably_torn_one(tmp_path, monkeypatch, base):
    """Defect 1: files were rewritten in place; a kill mid-pack left a truncated gzip that
    read as a shorter archive or failed with a gzip error. Now every file goes to a temp name
    and is renamed, MANIFEST.json last. Crash at each step in turn; acceptable afterwards:
    the old archive exactly, the new one exactly, or (only between the renames) an
    ArchiveError saying a file does not match MANIFEST.json (format 1 has no manifest: an
    ArchiveError naming an incomplete run) -- never other content, never another error.
    After a torn state, restoring the folder (git checkout) and packing again gives the new
    archive."""
    specs = [RunSpec(epochs=2, seed=i) for i in range(3)] + [RunSpec(epochs=1, hidden=(32, 16), seed=9)]
    st = filled(tmp_path / "s.sqlite", specs[:2])
    old = tmp_path / "old"
    if base == "format 2":
        pack(st, old)
    else:
        _write_v1_archive(old, st)
    old_runs, old_rec = read_archive(old)
    for s in specs[2:]:
        st.put(fake_result(s, trainer="engine"))
    st.put_profile(specs[3].key, fake_profile((32, 16)))  # a third file to write
    shutil.copytree(old, tmp_path / "new")
    pack(st, tmp_path / "new")  # what a pack that is not killed makes of the old archive
    new_runs, new_rec = read_archive(tmp_path / "new")
    assert len(new_runs) == 4 and set(new_runs.trainer[new_runs.key.isin([s.key for s in specs[2:]])]) == {"engine"}

    def is_(runs, rec, want_runs, want_rec):
        return (len(runs) == len(want_runs) and runs.reset_index(drop=True).equals(want_runs.reset_index(drop=True))
                and same_values(rec, want_rec))
    seen = {}
    for point in ("gzip", "replace", "write_text"):
        for n in range(1, 6):
            arch = tmp_path / f"{point}{n}"
            shutil.copytree(old, arch)
            with monkeypatch.context() as m:
                state = _crash_at(m, point, n)
                try:
                    pack(st, arch)
                except Crash:
                    pass
            try:
                runs, rec = read_archive(arch)
                outcome = ("old" if is_(runs, rec, old_runs, old_rec) else
                           "new" if is_(runs, rec, new_runs, new_rec) else "OTHER CONTENT")
            except ArchiveError as err:
                outcome = "torn"
                hints = (("does not match its hash in MANIFEST.json",) if base == "format 2" else
                         ("a complete run has", "is not listed in MANIFEST.json"))  # runs, or the profiles
                assert any(h in str(err) for h in hints), (point, n, str(err))
                with pytest.raises(ArchiveError):
                    pack(st, arch)  # a torn archive is never packed over
                shutil.rmtree(arch)
                shutil.copytree(old, arch)  # git checkout
            except Exception as err:  # noqa: BLE001
                outcome = f"ERROR {type(err).__name__}: {err}"
            seen[(point, n)] = outcome
            assert outcome in (("old", "new", "torn") if state["hit"] else ("new",)), (point, n, outcome)
            pack(st, arch)
            assert is_(*read_archive(arch), new_runs, new_rec), (point, n)
            assert file_bytes(arch) == file_bytes(tmp_path / "new")
    assert {"old", "torn", "new"} <= set(seen.values()), seen
    print(f"\npack crashed at each step ({base}): " + ", ".join(f"{p}#{n} -> {o}" for (p, n), o in seen.items()))


def _rewrite(folder, name, change, rehash=True):
    """Edit one CSV of an archive; with ``rehash`` update MANIFEST.json to match, so the
    check under test is the one that fires, not the hash."""
    path = Path(folder) / name
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = change(df)
    path.write_bytes(gzip.compress(df.to_csv(index=False).encode(), mtime=0))
    if rehash:
        m = json.loads((Path(folder) / "MANIFEST.json").read_text())
        m["sha256"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
        (Path(folder) / "MANIFEST.json").write_text(json.dumps(m))


def _edit_spec(df):
    spec = json.loads(df.spec[0])
    spec["lr"] = 0.5
    df.loc[0, "spec"] = json.dumps(spec, sort_keys=True)
    return df


def _set(frame, column, value, row=0):
    frame = frame.copy()
    frame.loc[row, column] = value
    return frame


TAMPER = {
    "spec edited under its key": ("runs.csv.gz", _edit_spec, True, "the spec was edited"),
    "broken JSON": ("runs.csv.gz", lambda d: _set(d, "spec", '{"optimizer": "sgd", "hidden": [25'), True,
                    "spec cannot be read"),
    "a run with no records": ("records.csv.gz", lambda d: d[d.key != d.key[0]], True, "has 0 rows"),
    "a run with some records": ("records.csv.gz", lambda d: d.drop(index=[3, 5]), True, "a complete run has"),
    "n_records of a partial run": ("runs.csv.gz", lambda d: _set(d, "n_records", "20"), True, "n_records 20"),
    "text in a number column": ("records.csv.gz", lambda d: _set(d, "accuracy", "0.9x", 4), True,
                                "accuracy = '0.9x' is not a number"),
    "text in the epoch column": ("records.csv.gz", lambda d: _set(d, "epoch", "one", 2), True, "is not a number"),
    "a run listed twice": ("runs.csv.gz", lambda d: pd.concat([d, d.iloc[:1]]), True, "twice"),
    "rows of an unlisted run": ("runs.csv.gz", lambda d: d.iloc[1:], True, "not in runs.csv.gz"),
    "a value changed, hash not": ("records.csv.gz", lambda d: _set(d, "loss", "1.5", 1), False,
                                  "does not match its hash"),
}


@pytest.mark.parametrize("fault", list(TAMPER))
def test_unpack_refuses_an_archive_it_cannot_trust(tmp_path, fault):
    """Defect 2: unpack accepted edited specs, missing or partial runs, broken JSON and text
    in number columns, and had no content hash. Each fault is refused with an ArchiveError
    naming it, and the store is left as it was."""
    name, change, rehash, message = TAMPER[fault]
    src = filled(tmp_path / "a.sqlite", smoke_specs(3))
    pack(src, tmp_path / "arch")
    _rewrite(tmp_path / "arch", name, change, rehash)
    st = filled(tmp_path / "s.sqlite", [RunSpec(epochs=1, seed=99)])
    before = snapshot(st.path)
    with pytest.raises(ArchiveError, match=message):
        unpack(tmp_path / "arch", st)
    assert snapshot(st.path) == before and len(st.done_keys()) == 1


def test_unpack_without_manifest_is_refused(tmp_path):
    pack(filled(tmp_path / "a.sqlite", smoke_specs(1)), tmp_path / "arch")
    (tmp_path / "arch" / "MANIFEST.json").unlink()
    with pytest.raises(ArchiveError, match="MANIFEST.json is missing"):
        read_archive(tmp_path / "arch")


def test_unpack_reports_conflicts_and_keeps_the_stored_copy(tmp_path, capsys):
    """Defect 9: unpack overwrote a stored run with different numbers without a word."""
    from sparsel.cli import main
    specs = smoke_specs(3)
    pack(filled(tmp_path / "a.sqlite", specs), tmp_path / "arch")
    b = filled(tmp_path / "b.sqlite", specs[:1], value=0.9)
    b.put(fake_result(specs[1]))  # the same numbers as the archive's
    mine = b.records([specs[0].key])
    assert unpack(tmp_path / "arch", b) == dict(added=1, same=1, conflicts=[specs[0].key], profiles=0)
    assert same_values(b.records([specs[0].key]), mine)
    assert unpack(tmp_path / "arch", b) == dict(added=0, same=2, conflicts=[specs[0].key], profiles=0)
    assert main(["unpack", str(tmp_path / "arch"), "--store", str(b.path)]) == 3
    out = capsys.readouterr().out
    assert "1 conflicts" in out and f"conflict: run {specs[0].key}" in out and "kept the stored copy" in out
    assert same_values(b.records([specs[0].key]), mine)


def _git_show(rev, path):
    try:
        return subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"git show {rev}:{path} is not available here")


def test_the_committed_format_1_archive_still_unpacks(tmp_path):
    """results/full as committed at 90951f7 (archive format 1, 12 baseline runs)."""
    arch = tmp_path / "v1"
    arch.mkdir()
    for f in ("FORMAT", "runs.csv.gz", "records.csv.gz"):
        (arch / f).write_bytes(_git_show("90951f7", f"results/full/{f}"))
    assert (arch / "FORMAT").read_text() == "1\n"
    old_runs = pd.read_csv(arch / "runs.csv.gz", dtype={"key": str})
    old_rec = pd.read_csv(arch / "records.csv.gz", dtype={"key": str, "layer": str})
    st = Store(tmp_path / "s.sqlite")
    assert unpack(arch, st) == dict(added=12, same=0, conflicts=[], profiles=0)
    runs = st.runs().set_index("key").sort_index()
    assert len(runs) == 12 and set(runs.trainer) == {"unknown"} and set(runs.epochs) == {30}
    assert (runs.n_records == 276).all()
    o = old_runs.set_index("key").sort_index()
    for c in ("code_version", "diverged", "seconds", "device", "torch", "finished"):
        assert runs[c].tolist() == o[c].tolist(), c
    got = st.records()
    assert len(got) == len(old_rec) == 12 * 276
    assert same_values(got[[*IDX, *V1_VALUES]], old_rec)
    # and it packs into format 2 (dropping the copied 'mean'/'weighted' rows) without loss
    info = pack(st, tmp_path / "v2")
    assert info["runs"] == 12 and info["records"] == 12 * 92
    _, rec = read_archive(tmp_path / "v2")
    assert same_values(rec, got)


def test_a_forgetting_run_packs_and_unpacks_with_its_own_row_count(tmp_path):
    """A forgetting run records test_A and test_B after epoch 0 and every epoch of phases A, B
    and C (not the test/train/train_during rows of one task): the archive accepts exactly
    that count and gives the records back."""
    from sparsel import sweep
    cell = E.cells("forgetting", "smoke")[0]
    st = Store(tmp_path / "s.sqlite")
    sweep.run_cells([cell], st, device="cpu", progress=False)
    s = cell.spec
    n = len(st.records())
    assert n == expected_rows(s) == 2 * (s.epochs + s.epochs_b + (s.epochs_c or 0) + 1) * (len(s.hidden) + 2)
    pack(st, tmp_path / "arch")
    fresh = Store(tmp_path / "fresh.sqlite")
    assert unpack(tmp_path / "arch", fresh)["added"] == 1
    cols = ["key", "epoch", "split", "layer"]
    a, b = (x.records().sort_values(cols).reset_index(drop=True) for x in (st, fresh))
    assert (a[cols] == b[cols]).all().all() and same_values(at_7_digits(a), b)
