"""The ``sparsel`` command: run, status, export, bench."""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import sqlite3
import sys
import zlib
from pathlib import Path

from . import experiments
from .store import Store, default_path


def _seeds(text):
    """--seeds: distinct non-negative integers, comma-separated."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs at least one seed, e.g. 1,100,1234 (leave --seeds out for the scale's)")
    seeds = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise argparse.ArgumentTypeError(f"{text!r} has an empty entry; write integers separated by commas, "
                                             "e.g. 1,100,1234")
        try:
            seed = int(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes integers separated by commas, e.g. 1,100,1234; "
                                             f"{item!r} is not an integer") from None
        if seed < 0:
            raise argparse.ArgumentTypeError(f"seed {seed} is negative; seeds are integers >= 0")
        if seed in seeds:
            raise argparse.ArgumentTypeError(f"seed {seed} is given twice; give each seed once")
        seeds.append(seed)
    return tuple(seeds)


_DEVICES = "auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps"


def _device(text):
    """--device: the form only; whether that device exists is checked before anything runs."""
    text = text.strip()
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"takes {_DEVICES}; got {text!r}")
    return text


def _check_device(name: str) -> None:
    """Fail now, before any training, when --device names a device this machine lacks."""
    import torch

    from .train import resolve_device
    dev = resolve_device(name)  # 'cuda' without a GPU raises here
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"--device {name} asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s) "
                           f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}); use --device cuda, cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("--device mps asked for, but torch sees no MPS (Apple GPU) device; use --device cpu or auto")


def _path(text):
    """A file or folder argument, with ~ expanded (the shell leaves --store=~/x alone)."""
    return os.path.expanduser(text)


def _positive(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number >= 1; got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number >= 1; got {n}")
    return n


def _common(p, experiment=True):
    if experiment:
        p.add_argument("experiment", help=f"all, or one of: {', '.join(experiments.EXPERIMENTS)}")
    p.add_argument("--scale", choices=list(experiments.SCALES), default="smoke",
                   help="smoke: small subset, few epochs, one seed; full: the dissertation's settings")
    p.add_argument("--seeds", type=_seeds, default=None, help="override the scale's seeds, e.g. 1,100,1234")
    p.add_argument("--only", action="append", default=[], metavar="FIELD=V[,V]",
                   help="narrow the grid, e.g. --only optimizer=sgd --only batch_size=1,50 (repeatable, one field "
                        "each; values are alternatives). FIELD: a run-spec field, condition, param or value. "
                        "Floats match as condition labels print them (lr=0.000139); hidden=256x256 is one "
                        "2-layer net, hidden=64,128 two 1-layer widths. An unknown field or a value no run "
                        "has is an error that lists what exists")
    p.add_argument("--store", type=_path, default=None,
                   help="results database (default $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite)")


def main(argv=None) -> int:
    from .train import flush_denormals
    flush_denormals()  # before torch starts its worker threads, so they inherit the mode
    if hasattr(signal, "SIGPIPE"):  # `sparsel export ... --csv - | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(prog="sparsel", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="train an experiment's missing runs into the store")
    _common(p)
    p.add_argument("--device", type=_device, default="auto", help=_DEVICES)
    p.add_argument("--data", type=_path, default=None,
                   help="MNIST root (default $SPARSEL_DATA or ~/.cache/sparsel/data)")
    p.add_argument("--no-engine", action="store_true", help="train run by run with the reference loop")
    p.add_argument("--recompute", choices=["other-code"], default=None,
                   help="other-code: train again the stored runs made by other code than this (see status)")
    p.add_argument("--executor", choices=["local", "auto", "processes", "ray"], default="local",
                   help="local: this process; auto: long groups (full-scale stacks, CNN and forgetting runs) "
                        "on one single-thread process per CPU core, short ones here; processes: --workers "
                        "processes on disjoint groups; ray: a Ray cluster")
    p.add_argument("--workers", type=_positive, default=2, help="worker processes (with --executor processes)")
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("campaign", help="train what the study still lacks, in a useful order, within a time budget")
    p.add_argument("--scale", choices=list(experiments.SCALES), default="full")
    p.add_argument("--experiments", default=",".join(experiments.CAMPAIGN_ORDER),
                   help="comma-separated, in the order to compute them (batch-size-1 runs of all of them come "
                        "last; within each, the longest stacks first); 'dissertation' stands for the ten "
                        "experiments of chapter 5")
    p.add_argument("--hours", type=float, default=None, help="stop starting work after this long (e.g. 2.5)")
    p.add_argument("--store", type=_path, default=None, help="results database to train into")
    p.add_argument("--archive", type=_path, default=None,
                   help="committed archive whose runs count as done (e.g. results/full): merged into the store first")
    p.add_argument("--device", type=_device, default="auto", help=_DEVICES)
    p.add_argument("--data", type=_path, default=None)
    p.add_argument("--executor", choices=["auto", "local", "processes"], default="auto",
                   help="auto: long groups (full-scale stacks, CNN and forgetting runs) on one single-thread "
                        "process per CPU core (a GPU: all here); local: all here; processes: --workers processes")
    p.add_argument("--workers", type=_positive, default=2)
    p.add_argument("--merge", action=argparse.BooleanOptionalAction, default=True,
                   help="one sweep over all the experiments and phases (the default): stacks still start in "
                        "the phases' and experiments' order, runs of several experiments share a stack where "
                        "they can, and a core freed by one experiment's (or phase's) last stack starts the "
                        "next one's first; --no-merge: one sweep per experiment and phase")
    p.add_argument("--max-group", type=_positive, default=None,
                   help="at most this many runs per stack (smaller stacks finish sooner under a time budget)")
    p.add_argument("--phase", choices=["all", "batched", "batch1"], default="all",
                   help="batched: only runs with batches > --small-batch; batch1: only the others (two "
                        "machines can share the campaign without training the same runs)")
    p.add_argument("--small-batch", type=_positive, default=1,
                   help="batches up to this size form the batch1 phase, trained last (default 1; 2 also "
                        "leaves the batch-2 runs, launch-bound on a GPU, to the CPU)")
    p.add_argument("--nice", type=int, default=10, help="lower this process's priority by this much (0: not)")
    p.add_argument("--only", action="append", default=[], metavar="FIELD=V[,V]",
                   help="narrow each experiment's grid as `run --only` does (e.g. --only hidden=2048 --only "
                        "optimizer=adam, to choose what a session's budget starts); an experiment with no "
                        "matching run is skipped")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("status", help="done, missing and diverged runs per experiment")
    _common(p, experiment=False)
    p.add_argument("experiment", nargs="?", default="all")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--provenance", action="store_true",
                   help="per experiment: devices, trainers, code versions, run-hours and dates (a markdown table)")
    p = sub.add_parser("export", help="write an experiment's results as CSV")
    _common(p)
    p.add_argument("--csv", type=_path, required=True, help="output file ('-' for stdout)")
    p = sub.add_parser("pack", help="write an experiment's stored runs to a committed archive folder")
    _common(p)
    p.add_argument("--out", type=_path, required=True, help="archive folder, e.g. results/full")
    p.add_argument("--force", action="store_true",
                   help="where a run is in both with different numbers, replace the archive's copy")
    p = sub.add_parser("unpack", help="merge an archive folder into the store")
    p.add_argument("folder", type=_path)
    p.add_argument("--store", type=_path, default=None)
    p = sub.add_parser("bench", help="reference loop vs stacked engine, side by side")
    p.add_argument("--device", type=_device, default="auto", help=_DEVICES)
    p.add_argument("--data", type=_path, default=None)
    p.add_argument("--runs", type=_positive, default=16, help="runs per measurement (4 optimizers x seeds)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: check the command, not the speed")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "bench" or (args.cmd in ("run", "campaign") and args.executor != "ray"):
            _check_device(args.device)
        return _dispatch(args)
    except (ValueError, LookupError, RuntimeError, ImportError, OSError, sqlite3.Error, EOFError, zlib.error,
            ZeroDivisionError) as err:
        print(f"sparsel {args.cmd}: error: {_describe(err, args)}", file=sys.stderr)
        return 2


def _describe(err: BaseException, args) -> str:
    """One line for an error that ends a command, naming the file involved where it is known."""
    msg = str(err) or type(err).__name__
    if isinstance(err, (gzip.BadGzipFile, EOFError, zlib.error)):
        where = f" in archive {args.folder}" if args.cmd == "unpack" else ""
        return f"a compressed file{where} is damaged or cut short ({type(err).__name__}: {msg})"
    if isinstance(err, OSError) and err.filename is not None and str(err.filename) not in msg:
        return f"{msg}: {err.filename}"
    if isinstance(err, sqlite3.Error):
        store = getattr(args, "store", None) or default_path()
        return (f"results database {store}: {type(err).__name__}: {msg}. If another sparsel is writing it, "
                "wait and run again; if it is damaged, move it aside (or pass another --store)")
    if isinstance(err, ZeroDivisionError):
        return f"division by zero ({msg}): an empty input reached a computation; please report this command"
    return msg


def _dispatch(args) -> int:
    if args.cmd == "bench":
        from .bench import bench
        bench(device=args.device, root=args.data, runs=args.runs, quick=args.quick)
        return 0
    if args.cmd == "campaign":
        return _campaign(args)
    if args.cmd == "unpack":
        from .store import unpack
        store = Store(args.store)
        info = unpack(args.folder, store)
        print(f"added {info['added']} runs from {args.folder} to {store.path} ({info['same']} already there, "
              f"{len(info['conflicts'])} conflicts)" + (f" and {info['profiles']} unit profiles" if info["profiles"] else ""))
        for k in info["conflicts"][:20]:
            print(f"  conflict: run {k} is stored with other numbers; kept the stored copy")
        return 3 if info["conflicts"] else 0
    only = experiments.parse_only(args.only)
    experiments.cells(args.experiment, args.scale, args.seeds, **only)  # bad --only / --seeds: said first
    # only `run` writes the store; reading commands never create one at a mistyped path
    store = Store(args.store, readonly=args.cmd != "run")
    if args.cmd == "pack":
        from .store import pack
        keys = [c.spec.key for c in experiments.cells(args.experiment, args.scale, args.seeds, **only)]
        done = store.done_keys()
        info = pack(store, args.out, [k for k in keys if k in done], force=args.force)
        print(f"packed {info['added']} new runs into {args.out}: it holds {info['runs']} runs ({info['records']} "
              f"records in {info['shards']} shard{'s' * (info['shards'] != 1)}"
              + (f", {info['profiles']} unit profiles" if info["profiles"] else "")
              + f", {info['bytes'] / 1e6:.2f} MB); {len(set(keys) - done)} runs of the grid are not in the store")
        for k in info["conflicts"][:20]:
            print(f"  conflict: run {k} differs between store and archive; "
                  + ("replaced (--force)" if args.force else "kept the archive's copy (--force replaces it)"))
        return 0
    if args.cmd == "run":
        from .sweep import other_code_keys, run_cells
        cells = experiments.cells(args.experiment, args.scale, args.seeds, **only)
        again = other_code_keys(store, [c.spec.key for c in cells]) if args.recompute == "other-code" else ()
        stats = run_cells(cells, store, device=args.device, root=args.data, use_engine=not args.no_engine,
                          executor=args.executor, address=args.address, progress=not args.quiet,
                          workers=args.workers, recompute=again)
        print(f"{args.experiment} ({args.scale}): {stats['total']} runs, {stats['cached']} already stored, "
              f"{stats['trained']} trained, {stats['diverged']} diverged -> {store.path}")
        return 0
    if args.cmd == "status" and args.provenance:
        from .summary import provenance
        print(provenance(store, args.scale).to_markdown(index=False) if _has_tabulate() else
              provenance(store, args.scale).to_string(index=False))
        return 0
    if args.cmd == "status":
        from .sweep import status
        names = list(experiments.EXPERIMENTS) if args.experiment == "all" else [args.experiment]
        grid = experiments.cells(args.experiment, args.scale, args.seeds, **only)  # --only checked once, on all
        report = {}
        for n in names:
            st = status([c for c in grid if c.experiment == n], store)
            st.pop("missing_keys")
            report[n] = st
        resuming = {k: e for st in report.values() for k, e in st["resuming"].items()}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"{'experiment':19} {'runs':>5} {'done':>5} {'missing':>7} {'diverged':>8} {'old metrics':>11} "
                  f"{'other code':>10} {'est. left':>10}")
            for n, st in report.items():
                print(f"{n:19} {st['runs']:5d} {st['done']:5d} {st['missing']:7d} {st['diverged']:8d} "
                      f"{st['old_metrics']:11d} {st['other_code']:10d} {st['eta_seconds'] / 3600:8.1f} h"
                      + (" *" if st["eta_borrowed"] else ""))
            if len(report) > 1:
                tot = {k: sum(st[k] for st in report.values()) for k in ("runs", "done", "missing", "eta_seconds")}
                print(f"{'all':19} {tot['runs']:5d} {tot['done']:5d} {tot['missing']:7d} {'':8} {'':11} "
                      f"{tot['eta_seconds'] / 3600:8.1f} h  (on this device, from measured rates"
                      + ("; * rough" if any(st["eta_borrowed"] for st in report.values()) else "") + ")")
            if resuming:  # say why an estimate is below what its runs would cost from scratch
                print(f"{len(resuming)} missing runs resume from checkpoints (after epoch "
                      f"{', '.join(map(str, sorted(set(resuming.values()))))}); the estimate counts their epochs left")
            if any(st["eta_borrowed"] for st in report.values()):  # the footnote of the '*' rows
                print("* no run trained like these (engine or reference loop) is stored yet: the estimate "
                      "borrows the other trainer's rate and is rough")
            if len(names) == 1:  # one experiment: name its missing and diverged conditions too
                cells = experiments.cells(names[0], args.scale, args.seeds, **only)
                runs = store.runs([c.spec.key for c in cells])
                done, bad = set(runs.key), set(runs.key[runs.diverged == 1])
                for label, keys in (("missing", None), ("diverged", bad)):
                    hit = [c for c in cells if (c.spec.key not in done if keys is None else c.spec.key in keys)]
                    for c in hit[:40]:
                        print(f"  {label}: {c.condition} (seed {c.spec.seed}, key {c.spec.key})")
                    if len(hit) > 40:
                        print(f"  ... and {len(hit) - 40} more {label}")
        return 0
    if args.cmd == "export":
        from .summary import export_table, results
        table = export_table(results(args.experiment, args.scale, store, args.seeds, **only))
        table.to_csv(sys.stdout if args.csv == "-" else args.csv, index=False)
        if args.csv != "-":
            print(f"wrote {len(table)} rows to {args.csv}")
        return 0
    raise AssertionError(args.cmd)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401  (pandas' to_markdown needs it)
        return True
    except ImportError:
        return False


def _narrowed(names, scale, only) -> tuple[dict, list]:
    """Each experiment's cells narrowed by ``only``, and the experiments left out because no run
    of theirs matches; where none matches anywhere, the first one's error (it lists what exists)."""
    grids, skipped, first = {}, [], None
    for n in names:
        try:
            grids[n] = experiments.cells(n, scale, None, **only)
        except ValueError as e:
            skipped.append(n)
            first = first or ValueError(f"--only: {e}")
    if first and not grids:
        raise first
    return grids, skipped


def _campaign(args) -> int:
    """Train the missing runs experiment by experiment (batch size 1 last) until done, the
    time budget ends or a signal (SIGTERM, Ctrl-C) arrives; nothing finished is lost."""
    import os
    import time
    from . import engine
    from .sweep import run_cells
    from .store import unpack
    t0 = time.time()
    deadline = t0 + 3600 * args.hours if args.hours else None
    if args.nice and hasattr(os, "nice"):
        os.nice(args.nice)
    try:
        names = experiments.expand(n.strip() for n in args.experiments.split(",") if n.strip())
    except ValueError as e:
        raise ValueError(f"--experiments: {e}") from None
    grids, skipped = _narrowed(names, args.scale, experiments.parse_only(args.only))
    store = Store(args.store)

    def log(msg):
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} campaign: {msg}", flush=True)

    def stop(signum, frame):
        engine.request_stop()  # should the exception below be swallowed, the stacks still stop
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    if skipped:
        log(f"no run of {', '.join(skipped)} matches --only {' '.join(args.only)}: left out")
    if args.archive and (Path(args.archive) / "FORMAT").exists():
        info = unpack(args.archive, store)
        log(f"merged {info['added']} runs from {args.archive} ({info['same']} already stored)")
    # batch-size-1 runs (most of the cost) after everything else. Merged, one sweep with the
    # phases in order: runs of several experiments share a stack where they can (big stacks: a
    # GPU's choice), and on a CPU no core waits for one experiment's or phase's last stack
    # before the next starts
    small = args.small_batch
    phases = [(f"batch > {small}", lambda c: c.spec.batch_size > small),
              ("batch 1" if small == 1 else f"batch <= {small}", lambda c: c.spec.batch_size <= small)]
    phases = {"all": phases, "batched": phases[:1], "batch1": phases[1:]}[args.phase]
    sweeps = [(", then ".join(label for label, _ in phases), [(names, keep) for _, keep in phases])] if args.merge \
        else [(f"{n}, {label}", [([n], keep)]) for label, keep in phases for n in names]
    total = dict(trained=0, diverged=0, stopped=0)
    done_before = len(store.done_keys())  # counts what finished even when a signal ends a sweep
    try:
        for label, parts in sweeps:
            if engine.stop_requested():
                raise KeyboardInterrupt("stop requested")
            if deadline and time.time() > deadline:
                log("time budget reached")
                break
            cells = [c for exps, keep in parts for n in exps for c in grids.get(n, ()) if keep(c)]
            if not cells:
                continue

            def rank(c, parts=parts):  # phases, then experiments, in order; longest first within
                return next(i for i, (_, keep) in enumerate(parts) if keep(c)), names.index(c.experiment)
            st = run_cells(cells, store, device=args.device, root=args.data, progress=not args.quiet,
                           executor=args.executor, workers=args.workers, deadline=deadline, log=log,
                           max_group=args.max_group, rank=rank)
            for k in total:
                total[k] += st[k]
            if st["total"] > st["cached"]:
                log(f"{label}: {st['total']} runs, {st['cached']} stored before, {st['trained']} trained, "
                    f"{st['stopped']} stopped at the time budget")
    except KeyboardInterrupt as why:
        log(f"stopped by {why or 'Ctrl-C'}; finished runs are stored, unfinished groups resume from checkpoints")
        return 130
    finally:
        log(f"{len(store.done_keys()) - done_before} runs trained ({total['diverged']} diverged in completed "
            f"sweeps) in {(time.time() - t0) / 3600:.2f} h into {store.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
