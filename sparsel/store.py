"""The results store: one SQLite file holding every finished run, keyed by its spec's hash.

A run is written in one transaction (its spec, code version and all its rows) or not at
all, so a crash or kill mid-sweep loses only the runs still training. A stored run is
never recomputed. Default location: ``$SPARSEL_STORE``, else ``~/.cache/sparsel/store.sqlite``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd

from .spec import RunSpec

SCHEMA_VERSION = 1
_SCHEMA = """
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
RECORD_COLUMNS = ("epoch", "split", "layer", "loss", "accuracy", "sparsity", "sparsity_std",
                  "selectivity_avg", "selectivity_std")


class StoreError(RuntimeError):
    """The store file cannot be used; the message says why and what to do."""


def default_path() -> Path:
    return Path(os.environ.get("SPARSEL_STORE") or Path.home() / ".cache" / "sparsel" / "store.sqlite").expanduser()


def code_version() -> str:
    """``<version>+<sha of the package sources>[.g<git commit>]``: which code made a number."""
    from . import __version__
    pkg = Path(__file__).parent
    h = hashlib.sha256()
    for f in sorted(pkg.glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    version = f"{__version__}+src.{h.hexdigest()[:10]}"
    try:
        commit = subprocess.run(["git", "-C", str(pkg), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        if commit:
            version += f".g{commit}"
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def _nan_to_none(v):
    return None if isinstance(v, float) and v != v else v


class Store:
    """``Store(path)`` opens (or creates) a results database. Only one process should write."""

    def __init__(self, path=None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self._check_schema()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path} is not a usable sparsel store ({err}). "
                             "Move it aside (or pass another --store / SPARSEL_STORE) and run again.") from err
        self._code = None

    def _check_schema(self):
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else None
            if found != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has store schema {found}, this sparsel reads schema {SCHEMA_VERSION}. "
                    + ("Upgrade sparsel to read it." if found and found > SCHEMA_VERSION else
                       "Export it with the sparsel that wrote it, or start a new store."))
        elif tables:
            raise StoreError(f"{self.path} is an SQLite file but not a sparsel store (tables: {sorted(tables)}).")
        with self.db:
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- writing ------------------------------------------------------------------
    def put(self, result) -> None:
        """Store one finished run (a ``train.RunResult``) atomically."""
        if self._code is None:
            self._code = code_version()
        import torch
        spec = result.spec
        with self.db:  # one transaction: all of the run or none of it
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?)", (
                spec.key, json.dumps(spec.to_dict(), sort_keys=True), self._code, int(result.diverged),
                result.diverged_epoch, result.seconds, result.device, torch.__version__, time.time()))
            self.db.execute("DELETE FROM records WHERE key=?", (spec.key,))
            self.db.executemany(
                f"INSERT INTO records VALUES (?,{','.join('?' * len(RECORD_COLUMNS))})",
                [(spec.key, *(_nan_to_none(r[c]) for c in RECORD_COLUMNS)) for r in result.rows])

    # --- reading ------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT key FROM runs")}

    def has(self, spec: RunSpec) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE key=?", (spec.key,)).fetchone() is not None

    def runs(self, keys=None) -> pd.DataFrame:
        """One row per stored run: key, spec fields, code_version, diverged, seconds, device."""
        df = pd.read_sql_query("SELECT * FROM runs", self.db)
        if keys is not None:
            df = df[df.key.isin(set(keys))]
        specs = pd.DataFrame([json.loads(s) for s in df.spec], index=df.index)
        if len(specs):
            specs["hidden"] = specs["hidden"].map(tuple)
        return pd.concat([df.drop(columns="spec"), specs], axis=1)

    def records(self, keys=None) -> pd.DataFrame:
        """All stored rows (key, epoch, split, layer, loss, accuracy, metrics); NULL reads as NaN."""
        if keys is None:
            df = pd.read_sql_query("SELECT * FROM records", self.db)
        else:
            keys = list(keys)
            parts = [pd.read_sql_query(
                f"SELECT * FROM records WHERE key IN ({','.join('?' * len(keys[i:i + 500]))})",
                self.db, params=keys[i:i + 500]) for i in range(0, len(keys), 500)]
            df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["key", *RECORD_COLUMNS])
        num = [c for c in RECORD_COLUMNS if c not in ("split", "layer", "epoch")]
        df[num] = df[num].astype(float)
        return df


# --- the committed archive -----------------------------------------------------------
# A store is a cache; an archive is what goes into the repository: two gzipped CSV files
# (runs.csv.gz: one row per run with its spec as JSON; records.csv.gz: one row per
# (run, epoch, split, layer)) plus FORMAT, the archive format version. Floats keep 7
# significant digits, all that float32 training produces.
ARCHIVE_FORMAT = 1


def pack(store: "Store", folder, keys=None) -> dict:
    """Write the runs of ``store`` (all, or ``keys``) to ``folder``; returns counts and bytes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    runs = pd.read_sql_query("SELECT * FROM runs", store.db)
    if keys is not None:
        runs = runs[runs.key.isin(set(keys))]
    rec = store.records(list(runs.key)).sort_values(["key", "epoch", "split", "layer"])
    runs.sort_values("key").to_csv(folder / "runs.csv.gz", index=False, float_format="%.7g")
    rec.to_csv(folder / "records.csv.gz", index=False, float_format="%.7g")
    (folder / "FORMAT").write_text(f"{ARCHIVE_FORMAT}\n")
    size = sum((folder / f).stat().st_size for f in ("runs.csv.gz", "records.csv.gz"))
    return dict(runs=len(runs), records=len(rec), bytes=size)


def unpack(folder, store: "Store") -> int:
    """Merge an archive into ``store`` (runs already there are kept). Returns runs added."""
    folder = Path(folder)
    fmt = int((folder / "FORMAT").read_text()) if (folder / "FORMAT").exists() else None
    if fmt != ARCHIVE_FORMAT:
        raise StoreError(f"{folder} holds archive format {fmt}; this sparsel reads format {ARCHIVE_FORMAT}")
    runs = pd.read_csv(folder / "runs.csv.gz")
    have = store.done_keys()
    runs = runs[~runs.key.isin(have)]
    if runs.empty:
        return 0
    rec = pd.read_csv(folder / "records.csv.gz", dtype={"layer": str})
    rec = rec[rec.key.isin(set(runs.key))]
    cols = ["key", *RECORD_COLUMNS]
    with store.db:
        store.db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                             [tuple(_nan_to_none(v) for v in r) for r in runs[
                                 ["key", "spec", "code_version", "diverged", "diverged_epoch", "seconds", "device",
                                  "torch", "finished"]].astype(object).itertuples(index=False)])
        store.db.executemany(f"INSERT INTO records VALUES ({','.join('?' * len(cols))})",
                             [tuple(_nan_to_none(v) for v in r) for r in rec[cols].astype(object).itertuples(index=False)])
    return len(runs)
