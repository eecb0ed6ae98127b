"""The results store: one SQLite file holding every finished run, keyed by its spec's hash.

A run is written in one transaction (its spec, the code version and trainer that made it,
and all its rows) or not at all, so a crash or kill mid-sweep loses only the runs still
training; the store uses a rollback journal, so a committed run is in the main file itself
(a copy of the ``.sqlite`` file alone holds it). A run counts as done only when all the rows
it was stored with are there. Each row holds one (epoch, split, layer) and its metrics as a
JSON object, so a new metric needs no schema change and older runs simply lack it. A few runs
also keep a unit profile (each hidden unit's mean activation per class, for the unit browser).

Default location: ``$SPARSEL_STORE``, else ``~/.cache/sparsel/store.sqlite``.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd

from .spec import RunSpec, SpecError

SCHEMA_VERSION = 2
# Per-unit class means of a run's trained network (``Store.put_profile``). Added within schema 2:
# a store without the table simply has no profiles; the first profile written creates it (never
# a plain open, so a store that cannot be written still opens for reading).
_PROFILES = """
CREATE TABLE IF NOT EXISTS profiles (
    key TEXT PRIMARY KEY, code_version TEXT NOT NULL, trainer TEXT NOT NULL, profile TEXT NOT NULL);
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY, spec TEXT NOT NULL, code_version TEXT NOT NULL, trainer TEXT NOT NULL,
    diverged INTEGER NOT NULL, diverged_epoch INTEGER, seconds REAL NOT NULL,
    device TEXT NOT NULL, torch TEXT NOT NULL, finished REAL NOT NULL, n_records INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT NOT NULL REFERENCES runs(key), epoch INTEGER NOT NULL, split TEXT NOT NULL,
    layer TEXT NOT NULL, metrics TEXT NOT NULL, PRIMARY KEY (key, epoch, split, layer));
"""

RUN_COLUMNS = ("key", "spec", "code_version", "trainer", "diverged", "diverged_epoch", "seconds", "device",
               "torch", "finished", "n_records")
ROW_KEYS = ("epoch", "split", "layer")
# The values every stored row had in schema 1 / archive format 1 (wide columns).
V1_VALUES = ("loss", "accuracy", "sparsity", "sparsity_std", "selectivity_avg", "selectivity_std")


class StoreError(RuntimeError):
    """The store file cannot be used; the message says why and what to do."""


def default_path() -> Path:
    return Path(os.environ.get("SPARSEL_STORE") or Path.home() / ".cache" / "sparsel" / "store.sqlite").expanduser()


def code_version() -> str:
    """``<version>+<sha of the package sources>[.g<git commit>]``: which code made a number.

    Computed once, when this module is first imported, so a long sweep records the code it
    is running even if the files are edited while it runs."""
    return _CODE_VERSION


def _code_version() -> str:
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
            # sources that differ from that commit: the source hash, not the commit, says what ran
            dirty = subprocess.run(["git", "-C", str(pkg), "diff", "--quiet", "HEAD", "--", "."],
                                   capture_output=True, timeout=5).returncode
            if dirty:
                version += ".dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return version


_CODE_VERSION = _code_version()


def expected_rows(spec: RunSpec) -> int:
    """Rows a complete run has: test and train at epochs 0..E, train_during at 1..E, each for
    every hidden layer plus 'mean' and 'weighted'. A forgetting run (``protocol='forget'``):
    test_A and test_B after epoch 0 and every epoch of phases A, B and C; one that may stop a
    phase early (``criterion``, ``steps_b``) has at most this many (``rows_ok``)."""
    layers = len(spec.hidden) + 2
    if spec.protocol == "forget":
        return 2 * (spec.epochs + spec.epochs_b + (spec.epochs_c or 0) + 1) * layers
    return (3 * spec.epochs + 2) * layers


def rows_ok(spec: RunSpec, n: int) -> bool:
    """Whether ``n`` records can be a complete run of ``spec`` (see ``expected_rows``)."""
    want = expected_rows(spec)
    if spec.protocol == "forget" and (spec.criterion is not None or spec.steps_b is not None):
        step = 2 * (len(spec.hidden) + 2)  # one evaluation: two splits x the layers
        return 0 < n <= want and n % step == 0
    return n == want


def _clean(v):
    """A JSON-safe number: NaN and infinities become null (read back as NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _metrics_json(row: dict) -> str:
    return json.dumps({k: _clean(v) for k, v in row.items() if k not in ROW_KEYS}, separators=(",", ":"))


class Store:
    """``Store(path)`` opens (or creates) a results database; ``Store(path, readonly=True)``
    opens an existing one without ever writing (read commands use it).

    Stores written by sparsel 0.1 (schema 1) are upgraded in place when opened for writing and
    read through an upgraded copy in memory when opened read-only; nothing is lost.
    """

    def __init__(self, path=None, readonly: bool = False):
        self.path = Path(path).expanduser() if path else default_path()
        self.readonly = readonly
        self._code = None
        if readonly and not self.path.exists():
            raise StoreError(f"no store at {self.path}: check the path (--store or SPARSEL_STORE); "
                             "read commands never create one")
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30)
                # a rollback journal: a committed run lives in the main file, not in a -wal file
                self.db.execute("PRAGMA journal_mode=DELETE")
                self.db.execute("PRAGMA synchronous=FULL")
            self._check_schema()
        except sqlite3.DatabaseError as err:
            journal = self.path.with_name(self.path.name + "-journal")
            if readonly and journal.exists():  # a hot journal: only a writing open can roll it back
                raise StoreError(f"{self.path}: a write to it was cut short (a killed sweep left {journal.name}, "
                                 f"which a read-only command cannot roll back; {err}). Open it once for writing "
                                 "(the next sparsel run, campaign or unpack on it) and SQLite rolls the cut write "
                                 "back; keep the -journal file beside it until then") from err
            raise StoreError(f"{self.path} is not a usable sparsel store ({err}). "
                             "Move it aside (or pass another --store / SPARSEL_STORE) and run again.") from err

    def _check_schema(self):
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        found = None
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else None
        elif tables:
            raise StoreError(f"{self.path} is an SQLite file but not a sparsel store (tables: {sorted(tables)}).")
        if found is not None and found > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema {found}, this sparsel reads schema {SCHEMA_VERSION}. "
                             "Upgrade sparsel to read it.")
        if found not in (None, 1, SCHEMA_VERSION):
            raise StoreError(f"{self.path} has unknown store schema {found}; start a new store.")
        if found == 1:
            if self.readonly:  # upgrade a copy in memory; the file is left as it is
                mem = sqlite3.connect(":memory:")
                self.db.backup(mem)
                self.db.close()
                self.db = mem
            self._upgrade_from_1()
        elif found is None:
            if self.readonly:
                raise StoreError(f"{self.path} is an empty file, not a sparsel store")
            with self.db:
                self.db.executescript(_SCHEMA)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif "records" not in tables or "runs" not in tables:
            raise StoreError(f"{self.path} is a damaged sparsel store (tables: {sorted(tables)}); "
                             "restore it from a copy or an archive (sparsel unpack)")

    def _upgrade_from_1(self):
        """Schema 1 (wide records, no trainer) -> 2, in one transaction."""
        with self.db:
            self.db.execute("ALTER TABLE runs RENAME TO runs_v1")
            self.db.execute("ALTER TABLE records RENAME TO records_v1")
            self.db.executescript(_SCHEMA.replace("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                                                  "value TEXT NOT NULL);", ""))
            rec = pd.read_sql_query("SELECT * FROM records_v1", self.db)
            rows = [(r.key, int(r.epoch), r.split, str(r.layer), _metrics_json({k: getattr(r, k) for k in V1_VALUES}))
                    for r in rec[["key", *ROW_KEYS, *V1_VALUES]].itertuples(index=False)]
            self.db.executemany("INSERT INTO records VALUES (?,?,?,?,?)", rows)
            counts = rec.groupby("key").size().to_dict()
            for r in self.db.execute("SELECT * FROM runs_v1").fetchall():
                key, spec, code, div, div_ep, sec, dev, tv, fin = r
                self.db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                                (key, spec, code, "unknown", div, div_ep, sec, dev, tv, fin, int(counts.get(key, 0))))
            self.db.execute("DROP TABLE records_v1")
            self.db.execute("DROP TABLE runs_v1")
            self.db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- writing ------------------------------------------------------------------
    def put(self, result, replace: bool = False) -> bool:
        """Store one finished run (a ``train.RunResult``) atomically. A run already stored with
        all its rows is kept (returns False) unless ``replace``: two sweeps that trained the same
        run do not overwrite each other. An incomplete stored copy (not done) is replaced."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        if self._code is None:
            self._code = code_version()
        import torch
        spec = result.spec
        with self.db:  # one transaction: all of the run or none of it
            have = self.db.execute("SELECT n_records, (SELECT COUNT(*) FROM records WHERE key=?) FROM runs "
                                   "WHERE key=?", (spec.key, spec.key)).fetchone()
            if not replace and have and 0 < have[0] == have[1]:
                return False
            self.db.execute("DELETE FROM records WHERE key=?", (spec.key,))
            if self._has_profiles():  # a profile belongs to the network it was computed from
                self.db.execute("DELETE FROM profiles WHERE key=?", (spec.key,))
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
                spec.key, json.dumps(spec.to_dict(), sort_keys=True), getattr(result, "code_version", None) or self._code,
                getattr(result, "trainer", "reference"), int(result.diverged), result.diverged_epoch,
                result.seconds, result.device, torch.__version__, time.time(), len(result.rows)))
            self.db.executemany("INSERT INTO records VALUES (?,?,?,?,?)", [
                (spec.key, int(r["epoch"]), r["split"], str(r["layer"]), _metrics_json(r)) for r in result.rows])
        return True

    def put_profile(self, key: str, profile: dict, trainer: str = "reference", replace: bool = False) -> bool:
        """Store the unit profile of run ``key``: ``profile`` = dict(means=[array [C, N] per hidden
        layer], counts=[C], and optionally code_version, device, torch) (``train.unit_profile``).
        A stored one is kept unless ``replace``. NaN (a class absent, a diverged network) is
        stored as JSON null and read back as NaN."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        import torch
        body = json.dumps(dict(means=[[[_finite(v) for v in row] for row in _plain(m)] for m in profile["means"]],
                               counts=[int(c) for c in _plain(profile["counts"])],
                               device=str(profile.get("device", "")), torch=profile.get("torch", torch.__version__)),
                          allow_nan=False)
        with self.db:
            self.db.execute(_PROFILES)
            cur = self.db.execute(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO profiles VALUES (?,?,?,?)",
                                  (key, profile.get("code_version") or code_version(), trainer, body))
        return cur.rowcount > 0

    def _has_profiles(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name='profiles'").fetchone() is not None

    def profile(self, key: str) -> dict | None:
        """The stored unit profile of run ``key``, or None: dict(means=[numpy [C, N] per hidden
        layer], counts=numpy [C], code_version, trainer, device, torch)."""
        import numpy as np
        if not self._has_profiles():
            return None
        row = self.db.execute("SELECT code_version, trainer, profile FROM profiles WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        body = json.loads(row[2])
        return dict(means=[np.array(m, dtype=float) for m in body["means"]],
                    counts=np.array(body["counts"], dtype=np.int64), code_version=row[0], trainer=row[1],
                    device=body.get("device", ""), torch=body.get("torch", ""))

    def profiles(self, keys=None) -> dict:
        """{key: (code_version, trainer, profile JSON)} of the stored profiles (all, or ``keys``)."""
        if not self._has_profiles():
            return {}
        rows = self.db.execute("SELECT key, code_version, trainer, profile FROM profiles").fetchall()
        want = None if keys is None else set(keys)
        return {r[0]: tuple(r[1:]) for r in rows if want is None or r[0] in want}

    def writer_lock(self):
        """A context manager held by a sweep while it trains into this store: a second sweep on
        the same store stops at once with a clear message instead of retraining the same runs."""
        import contextlib
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, put() still never overwrites a stored run
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def held():
            lock = self.path.with_name(self.path.name + ".lock")
            fh = open(lock, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                who = fh.read().strip() or "?"
                fh.close()
                raise StoreError(f"another sparsel process (pid {who}) is training into {self.path}; "
                                 "wait for it to finish, or pass another --store") from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
        return held()

    # --- reading ------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        """Keys of runs stored with all their rows (a run whose rows went missing is not done)."""
        return {r[0] for r in self.db.execute(
            "SELECT r.key FROM runs r JOIN (SELECT key, COUNT(*) AS c FROM records GROUP BY key) x "
            "ON r.key = x.key WHERE x.c = r.n_records AND r.n_records > 0")}

    def keys_lacking(self, metric: str) -> set[str]:
        """Runs whose test rows before training lack ``metric``: made by code that did not
        record it (``sparsel status`` counts them; retrain them into a new store to add it)."""
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT key FROM records WHERE split='test' AND epoch=0 AND "
            "json_extract(metrics, ?) IS NULL", (f"$.{metric}",))}

    def has(self, spec: RunSpec) -> bool:
        return spec.key in self.done_keys()

    def runs(self, keys=None) -> pd.DataFrame:
        """One row per done run: key, spec fields, code_version, trainer, diverged, seconds, device."""
        df = pd.read_sql_query("SELECT * FROM runs", self.db)
        df = df[df.key.isin(self.done_keys() if keys is None else self.done_keys() & set(keys))]
        specs = pd.DataFrame([json.loads(s) for s in df.spec], index=df.index)
        if len(specs):
            specs["hidden"] = specs["hidden"].map(tuple)
        return pd.concat([df.drop(columns="spec"), specs], axis=1)

    def records(self, keys=None) -> pd.DataFrame:
        """Stored rows as a wide table: key, epoch, split, layer, then one float column per
        metric (loss, accuracy, ``metrics.FIELDS``, ...); a value a run lacks reads as NaN."""
        if keys is None:
            raw = self.db.execute("SELECT key, epoch, split, layer, metrics FROM records").fetchall()
        else:
            keys = list(keys)
            raw = []
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                raw += self.db.execute("SELECT key, epoch, split, layer, metrics FROM records WHERE key IN "
                                       f"({','.join('?' * len(part))})", part).fetchall()
        return _wide(raw)


def _finite(v):
    v = float(v)
    return float(f"{v:.7g}") if math.isfinite(v) else None


def _plain(x):
    """A tensor or array as nested Python lists."""
    return x.tolist() if hasattr(x, "tolist") else list(x)


def _wide(raw) -> pd.DataFrame:
    from .metrics import FIELDS
    head = pd.DataFrame([r[:4] for r in raw], columns=["key", *ROW_KEYS])
    vals = pd.DataFrame.from_records([json.loads(r[4]) for r in raw])
    order = [c for c in ("loss", "accuracy", *FIELDS) if c in vals.columns]
    vals = vals[order + sorted(set(vals.columns) - set(order))]
    for c in ("loss", "accuracy", *FIELDS[:4]):
        if c not in vals.columns:
            vals[c] = float("nan")
    df = pd.concat([head, vals.astype(float)], axis=1)
    df["epoch"] = df["epoch"].astype(int) if len(df) else df["epoch"]
    return df


# --- the committed archive -----------------------------------------------------------
# A store is a cache; an archive is what goes into the repository: runs.csv.gz (one row per
# run: its spec as JSON, code version, trainer, timing, row count), records.csv.gz (one row per
# (run, epoch, split, layer), one column per metric; empty = not measured), FORMAT and
# MANIFEST.json (counts and the sha256 of both files). Record values keep 7 significant
# digits, all that float32 training produces. A one-hidden-layer run's 'mean' and 'weighted'
# rows equal its layer '1' row, so the archive leaves them out and unpack restores them.
# 3: format 2 plus the optional profiles.json.gz (an older sparsel refuses it rather than pack
# over it and drop the profiles' hash from the manifest)
# 4: the records in shards, records.csv.gz then records-2.csv.gz, ..., each holding whole runs
# and listed in order in MANIFEST.json ("shards"). A pack that only adds runs writes them to a
# new shard and leaves the committed ones byte-identical, so the repository's history grows by
# the new runs rather than by a rewritten archive; a pack that replaces runs (force) writes one.
ARCHIVE_FORMAT = 4
READABLE_FORMATS = (1, 2, 3, 4)
_SHARD = re.compile(r"records(-[1-9][0-9]*)?\.csv\.gz")
# pack refuses to write over an archive it cannot read (it might have lost runs the store lacks)
RESTORE_HINT = ("restore the folder (git checkout) and pack again; an archive never committed: delete the "
                "folder and pack the store again")


class ArchiveError(StoreError):
    """An archive that cannot be trusted; the message names the file, the run and the fault."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _gz_csv(df: pd.DataFrame, path: Path, float_format=None) -> None:
    """Write a gzipped CSV reproducibly (no timestamp in the gzip header) via a temp file."""
    _gz_text(df.to_csv(index=False, float_format=float_format, lineterminator="\n"), path)


def _gz_text(text: str, path: Path) -> None:
    import gzip
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(text.encode())
        fh.flush()
        os.fsync(fh.fileno())


PROFILES_FILE = "profiles.json.gz"


def read_profiles(folder) -> dict:
    """An archive's unit profiles as ``Store.profiles`` gives them, {key: (code_version, trainer,
    profile JSON)}; {} for an archive without any. Checks the file against MANIFEST.json."""
    import gzip
    folder = Path(folder).expanduser()
    path = folder / PROFILES_FILE
    try:
        listed = json.loads((folder / "MANIFEST.json").read_text())["sha256"].get(PROFILES_FILE)
    except (OSError, ValueError, KeyError):
        listed = None
    if not path.exists():
        if listed:
            raise ArchiveError(f"{path} is listed in MANIFEST.json but missing: {RESTORE_HINT}")
        return {}
    if listed is None:
        raise ArchiveError(f"{path} is not listed in MANIFEST.json: a pack was cut short or the file was "
                           f"added by hand: {RESTORE_HINT}")
    if listed != _sha256(path):
        raise ArchiveError(f"{path} does not match its hash in MANIFEST.json: the file was changed or "
                           f"half-written: {RESTORE_HINT}")
    out = {}
    for key, v in json.loads(gzip.decompress(path.read_bytes())).items():
        try:
            body = {k: v[k] for k in ("means", "counts", "device", "torch") if k in v}
            if "means" not in body or "counts" not in body:
                raise KeyError("means")
            out[key] = (v["code_version"], v["trainer"], json.dumps(body))
        except (KeyError, TypeError):
            raise ArchiveError(f"{path}: the profile of run {key} lacks code_version, trainer, means or counts")
    return out


def read_archive(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate an archive folder (format 1 to 4): (runs, records) as DataFrames.

    Checks the manifest's hashes (format 2 on; of the unit profiles too), that every key is the
    hash of its spec, that the numbers are numbers and that every run has all its rows, in one
    shard. Raises ArchiveError naming the fault; records come back in the wide form
    ``Store.records`` returns.
    """
    runs, rec, _ = _read_archive(folder)
    return runs, rec


def _shard_number(name: str) -> int:
    return int(name[len("records-"):-len(".csv.gz")]) if name != "records.csv.gz" else 1


def _read_archive(folder):
    """read_archive, plus what pack needs to add a shard: dict(format, shards, rows), where
    shards are the record files in order and rows the records they hold as written."""
    folder = Path(folder).expanduser()
    if not (folder / "FORMAT").exists():
        raise ArchiveError(f"{folder} is not a sparsel archive (no FORMAT file)")
    try:
        fmt = int((folder / "FORMAT").read_text().strip())
    except ValueError:
        raise ArchiveError(f"{folder / 'FORMAT'} does not hold a format number")
    if fmt not in READABLE_FORMATS:
        raise ArchiveError(f"{folder} holds archive format {fmt}; this sparsel reads formats "
                           f"{', '.join(map(str, READABLE_FORMATS))}" + (" (upgrade sparsel)" if fmt > ARCHIVE_FORMAT else ""))
    shards = ["records.csv.gz"]
    if fmt >= 2:
        try:
            manifest = json.loads((folder / "MANIFEST.json").read_text())
        except (OSError, ValueError) as err:
            raise ArchiveError(f"{folder / 'MANIFEST.json'} is missing or unreadable ({err}): {RESTORE_HINT}")
        # FORMAT is written after the manifest: a 3 beside a format-4 manifest is a pack's last step undone
        shards = manifest.get("shards", shards)
        if (not isinstance(shards, list) or not shards or len(set(shards)) != len(shards)
                or not all(isinstance(n, str) and _SHARD.fullmatch(n) for n in shards)):
            raise ArchiveError(f"{folder / 'MANIFEST.json'} lists shards {shards!r}; an archive's record files are "
                               f"records.csv.gz, records-2.csv.gz, ...: {RESTORE_HINT}")
        for name in ("runs.csv.gz", *shards):
            if not (folder / name).exists():
                raise ArchiveError(f"{folder / name} is listed in MANIFEST.json but missing: {RESTORE_HINT}")
            if _sha256(folder / name) != manifest["sha256"].get(name):
                raise ArchiveError(f"{folder / name} does not match its hash in MANIFEST.json: the file was "
                                   f"changed or half-written: {RESTORE_HINT}")
    runs = pd.read_csv(folder / "runs.csv.gz", dtype={"key": str, "spec": str, "code_version": str})
    parts, shard_of = [], {}
    for name in shards:
        part = pd.read_csv(folder / name, dtype={"key": str, "split": str, "layer": str})
        value_cols = [c for c in part.columns if c not in ("key", *ROW_KEYS)]
        for c in ["epoch", *value_cols]:
            bad = pd.to_numeric(part[c], errors="coerce").isna() & part[c].notna()
            if bad.any():
                i = bad.idxmax()
                raise ArchiveError(f"{folder / name} row {i + 2} (run {part.key[i]}): {c} = {part[c][i]!r} "
                                   "is not a number")
            part[c] = pd.to_numeric(part[c]).astype(float)
        for k in part.key.unique():
            if k in shard_of:
                raise ArchiveError(f"{folder}: run {k} has rows in both {shard_of[k]} and {name}: {RESTORE_HINT}")
            shard_of[k] = name
        parts.append(part)
    rec = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    rows = len(rec)
    if fmt == 1 and "trainer" not in runs.columns:
        runs["trainer"] = "unknown"
    need = set(RUN_COLUMNS) - {"n_records"} - set(runs.columns)
    if need:
        raise ArchiveError(f"{folder / 'runs.csv.gz'} lacks columns {sorted(need)}")
    if runs.key.duplicated().any():
        raise ArchiveError(f"{folder / 'runs.csv.gz'} lists run {runs.key[runs.key.duplicated()].iloc[0]} twice")
    rec["epoch"] = rec["epoch"].astype(int)
    counts = rec.groupby("key").size()
    fixed = []
    for i, r in runs.iterrows():
        try:
            spec = RunSpec.from_dict(json.loads(r.spec))
        except (ValueError, TypeError, SpecError) as err:
            raise ArchiveError(f"{folder / 'runs.csv.gz'} run {r.key}: its spec cannot be read ({err})")
        if spec.key != r.key:
            old = json.loads(r.spec).get("order") == "classes" and "order_version" not in json.loads(r.spec)
            raise ArchiveError(f"{folder / 'runs.csv.gz'} run {r.key}: the key is not the hash of its spec "
                               + ("(a run of the old class-batch sampler, which this sparsel no longer runs; "
                                  "leave it out of the archive)" if old else "(the spec was edited)"))
        want = expected_rows(spec)
        if fmt >= 2 and not rows_ok(spec, int(r.n_records)):
            raise ArchiveError(f"{folder / 'runs.csv.gz'} run {r.key}: n_records {r.n_records}, a complete run has {want}")
        fixed.append(int(r.n_records) if fmt >= 2 else want)
    runs["n_records"] = fixed
    rec = _restore_layers(rec, runs)
    have = rec.groupby("key").size().reindex(runs.key, fill_value=0)
    short = runs[have.to_numpy() != runs.n_records.to_numpy()]
    if len(short):
        r = short.iloc[0]
        raise ArchiveError(f"{folder / shard_of.get(r.key, 'records.csv.gz')}: run {r.key} has {int(have[r.key])} "
                           f"rows, a complete run has {r.n_records} ({len(short)} incomplete runs in all)")
    stray = set(counts.index) - set(runs.key)
    if stray:
        k = sorted(stray)[0]
        raise ArchiveError(f"{folder / shard_of[k]} holds rows of {len(stray)} runs not in runs.csv.gz (e.g. {k})")
    stray = set(read_profiles(folder)) - set(runs.key)
    if stray:
        raise ArchiveError(f"{folder / PROFILES_FILE} holds profiles of {len(stray)} runs not in runs.csv.gz "
                           f"(e.g. {sorted(stray)[0]})")
    return runs, rec, dict(format=fmt, shards=shards, rows=rows)


def _single_layer(runs: pd.DataFrame) -> set:
    return {r.key for r in runs.itertuples() if len(json.loads(r.spec)["hidden"]) == 1}


def _restore_layers(rec: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add the 'mean' and 'weighted' rows a packed one-layer run left out (copies of '1')."""
    one = rec[rec.key.isin(_single_layer(runs)) & (rec.layer == "1")]
    idx = ["key", "epoch", "split", "layer"]
    have = rec.set_index(idx).index
    extra = [cp[~cp.set_index(idx).index.isin(have)] for cp in (one.assign(layer=n) for n in ("mean", "weighted"))]
    return pd.concat([rec, *extra], ignore_index=True)


def _drop_copies(rec: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Leave out a one-layer run's 'mean'/'weighted' rows where they equal its layer '1' row."""
    vals = [c for c in rec.columns if c not in ("key", *ROW_KEYS)]
    single = rec.key.isin(_single_layer(runs))
    one = rec[single & (rec.layer == "1")].set_index(["key", "epoch", "split"])[vals]
    cand = rec[single & rec.layer.isin(["mean", "weighted"])]
    ref = one.reindex(pd.MultiIndex.from_frame(cand[["key", "epoch", "split"]])).to_numpy(dtype=float)
    got = cand[vals].to_numpy(dtype=float)
    same = ((ref == got) | (pd.isna(ref) & pd.isna(got))).all(axis=1)
    return rec.drop(index=cand.index[same])


def pack(store: "Store", folder, keys=None, force: bool = False) -> dict:
    """Merge the runs of ``store`` (all, or ``keys``) into the archive at ``folder``.

    Runs already in the archive stay (the archive never shrinks); a run in both with
    different numbers is a conflict: the archive's copy is kept unless ``force``. New runs'
    records go to a new shard (format 4), so the committed files stay as they are; ``force``
    replacing a run rewrites the records as one shard. The packed runs' unit profiles
    (``Store.put_profile``) go along, in ``profiles.json.gz``. Files are written to temporary
    names and renamed into place, the manifest last. Returns counts (runs, added, conflicts,
    records, bytes, profiles, shards).
    """
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    runs = pd.read_sql_query("SELECT * FROM runs", store.db)
    runs = runs[runs.key.isin(store.done_keys() if keys is None else store.done_keys() & set(keys))]
    rec = store.records(list(runs.key))
    old = None
    if (folder / "FORMAT").exists():
        old_runs, old_rec, old = _read_archive(folder)
    conflicts = []
    if old is not None:
        both = sorted(set(old_runs.key) & set(runs.key))
        cols = [c for c in rec.columns if c not in ("key", *ROW_KEYS)]
        for k in both:
            a = _rounded(old_rec[old_rec.key == k], cols)
            b = _rounded(rec[rec.key == k], cols)
            if not a.equals(b):
                conflicts.append(k)
        keep_new = set(runs.key) - set(old_runs.key) | (set(conflicts) if force else set())
        runs_out = pd.concat([old_runs[~old_runs.key.isin(keep_new)], runs[runs.key.isin(keep_new)]],
                             ignore_index=True)
        added = len(set(runs.key) - set(old_runs.key))
    else:
        runs_out, added, keep_new = runs, len(runs), set(runs.key)
    runs_out = runs_out[list(RUN_COLUMNS)].sort_values("key").reset_index(drop=True)
    runs_out["finished"] = runs_out["finished"].map(repr)  # to the second, not %.7g's 1,000 s
    # the shards: the old ones and one of the new runs, unless a run was replaced or the old
    # archive is format 1 (whose record columns are not today's): then all in one
    append = old is not None and old["format"] >= 2 and not (force and conflicts)
    shards, written = (list(old["shards"]) if append else []), {}
    # appending, only the new runs' records are written; else all (ignore_index: the two parts'
    # row labels overlap, and _drop_copies drops rows by label)
    fresh = (rec[rec.key.isin(keep_new)] if append or old is None else
             pd.concat([old_rec[~old_rec.key.isin(keep_new)], rec[rec.key.isin(keep_new)]], ignore_index=True))
    if len(fresh) or not shards:
        name = f"records-{max(map(_shard_number, shards)) + 1}.csv.gz" if shards else "records.csv.gz"
        fresh = _drop_copies(fresh.reset_index(drop=True), runs_out).sort_values(["key", "epoch", "split", "layer"])
        value_cols = [c for c in fresh.columns if c not in ("key", *ROW_KEYS)]
        written[name] = fresh[["key", *ROW_KEYS, *[c for c in value_cols if fresh[c].notna().any()]]]
        shards.append(name)
    n_rows = (old["rows"] if append else 0) + sum(map(len, written.values()))
    # unit profiles: the archive's stay (unless force), the store's are added, of packed runs only
    profs = read_profiles(folder) if old is not None else {}
    profs.update({k: v for k, v in store.profiles(runs.key).items() if force or k not in profs})
    profs = {k: profs[k] for k in sorted(set(profs) & set(runs_out.key))}
    for name, df in written.items():
        _gz_csv(df, folder / name, float_format="%.7g")
    _gz_csv(runs_out, folder / "runs.csv.gz")
    # a new shard first: until runs.csv.gz is renamed the old manifest still reads the old archive
    names = [*written, "runs.csv.gz"] if append else ["runs.csv.gz", *written]
    if profs:
        _gz_text(json.dumps({k: dict(code_version=c, trainer=t, **json.loads(body)) for k, (c, t, body)
                             in profs.items()}, sort_keys=True, separators=(",", ":"), allow_nan=False),
                 folder / PROFILES_FILE)
        names.append(PROFILES_FILE)
    for name in names:
        os.replace(folder / (name + ".tmp"), folder / name)
    listed = ["runs.csv.gz", *shards, *([PROFILES_FILE] if profs else [])]
    manifest = dict(format=ARCHIVE_FORMAT, runs=len(runs_out), records=int(n_rows), shards=shards,
                    sha256={n: _sha256(folder / n) for n in listed})
    tmp = folder / "MANIFEST.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, folder / "MANIFEST.json")
    fmt = folder / "FORMAT"
    if not fmt.exists() or fmt.read_text() != f"{ARCHIVE_FORMAT}\n":  # a kill never leaves it empty
        (folder / "FORMAT.tmp").write_text(f"{ARCHIVE_FORMAT}\n")
        os.replace(folder / "FORMAT.tmp", fmt)
    for f in folder.iterdir():  # shards no longer listed (replaced runs), or of a pack cut short
        if _SHARD.fullmatch(f.name) and f.name not in shards:
            f.unlink()
    size = sum((folder / f).stat().st_size for f in listed)
    return dict(runs=len(runs_out), added=added, conflicts=conflicts, records=int(n_rows), bytes=size,
                profiles=len(profs), shards=len(shards))


def _rounded(rec: pd.DataFrame, cols) -> pd.DataFrame:
    """A run's rows at the archive's precision, for comparing a stored run with an archived one."""
    r = rec.sort_values(["epoch", "split", "layer"])[["epoch", "split", "layer", *[c for c in cols if c in rec]]]
    buf = io.StringIO()
    r.to_csv(buf, index=False, float_format="%.7g")
    return pd.read_csv(io.StringIO(buf.getvalue()), dtype={"split": str, "layer": str}).dropna(axis=1, how="all")


def unpack(folder, store: "Store") -> dict:
    """Validate an archive (``read_archive``) and merge it into ``store``.

    Runs already stored with the same numbers are skipped; a stored run whose numbers differ
    is a conflict, reported and left as it is. The archive's unit profiles are added where the
    store has none. Returns dict(added, same, conflicts=[keys], profiles=added profiles).
    """
    runs, rec = read_archive(folder)
    have = store.done_keys()
    cols = [c for c in rec.columns if c not in ("key", *ROW_KEYS)]
    both = sorted(set(runs.key) & have)
    mine = store.records(both) if both else rec.iloc[:0]
    conflicts = [k for k in both if not _rounded(rec[rec.key == k], cols).equals(
        _rounded(mine[mine.key == k], cols))]
    new = runs[~runs.key.isin(have)]
    if len(new):
        sub = rec[rec.key.isin(set(new.key))]
        rows = [(r[0], int(r[1]), r[2], str(r[3]), _metrics_json(dict(zip(cols, r[4:]))))
                for r in sub[["key", *ROW_KEYS, *cols]].itertuples(index=False)]
        with store.db:  # one transaction; rows of an incomplete copy of a run are replaced
            store.db.executemany("DELETE FROM records WHERE key=?", [(k,) for k in new.key])
            store.db.executemany(f"INSERT OR REPLACE INTO runs VALUES ({','.join('?' * len(RUN_COLUMNS))})", [
                (r.key, r.spec, r.code_version, r.trainer, int(r.diverged),
                 None if pd.isna(r.diverged_epoch) else int(r.diverged_epoch), float(r.seconds), r.device,
                 str(r.torch), float(r.finished), int(r.n_records)) for r in new.itertuples(index=False)])
            store.db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?)", rows)
    profs = read_profiles(folder)
    if profs:
        with store.db:
            store.db.execute(_PROFILES)
            n0 = store.db.total_changes
            store.db.executemany("INSERT OR IGNORE INTO profiles VALUES (?,?,?,?)", [(k, *v) for k, v in profs.items()])
            n_prof = store.db.total_changes - n0
    else:
        n_prof = 0
    return dict(added=len(new), same=len(both) - len(conflicts), conflicts=conflicts, profiles=n_prof)
