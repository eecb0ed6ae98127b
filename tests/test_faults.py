"""Fault injection on the campaign path: train -> store -> pack -> archive -> unpack, with the
processes doing it killed (SIGKILL) at random points, many times.

test_store.py crashes pack deterministically at each of its file operations; here real
processes die at random moments, so the checks cover what the operating system and SQLite
leave behind (hot journals, temp files, half-renamed archives). Each test prints one
summary line (run with -s to see it).
"""
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from sparsel import experiments as E
from sparsel.spec import RunSpec
from sparsel.store import ArchiveError, Store, StoreError, expected_rows, read_archive, unpack

sys.path.insert(0, str(Path(__file__).parent))
from test_store import at_7_digits, same_values  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

# The driver: imports once, then forks one worker per "go <first>" line read from stdin; the
# test SIGKILLs the worker (never the driver), and the driver reports how it ended. A worker
# loops: put a fake-but-complete run (print "put <key>" once committed), pack the store's new
# runs into the archive (an --only-style merge), unpack the archive into a fresh store.
DRIVER = r'''
import os, sys, traceback
sys.path.insert(0, sys.argv[1])
from test_store import fake_result
from sparsel.spec import RunSpec
from sparsel.store import Store, pack, read_archive, unpack
import torch  # noqa: F401 (put() imports it: not in the worker's time)
STORE, ARCH, FRESH = sys.argv[2:5]


def say(msg):
    os.write(1, (msg + "\n").encode())  # one write per line: lines of worker and driver never mix


def work(first):
    st = Store(STORE)
    i = first
    while True:
        spec = RunSpec(epochs=1 + i % 2, hidden=(32,) if i % 3 else (32, 16), seed=i, train_size=1000,
                       test_size=500)
        result = fake_result(spec, value=(i % 97) / 97, diverged_epoch=1 if i % 5 == 0 else None,
                             trainer=("reference", "engine")[i % 2])
        say(f"putting {spec.key}")
        if st.put(result):
            say(f"put {spec.key}")
        i += 1
        have = set(read_archive(ARCH)[0].key) if os.path.exists(os.path.join(ARCH, "FORMAT")) else set()
        say("packing")
        info = pack(st, ARCH, keys=sorted(st.done_keys() - have))
        say(f"packed {info['runs']}")
        fresh = os.path.join(FRESH, f"{i}.sqlite")
        say(f"unpacking {fresh}")
        info = unpack(ARCH, Store(fresh))
        say(f"unpacked {info['added']}")


for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            work(int(line.split()[1]))
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(3)
    say(f"pid {pid}")
    _, status = os.waitpid(pid, 0)
    say(f"ended {pid} {status}")
'''


class Lines:
    """Lines from a pipe, with a timeout (a stuck driver fails the test, not the session)."""

    def __init__(self, fh, err_path):
        self.fd, self.buf, self.err = fh.fileno(), b"", err_path

    def __call__(self, timeout=60.0):
        end = time.time() + timeout
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.time()))
            chunk = os.read(self.fd, 1 << 16) if ready else b""
            if not chunk:
                raise AssertionError(f"driver silent or gone; its stderr:\n{Path(self.err).read_text()[-3000:]}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def complete_and_atomic(path):
    """Open a store as the next sweep would (a hot journal is rolled back), and check that no
    run in it is partial (puts and unpacks are atomic) and that every done run has all the
    rows of its spec. Returns (done keys, store)."""
    st = Store(path)
    partial = st.db.execute("SELECT r.key FROM runs r WHERE r.n_records != "
                            "(SELECT COUNT(*) FROM records x WHERE x.key = r.key)").fetchall()
    assert partial == [], f"{path}: partial runs {partial}"
    n = dict(st.db.execute("SELECT key, COUNT(*) FROM records GROUP BY key").fetchall())
    runs = st.runs()
    for key, spec in zip(runs.key, runs.to_dict("records")):
        s = RunSpec(epochs=int(spec["epochs"]), hidden=tuple(spec["hidden"]))
        assert n[key] == expected_rows(s), key
    return st.done_keys(), st


def test_campaign_path_survives_random_kills(tmp_path):
    rng = random.Random(13)
    kills_wanted = 48
    store, arch, fresh, good = tmp_path / "s.sqlite", tmp_path / "arch", tmp_path / "fresh", tmp_path / "good"
    fresh.mkdir()
    (tmp_path / "driver.py").write_text(DRIVER)
    err = tmp_path / "driver.err"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([PY, str(tmp_path / "driver.py"), str(Path(__file__).parent), str(store), str(arch),
                             str(fresh)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(err, "w"), env=env, cwd=tmp_path)
    read = Lines(proc.stdout, err)
    reported, last_done, good_keys, archived_count, window = set(), set(), None, None, 0.6
    out, checks = Counter(), Counter()
    t0 = time.time()
    try:
        for k in range(kills_wanted):
            proc.stdin.write(f"go {1000 * (k + 1)}\n".encode())
            proc.stdin.flush()
            phase, unpacks = "start", []

            def take(line):  # a line of the worker
                nonlocal phase, archived_count
                word, _, arg = line.partition(" ")
                phase = word
                if word == "put":
                    reported.add(arg)
                elif word == "packed":
                    archived_count = int(arg)
                elif word == "unpacking":
                    unpacks.append([Path(arg), archived_count, False])
                elif word == "unpacked":
                    unpacks[-1][2] = True
            while not (line := read()).startswith("pid "):
                take(line)  # the worker may speak before the driver names it
            pid = int(line.split()[1])
            time.sleep(rng.uniform(0.0, window))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended on its own (an error): reported just below
                pass
            while not (line := read()).startswith(f"ended {pid} "):
                take(line)
            status = int(line.split()[2])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
                f"worker ended on its own; driver stderr:\n{err.read_text()[-3000:]}"
            out[f"killed while {phase}"] += 1
            # a kill every 0-0.6 s of a worker's life; on a machine too busy for a worker to
            # store a run in that time, a longer window, so the kills keep landing mid-work
            window = 0.6 if phase not in ("start", "putting") else min(2 * window, 4.0)

            # the store: a copy of the .sqlite file alone holds every reported run (no WAL);
            # with a hot journal (killed mid-commit) the copy waits for the rollback
            hot = Path(str(store) + "-journal").exists()
            out["hot journal" if hot else "no journal"] += 1
            if store.exists() and not hot:
                shutil.copy(store, tmp_path / "alone.sqlite")
                assert reported <= Store(tmp_path / "alone.sqlite", readonly=True).done_keys()
                checks["file alone holds every reported run"] += 1
            if hot:
                try:
                    Store(store, readonly=True).close()
                    out["read-only open over a hot journal: ok"] += 1
                except StoreError as why:  # it cannot roll back: it must say so, not "move it aside"
                    assert "cut short" in str(why) and "Move it aside" not in str(why), str(why)
                    out["read-only open over a hot journal: refused, saying why"] += 1
            done, st = complete_and_atomic(store)
            checks["no partial run, every done run complete"] += 1
            assert reported <= done, reported - done
            checks["every reported run stored"] += 1
            assert last_done <= done
            checks["nothing finished lost"] += 1
            last_done = done

            # the archive: the previous complete one, the new one, or torn between renames
            # (ArchiveError: a file does not match MANIFEST.json) -- nothing else
            runs = None
            if not (arch / "FORMAT").exists():
                assert good_keys is None, "a complete archive lost its FORMAT file"
                out["archive: not yet written"] += 1
            else:
                try:
                    runs, rec = read_archive(arch)
                except ArchiveError as why:
                    assert "does not match its hash in MANIFEST.json" in str(why), str(why)
                    shutil.rmtree(arch)
                    if good_keys is None:
                        # the worker packed twice before this kill: its first archive was
                        # never seen (never "committed"), so the hint's second way applies:
                        # delete the folder, and the next pack writes it from the store
                        out["archive: torn before one was committed, deleted"] += 1
                    else:
                        out["archive: torn (hash mismatch), restored"] += 1
                        shutil.copytree(good, arch)  # git checkout
                        runs, rec = read_archive(arch)
            if runs is not None:
                keys = set(runs.key)
                assert good_keys is None or good_keys <= keys, "the archive shrank"
                assert keys <= done, "the archive holds a run the store never finished"
                checks["archive complete, never shrinks"] += 1
                if keys != good_keys:
                    out["archive: new"] += 1
                    assert same_values(rec, at_7_digits(st.records(keys)))
                    checks["archive = store at 7 digits"] += 1
                    probe = Store(tmp_path / f"probe{k}.sqlite")
                    assert unpack(arch, probe)["added"] == len(keys) and probe.done_keys() == keys
                    assert same_values(probe.records(), rec)
                    assert probe.runs().set_index("key").trainer.sort_index().tolist() == \
                        runs.set_index("key").trainer.sort_index().tolist()
                    probe.close()
                    checks["fresh unpack = archive"] += 1
                    shutil.rmtree(good, ignore_errors=True)
                    shutil.copytree(arch, good)
                    good_keys = keys
                else:
                    out["archive: unchanged"] += 1
            st.close()

            # the worker's fresh stores: an unpack is all of the archive or nothing
            for path, n, finished in unpacks:
                if path.exists():
                    got, s2 = complete_and_atomic(path)
                    s2.close()
                    assert len(got) == n if finished else len(got) in (0, n), (path, len(got), n)
                    out["fresh store: " + ("complete" if got else "empty (killed mid-unpack)")] += 1
                    checks["unpack all or nothing"] += 1
                    path.unlink()
        # the end: one clean pack of everything; the union lost nothing
        from sparsel.store import pack
        st = Store(store)
        pack(st, arch)
        assert reported <= set(read_archive(arch)[0].key) == st.done_keys()
        checks["final archive holds every reported run"] += 1
    finally:
        proc.kill()
        proc.wait()
    kills = sum(v for k, v in out.items() if k.startswith("killed"))
    assert kills == kills_wanted and out["archive: new"] >= 3 and len(reported) >= 10, out
    print(f"\nfault injection (store/pack/unpack): {kills} SIGKILLs in {time.time() - t0:.0f} s, "
          f"{len(reported)} runs reported stored, {sum(checks.values())} invariant checks passed "
          f"({', '.join(f'{k} x{v}' for k, v in checks.items())}); outcomes: "
          f"{', '.join(f'{k} x{v}' for k, v in sorted(out.items()))}")


def _wait_for(cond, timeout, what, every=0.1):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


@pytest.mark.slow  # 4 real smoke runs and 4 process starts: 60-140 s on 2 shared cores
def test_killed_cli_runs_resume_and_lose_nothing(tmp_path):
    """`sparsel run baseline --scale smoke --no-engine` (4 real runs) SIGKILLed mid-run three
    times: while its first run trains, then a random 0.2-1.2 s into the run after the 1st and
    after the 2nd finished run; a second `sparsel run` on the same store while one trains stops
    at once naming the first's pid (defect 9); every resume keeps each finished run and the
    last one completes the grid."""
    rng = random.Random(7)
    store, lock = tmp_path / "cli.sqlite", tmp_path / "cli.sqlite.lock"
    # Each evaluation is padded by 0.4 s so that a run lasts >= 1.6 s on any machine: on a fast one the
    # smoke runs finish in well under the kill delay and the sweep would end before it can be killed.
    paced = ("import sys, time, sparsel.train as t; f = t.evaluation_rows; "
             "t.evaluation_rows = lambda *a, **k: (time.sleep(0.4), f(*a, **k))[1]; "
             "from sparsel.cli import main; sys.exit(main(sys.argv[1:]))")
    cmd = [PY, "-c", paced, "run", "baseline", "--scale", "smoke", "--device", "cpu", "--store", str(store),
           "--quiet", "--no-engine"]
    env = dict(os.environ, SPARSEL_DATA=os.environ.get("SPARSEL_DATA") or str(REPO.parent / "shared" / "data"))
    keys = {c.spec.key for c in E.cells("baseline", "smoke")}

    def n_done():
        try:
            with Store(store, readonly=True) as st:
                return len(st.done_keys())
        except StoreError:  # not created yet
            return 0
    t0, last, kills, finished_between = time.time(), set(), 0, []
    for attempt in range(3):
        err = tmp_path / f"err{attempt}"
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(err, "w"))
        # training has begun once the writer lock holds this pid
        _wait_for(lambda: proc.poll() is not None or (lock.exists() and lock.read_text().strip() == str(proc.pid)),
                  90, "the sweep to take the writer lock")
        assert proc.poll() is None, err.read_text()
        if attempt == 0:
            second = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)
            assert second.returncode == 2 and f"pid {proc.pid}" in second.stderr, second.stderr
            time.sleep(rng.uniform(0.2, 1.2))
        else:
            _wait_for(lambda: proc.poll() is not None or n_done() >= attempt, 300,
                      f"run {attempt} to finish", every=0.5)
            time.sleep(rng.uniform(0.2, 1.2))
        assert proc.poll() is None, f"the sweep ended before it was killed: {err.read_text()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        done, st = complete_and_atomic(store)
        st.close()
        assert last <= done <= keys, "a finished run was lost"
        finished_between.append(len(done - last))
        last = done
    assert len(last) >= 2
    # the stale lock file (a dead pid) does not block the resume
    res = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"4 runs, {len(last)} already stored, {4 - len(last)} trained" in res.stdout, res.stdout
    done, st = complete_and_atomic(store)
    assert done == keys and last <= done and set(st.runs().trainer) == {"reference"}
    st.close()
    print(f"\nfault injection (sparsel run): {kills} SIGKILLs mid-run, runs finished between kills "
          f"{finished_between}, a second sweep refused naming the first's pid, the resume kept {len(last)} "
          f"and trained {4 - len(last)}; store complete ({len(done)}/4 runs) in {time.time() - t0:.0f} s")
