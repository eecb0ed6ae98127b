"""The book: notebooks in sync and complete, a smoke-scale build, and the built site in Chromium."""
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import jupytext
import pytest
import yaml

from sparsel import experiments

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [Path(c["file"]).name for part in TOC["parts"] for c in part["chapters"]]


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_notebooks_are_in_sync(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `make notebooks`"
    assert _cells(jupytext.read(py)) == _cells(jupytext.read(ipynb)), \
        f"{py.name} and {ipynb.name} differ: run `make notebooks` (the .py file is the source)"


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_a_parameters_cell_of_literals(py):
    nb = jupytext.read(py)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters' (papermill injects after it)"
    names = []
    for line in params[0].source.splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.match(r"^\w+ = .+", line), f"parameters must be plain assignments: {line!r}"
            names.append(line.split("=")[0].strip())
    # papermill skips (with only a warning) any line holding a second '=', e.g. in its comment
    import papermill
    assert sorted(papermill.inspect_notebook(str(py.with_suffix(".ipynb")))) == sorted(names)


def test_every_notebook_is_in_the_toc_and_every_experiment_has_a_chapter():
    assert sorted(CHAPTERS) == sorted(p.stem for p in NOTEBOOKS)
    sources = " ".join(p.read_text() for p in NOTEBOOKS)
    for name in experiments.EXPERIMENTS:
        assert f'summary.load("{name}"' in sources, f"experiment {name} has no chapter"


def _load_build():
    import importlib.util
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("missing_in,expected", [(None, "full"), ("wider_grids", "smoke"), ("width", "smoke")])
def test_a_chapter_is_full_scale_only_when_the_runs_it_reuses_are_complete_too(tmp_path, monkeypatch, missing_in,
                                                                              expected):
    """The wider-grids chapter also shows the width, depth, batch-size and class-diversity runs:
    it is built at full scale only when all of them are stored, and its note names them."""
    from sparsel import sweep
    from sparsel.store import Store
    build = _load_build()
    Store(tmp_path / "s.sqlite").close()
    seen = []

    def status(cells, store, device=None):
        seen.append({c.experiment for c in cells})
        n = sum(c.experiment == missing_in for c in cells)
        return dict(missing=n, runs=len(cells), eta_seconds=3600.0, eta_borrowed=False)
    monkeypatch.setattr(sweep, "status", status)
    scale, note = build.chapter_scale("06_02_wider_grids", dict(scale="full", train_missing=False),
                                      tmp_path / "s.sqlite", lambda *a: None)
    assert seen == [{"wider_grids", *experiments.REUSES["wider_grids"]}]
    assert scale == expected
    if expected == "smoke":
        assert "also shows the width, hidden_layers, batch_size, class_diversity runs" in note
        assert "--experiments wider_grids,width,hidden_layers,batch_size,class_diversity" in note


def test_each_figure_of_a_cell_gets_its_own_numbered_caption(tmp_path):
    # a cell that draws two figures under one declared caption: two figure cells, each saying
    # which of the two it is; the cell keeps its table and loses its images
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}}
    table = {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<table></table>"}}
    nb = {"cells": [{"cell_type": "code", "id": "c1", "metadata": {"mystnb": {"figure": {"caption": "Curves.",
                                                                                           "name": "fig-x"}}},
                     "outputs": [png, table, png], "source": "", "execution_count": 1}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "ch.ipynb"
    path.write_text(json.dumps(nb))
    _load_build().present(path)
    cells = json.loads(path.read_text())["cells"]
    assert [list(o["data"]) for o in cells[0]["outputs"]] == [["text/html"]]
    figs = [c["metadata"]["mystnb"]["figure"] for c in cells[1:]]
    assert [(f["name"], f["caption"]) for f in figs] == [("fig-x-1", "Curves. (1 of 2.)"), ("fig-x-2", "Curves. (2 of 2.)")]


def test_glue_hands_markdown_to_myst_nb_as_markdown(monkeypatch):
    # {glue:md} needs a text/markdown output: a command's "--" then stays as typed
    import myst_nb
    from sparsel.glue import glue
    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: value}))
    glue("cmd", "`sparsel run x --scale full`", markdown=True)
    glue("n", __import__("numpy").float64(0.5))
    assert seen["cmd"]._repr_markdown_() == "`sparsel run x --scale full`"
    assert type(seen["n"]) is float and seen["n"] == 0.5  # a NumPy scalar glued as the Python value


def test_a_chapter_left_at_smoke_scale_trains_its_runs_before_papermill(tmp_path, monkeypatch):
    """Its smoke runs (and those it reuses) are trained by the builder, where no cell timeout
    applies: a busy CPU once ran the wider-grids chapter's first cell past the 30 minutes."""
    import papermill
    from sparsel import sweep
    build = _load_build()
    calls = []
    monkeypatch.setattr(build, "chapter_scale", lambda *a: ("smoke", "runs missing"))
    monkeypatch.setattr(sweep, "run_cells", lambda cells, *a, **kw: calls.append(
        ("train", {c.experiment for c in cells}, {c.spec.train_size for c in cells})))

    class Stop(Exception):
        pass

    def execute_notebook(*a, **kw):
        calls.append(("execute", kw["parameters"]["scale"]))
        raise Stop
    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    with pytest.raises(Stop):
        build.execute(["06_02_wider_grids"], dict(scale="full", device="cpu", store=str(tmp_path / "s.sqlite"),
                                                  train_missing=False), lambda *a: None, str(tmp_path / "s.sqlite"))
    assert calls == [("train", {"wider_grids", *experiments.REUSES["wider_grids"]}, {1000}), ("execute", "smoke")]


# --- the built site -------------------------------------------------------------------

def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Build the book at smoke scale (or reuse _build/ with SPARSEL_REUSE_BOOK=1): (html, store)."""
    html = ROOT / "_build" / "html"
    if os.environ.get("SPARSEL_REUSE_BOOK") and (html / "index.html").exists():
        return html, ROOT / "_build" / "store-smoke.sqlite"
    store = tmp_path_factory.mktemp("book") / "store.sqlite"
    subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--scale", "smoke", "--device", "cpu",
                    "--store", str(store)], check=True, cwd=ROOT)
    return html, store


@pytest.fixture(scope="session")
def site(built):
    return built[0]


def _glued(chapter, path=None):
    """The values a papermill-executed chapter (or notebook ``path``) glued: {name: text}, the
    text/markdown of a value glued as Markdown, else its text/plain."""
    nb = json.loads((path or ROOT / "book" / "chapters" / f"{chapter}.ipynb").read_text())
    out = {}
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = o["data"]
                md = [v for k, v in data.items() if k.endswith("text/markdown")]
                out[name] = md[0] if md else next(v for k, v in data.items() if k.endswith("text/plain"))
    return out


def test_numbers_in_the_prose_are_the_stores_numbers(built):
    """Recompute some glued numbers straight from the store the book was built from."""
    from sparsel import summary
    from sparsel.store import Store
    store = Store(built[1])
    base = summary.last_table(summary.results("baseline", "smoke", store))
    g = _glued("05_02_baseline")
    for o in ("sgd", "adagrad", "adadelta", "adam"):
        assert float(g[f"{o}_sparsity"]) == pytest.approx(base.at[o, "sparsity"], rel=1e-9)
        assert float(g[f"{o}_accuracy"]) == pytest.approx(base.at[o, "accuracy"], rel=1e-9)
    from sparsel import plots
    assert g["most_sparse"].strip("'") == plots.label(base.sparsity.idxmax())  # 'Adagrad', as a reader reads it
    bs = summary.last_table(summary.results("batch_size", "smoke", store))
    g = _glued("05_06_batch_size")
    # the glued comparison carries both numbers (3 decimals) and, at smoke scale, no direction
    words = g["adam_bs_dir"].strip("'")
    assert words.startswith(f"no direction from one seed ({bs.at['adam bs=1', 'sparsity']:.3f} vs "
                            f"{bs.at['adam bs=50', 'sparsity']:.3f}")
    assert words == summary.compare(bs, "adam bs=1", "adam bs=50")
    assert "SMOKE SCALE" in _glued("05_08_width")["scale_line"]


def test_build_report_lists_every_chapter_with_figures(site):
    report = json.loads((ROOT / "_build" / "book-report.json").read_text())
    assert [c["chapter"] for c in report["chapters"]] == CHAPTERS
    assert all(c["figures"] >= 1 for c in report["chapters"] if c["chapter"] != "06_01_findings")


@pytest.fixture(scope="session")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.func.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _dom(url, tmp):
    exe = _chromium()
    if exe is None:
        pytest.fail("headless Chromium is needed for the site test: run `make browser` (Debian package chromium)")
    out = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp}", "--virtual-time-budget=8000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_index_redirects_to_the_intro(site):
    assert "book/intro.html" in (site / "index.html").read_text()


@pytest.mark.parametrize("page", ["book/intro", *[f"book/chapters/{c}" for c in CHAPTERS]])
def test_page_loads_with_its_figures_and_links(page, server, site, tmp_path):
    url = urljoin(server, f"{page}.html")
    dom = _dom(url, tmp_path)
    assert "<title>" in dom and "Page not found" not in dom
    imgs = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    if page.startswith("book/chapters/05") or page.endswith("04_02_optimizers"):
        assert imgs, f"{page} shows no figure"
    for src in imgs:
        if src.startswith("data:"):
            assert len(src) > 200
            continue
        f = site / urlparse(urljoin(url, src)).path.lstrip("/")
        assert f.exists() and f.stat().st_size > 1000, f"{page}: image {src} missing or empty"
    for href in re.findall(r'<a[^>]+href="([^"#][^"]*)"', dom):
        target = urlparse(urljoin(url, href))
        if target.netloc != urlparse(server).netloc:
            continue
        assert (site / target.path.lstrip("/")).exists(), f"{page}: broken link {href}"
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', dom)
    assert not [s for s in scripts if s.startswith("http") and urlparse(s).netloc != urlparse(server).netloc], \
        f"{page} loads scripts from the internet: {scripts}"
    # a reader's page: every figure numbered and captioned, no code or parameters on show, no
    # widget whose controls could not change its output, no path of the machine that built it
    figures = re.findall(r"<figure.*?</figure>", dom, re.S)
    assert len(figures) == len(imgs), f"{page}: {len(imgs)} images but {len(figures)} captioned figures"
    for f in figures:
        assert "caption-number" in f and "caption-text" in f, f"{page}: a figure without a numbered caption"
    visible_code = re.findall(r'<div class="cell_input[^"]*"', dom)
    folded = re.findall(r"<details[^>]*hide", dom)
    assert len(visible_code) <= len(folded), f"{page}: code cells on show"
    assert not re.search(r'<[^>]+class="[^"]*widget-(slider|dropdown|interact)', dom), f"{page}: a static widget"
    assert str(ROOT) not in dom and "train_missing =" not in dom, f"{page}: builder paths or parameters shown"


def test_maths_renders_offline_and_the_baseline_shows_the_original(server, tmp_path):
    dom = _dom(urljoin(server, "book/chapters/04_01_metrics.html"), tmp_path)
    assert "mjx-container" in dom, "the vendored MathJax did not typeset the formulas"
    dom = _dom(urljoin(server, "book/chapters/05_02_baseline.html"), tmp_path)
    assert "ours (thin) and the original runs (wide, pale)" in dom or "original runs" in dom
    assert re.search(r"The dissertation.s runs beside ours", dom) and "combined SE" in dom
    # the per-seed view stands in for the optimizer picker: one panel per optimizer
    assert "Each seed" in dom and "no averaging" in dom


@pytest.mark.parametrize("chapter", ["05_04_hidden_layers", "05_09_class_diversity"])
def test_a_chapter_runs_with_part_of_its_grid(chapter, built, tmp_path):
    """A researcher narrows a chapter with `only` (papermill, as on a GPU): it executes, glues a
    'not run' where a comparison lost a side, and still draws every figure."""
    import papermill as pm
    out = tmp_path / f"{chapter}.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / f"{chapter}.ipynb"), str(out), kernel_name="python3",
                        parameters=dict(scale="smoke", device="cpu", store=str(built[1]), train_missing=False,
                                        only={"optimizer": ["sgd", "adam"]}), cwd=str(ROOT), progress_bar=False)
    nb = json.loads(out.read_text())
    glued = _glued(chapter, out)
    figures = sum("image/png" in o.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code"
                  for o in c.get("outputs", []))
    assert figures >= 3
    if chapter == "05_04_hidden_layers":
        assert "adadelta_depth" in glued and "not run" in glued["adadelta_depth"]
        assert "not run" not in glued["adam_depth"]
    else:
        assert "not run" in glued["adagrad_single_dir"] and "not run" not in glued["sgd_single_dir"]
