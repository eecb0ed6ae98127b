"""Build the book: train what is missing, execute every chapter with papermill, render with jupyter-book.

    python book/build.py [--scale smoke|full] [--device auto|cpu|cuda] [--store PATH]

Executed notebooks go to book/chapters/ (never back into notebooks/); the site to _build/html.
Any notebook error or Sphinx warning fails the build. Prints each chapter's figure count and
execution time, and writes them to _build/book-report.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "book" / "chapters"
VENDOR = ROOT / "book" / "_static" / "vendor"
# (npm package, version, files to keep: tarball path -> path under vendor/)
NPM = [
    ("requirejs", "2.3.8", {"package/require.js": "require.min.js"}),
    ("@jupyter-widgets/html-manager", "1.0.6", {"package/dist/embed-amd.js": "embed-amd.js"}),
    ("mathjax", "3.2.2", {"package/es5/tex-chtml.js": "mathjax/tex-chtml.js",
                          "package/es5/output/chtml/fonts/woff-v2/": "mathjax/output/chtml/fonts/woff-v2/",
                          "package/es5/input/tex/extensions/": "mathjax/input/tex/extensions/"}),
]


def vendor_js() -> None:
    """Fetch the widget manager, RequireJS and MathJax from the npm registry once."""
    for name, version, files in NPM:
        first = VENDOR / next(iter(files.values()))
        if first.exists():
            continue
        url = f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz"
        print(f"fetching {name}@{version}")
        blob = urllib.request.urlopen(url, timeout=120).read()
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for member in tar.getmembers():
                for src, dst in files.items():
                    if member.isfile() and (member.name == src or (src.endswith("/") and member.name.startswith(src))):
                        out = VENDOR / (dst + member.name[len(src):] if src.endswith("/") else dst)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(tar.extractfile(member).read())


def toc_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [Path(c["file"]).name for part in toc["parts"] for c in part["chapters"]]


def chapter_experiment(name):
    """The experiment a chapter loads (``summary.load("<name>"``), or None."""
    import re
    m = re.search(r'summary\.load\("(\w+)"', (ROOT / "notebooks" / f"{name}.py").read_text())
    return m.group(1) if m else None


def chapter_scale(name, params, store, log):
    """Full scale where the store holds every run of the chapter's experiment and of those it
    reuses (``experiments.REUSES``); otherwise, when missing runs cannot be trained here (full
    scale without a GPU), smoke scale, said aloud."""
    from sparsel import experiments, sweep
    from sparsel.store import Store
    exp = chapter_experiment(name)
    if params["scale"] != "full" or params["train_missing"] or exp is None:
        return params["scale"], None
    exps = (exp, *experiments.REUSES.get(exp, ()))
    st = sweep.status([c for e in exps for c in experiments.cells(e, "full")], Store(store))
    if st["missing"] == 0:
        return "full", None
    command = (f"`sparsel run {exp} --scale full`" if len(exps) == 1 else
               f"`sparsel campaign --scale full --experiments {','.join(exps)}`")
    note = (f"{st['missing']} of {st['runs']} full-scale runs missing"
            + (f" (this chapter also shows the {', '.join(exps[1:])} runs)" if len(exps) > 1 else "")
            + f"; compute them with {command} (about {st['eta_seconds'] / 3600:.1f} h at this machine's "
            f"{'rough, borrowed' if st['eta_borrowed'] else 'measured'} rate; `sparsel campaign --scale full` "
            f"computes every experiment in the background), then rebuild")
    log(f"  {name}: {note}; building it at smoke scale")
    return "smoke", note


def present(path: Path) -> None:
    """The site's view of an executed chapter (the notebook itself stays as Jupyter shows it):
    parameter and widget cells removed (paths; controls that cannot work), code folded, and
    each figure of a cell that declares a caption (``mystnb.figure``) moved into a cell of its
    own, so every figure gets the caption and a number (two figures of one cell: name-1, name-2,
    captions ending "(1 of 2.)", "(2 of 2.)")
    and nothing else in the cell (printed tables, glued values) is wrapped as a figure."""
    nb = json.loads(path.read_text())
    cells = []
    for c in nb["cells"]:
        cells.append(c)
        if c["cell_type"] != "code":
            continue
        meta = c.setdefault("metadata", {})
        tags = meta.setdefault("tags", [])
        # parameters hold the builder's paths; a widget's controls would move on the static site
        # but its output could not (each widget cell is followed by a view of all its choices)
        if {"parameters", "injected-parameters", "widget"} & set(tags):
            tags.append("remove-cell")
            continue
        if not {"remove-input", "remove-cell"} & set(tags):
            tags.append("hide-input")
        fig = meta.get("mystnb", {}).pop("figure", None)
        if not fig:
            continue
        images = [o for o in c["outputs"] if "image/png" in o.get("data", {})]
        c["outputs"] = [o for o in c["outputs"] if "image/png" not in o.get("data", {})]
        for j, image in enumerate(images, 1):
            name = fig["name"] + (f"-{j}" if len(images) > 1 else "")
            # one caption for a cell's several figures: each says which of the set it is
            caption = fig.get("caption", "") + (f" ({j} of {len(images)}.)" if len(images) > 1 else "")
            cells.append({"cell_type": "code", "id": f"{c.get('id', 'cell')}-fig{j}", "execution_count": None,
                          "metadata": {"tags": ["remove-input"], "mystnb": {"figure": {
                              "classes": "full-width", **fig, "name": name, "caption": caption}}},
                          # myst-nb skips a cell without source; remove-input hides this one
                          "outputs": [image], "source": f"# figure {j} of the code cell above"})
    nb["cells"] = cells
    nb["metadata"].pop("widgets", None)  # their saved state: no widget is left to show it
    path.write_text(json.dumps(nb, indent=1))


def execute(names, params, log, store) -> list[dict]:
    import papermill as pm
    CHAPTERS.mkdir(parents=True, exist_ok=True)
    report = []
    import jupytext
    for name in names:
        # the .py is the source (the .ipynb beside it may be stale): execute a fresh conversion of it
        src, dst = ROOT / "_build" / "src" / f"{name}.ipynb", CHAPTERS / f"{name}.ipynb"
        src.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(jupytext.read(ROOT / "notebooks" / f"{name}.py"), src)
        declared = pm.inspect_notebook(str(src))
        scale, note = chapter_scale(name, params, store, log)
        if note:  # left at smoke scale: train its smoke runs here, not inside a cell's timeout
            from sparsel import experiments, sweep
            from sparsel.store import Store
            exp = chapter_experiment(name)
            cells = [c for e in (exp, *experiments.REUSES.get(exp, ())) for c in experiments.cells(e, "smoke")]
            sweep.run_cells(cells, Store(store), device=params["device"], progress=False)
        # no live widgets: the site shows every choice instead, and widget comms have hung
        # nbclient here (a cell that finished in the kernel was never reported back)
        given = {k: v for k, v in {**params, "scale": scale, "train_missing": params["train_missing"] or scale == "smoke",
                                   "missing_note": note or "", "live_widgets": False}.items() if k in declared}
        t0 = time.perf_counter()
        # a cell that runs past the timeout fails the build instead of hanging it
        # The kernel's own log held only ipykernel's warning about its local TCP sockets, once
        # per chapter, and shutdown noise; a failing cell still fails the build (papermill raises).
        pm.execute_notebook(str(src), str(dst), parameters=given, kernel_name="python3",
                            cwd=str(ROOT), progress_bar=False, log_output=False, execution_timeout=1800,
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        seconds = time.perf_counter() - t0
        present(dst)
        nb = json.loads(dst.read_text())
        figures = sum(1 for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
        report.append(dict(chapter=name, scale=scale, figures=figures, seconds=round(seconds, 1), missing=note))
        log(f"  {name:28} {scale:5} {figures:3d} figures {seconds:7.1f} s")
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["smoke", "full"], default="smoke")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--store", default=None, help="run store (default _build/store-<scale>.sqlite)")
    ap.add_argument("--only", nargs="*", default=None, help="execute only these chapters (default: all in _toc.yml)")
    args = ap.parse_args(argv)
    store = args.store or os.environ.get("SPARSEL_STORE") or str(ROOT / "_build" / f"store-{args.scale}.sqlite")
    Path(store).parent.mkdir(parents=True, exist_ok=True)

    from sparsel import experiments, sweep
    from sparsel.store import Store, unpack
    from sparsel.train import flush_denormals, resolve_device
    flush_denormals()  # before torch's worker threads start (they inherit it): see its docstring
    device = resolve_device(args.device)
    archive = ROOT / "results" / args.scale
    if archive.exists():
        info = unpack(archive, Store(store))
        print(f"loaded {info['added']} runs from {archive} ({info['same']} already in {store})")
    train_missing = args.scale == "smoke" or device.type == "cuda"
    t0 = time.perf_counter()
    if train_missing:
        print(f"training missing {args.scale}-scale runs on {device} into {store}")
        sweep.run_cells(experiments.cells("all", args.scale), Store(store), device=device)
    vendor_js()
    print("executing chapters with papermill:")
    params = dict(scale=args.scale, device=str(device), store=store, train_missing=train_missing)
    report = execute(args.only or toc_chapters(), params, print, store)
    t1 = time.perf_counter()
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(ROOT), "-W", "-n", "--keep-going"]
    print(" ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT)
    timing = dict(scale=args.scale, device=str(device), train_and_execute_s=round(t1 - t0, 1),
                  jupyter_book_s=round(time.perf_counter() - t1, 1), chapters=report)
    (ROOT / "_build" / "book-report.json").write_text(json.dumps(timing, indent=2))
    print(f"book at {ROOT / '_build' / 'html' / 'index.html'}  ({timing['train_and_execute_s']} s executing, "
          f"{timing['jupyter_book_s']} s rendering)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
