"""The ``sparsel`` command: run, status, export, bench."""
from __future__ import annotations

import argparse
import json
import signal
import sys

from . import experiments
from .store import Store


def _seeds(text):
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes integers separated by commas, e.g. 1,100,1234; got {text!r}")


def _common(p, experiment=True):
    if experiment:
        p.add_argument("experiment", help=f"all, or one of: {', '.join(experiments.EXPERIMENTS)}")
    p.add_argument("--scale", choices=list(experiments.SCALES), default="smoke",
                   help="smoke: small subset, few epochs, one seed; full: the dissertation's settings")
    p.add_argument("--seeds", type=_seeds, default=None, help="override the scale's seeds, e.g. 1,100,1234")
    p.add_argument("--only", action="append", default=[], metavar="FIELD=V[,V]",
                   help="narrow the grid, e.g. --only optimizer=sgd --only batch_size=1,50 (repeatable)")
    p.add_argument("--store", default=None, help="results database (default $SPARSEL_STORE or ~/.cache/sparsel/store.sqlite)")


def main(argv=None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `sparsel export ... --csv - | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(prog="sparsel", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="train an experiment's missing runs into the store")
    _common(p)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data", default=None, help="MNIST root (default $SPARSEL_DATA or ~/.cache/sparsel/data)")
    p.add_argument("--no-engine", action="store_true", help="train run by run with the reference loop")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("status", help="done, missing and diverged runs per experiment")
    _common(p, experiment=False)
    p.add_argument("experiment", nargs="?", default="all")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("export", help="write an experiment's results as CSV")
    _common(p)
    p.add_argument("--csv", required=True, help="output file ('-' for stdout)")
    p = sub.add_parser("pack", help="write an experiment's stored runs to a committed archive folder")
    _common(p)
    p.add_argument("--out", required=True, help="archive folder, e.g. results/full")
    p = sub.add_parser("unpack", help="merge an archive folder into the store")
    p.add_argument("folder")
    p.add_argument("--store", default=None)
    p = sub.add_parser("bench", help="reference loop vs stacked engine, side by side")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None)
    p.add_argument("--runs", type=int, default=16, help="runs per measurement (4 optimizers x seeds)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: check the command, not the speed")
    args = ap.parse_args(argv)
    try:
        return _dispatch(args)
    except (ValueError, LookupError, RuntimeError, FileNotFoundError, ImportError) as err:
        print(f"sparsel {args.cmd}: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.cmd == "bench":
        from .bench import bench
        bench(device=args.device, root=args.data, runs=args.runs, quick=args.quick)
        return 0
    if args.cmd == "unpack":
        from .store import unpack
        store = Store(args.store)
        print(f"added {unpack(args.folder, store)} runs from {args.folder} to {store.path}")
        return 0
    only = experiments.parse_only(args.only)
    store = Store(args.store)
    if args.cmd == "pack":
        from .store import pack
        keys = [c.spec.key for c in experiments.cells(args.experiment, args.scale, args.seeds, **only)]
        done = store.done_keys()
        info = pack(store, args.out, [k for k in keys if k in done])
        print(f"packed {info['runs']} runs ({info['records']} records, {info['bytes'] / 1e6:.2f} MB) into {args.out}; "
              f"{len(set(keys) - done)} runs of the grid are not in the store")
        return 0
    if args.cmd == "run":
        from .sweep import run_cells
        cells = experiments.cells(args.experiment, args.scale, args.seeds, **only)
        stats = run_cells(cells, store, device=args.device, root=args.data, use_engine=not args.no_engine,
                          executor=args.executor, address=args.address, progress=not args.quiet)
        print(f"{args.experiment} ({args.scale}): {stats['total']} runs, {stats['cached']} already stored, "
              f"{stats['trained']} trained, {stats['diverged']} diverged -> {store.path}")
        return 0
    if args.cmd == "status":
        from .sweep import status
        names = list(experiments.EXPERIMENTS) if args.experiment == "all" else [args.experiment]
        report = {}
        for n in names:
            st = status(experiments.cells(n, args.scale, args.seeds, **only), store)
            st.pop("missing_keys")
            report[n] = st
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"{'experiment':16} {'runs':>5} {'done':>5} {'missing':>7} {'diverged':>8} {'est. left':>10}")
            for n, st in report.items():
                print(f"{n:16} {st['runs']:5d} {st['done']:5d} {st['missing']:7d} {st['diverged']:8d} "
                      f"{st['eta_seconds'] / 60:9.1f}m")
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


if __name__ == "__main__":
    sys.exit(main())
