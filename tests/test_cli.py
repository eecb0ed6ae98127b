"""The command line: run, status --json, export columns, bench's output contract, clear errors."""
import os
import csv
import json
import sqlite3
import zlib

import pytest

from sparsel.cli import main
from sparsel.store import Store


def test_run_status_export(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    args = ["--scale", "smoke", "--store", store, "--only", "optimizer=sgd"]
    assert main(["run", "baseline", *args, "--device", "cpu", "--quiet"]) == 0
    assert "1 runs, 0 already stored, 1 trained" in capsys.readouterr().out
    assert main(["status", "baseline", *args, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)["baseline"]
    assert (st["runs"], st["done"], st["missing"], st["diverged"]) == (1, 1, 0, 0)
    out = tmp_path / "b.csv"
    assert main(["export", "baseline", *args, "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    need = {"experiment", "condition", "optimizer", "seed", "epoch", "layer", "test_accuracy", "test_loss",
            "train_loss", "sparsity", "sparsity_std", "selectivity_avg", "selectivity_std"}
    assert need <= set(rows[0])
    assert {r["layer"] for r in rows} == {"1", "mean", "weighted"}
    assert sorted({int(r["epoch"]) for r in rows}) == [0, 1, 2, 3]


def test_bad_input_is_named(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    assert main(["run", "depth", "--store", store]) == 2
    assert "unknown experiment 'depth'" in capsys.readouterr().err
    assert main(["run", "baseline", "--store", store, "--only", "colour=red"]) == 2
    assert "cannot filter on 'colour'" in capsys.readouterr().err
    assert main(["export", "baseline", "--store", store, "--csv", str(tmp_path / "x.csv")]) == 2
    assert "no store at" in capsys.readouterr().err and not os.path.exists(store)  # reading never creates
    Store(store).close()
    assert main(["export", "baseline", "--store", store, "--csv", str(tmp_path / "x.csv")]) == 2
    assert "sparsel run baseline --scale smoke" in capsys.readouterr().err  # names the fix


def test_bench_prints_rates_and_ends_with_the_three_result_lines(capsys):
    assert main(["bench", "--device", "cpu", "--quick", "--runs", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for bs in ("  1", " 50", "500"):
        assert any(line.startswith(f"batch {bs}:") and "ratio" in line and "adam" in line for line in lines)
    assert [line.split()[0] for line in lines[-3:]] == ["speedup-bs1", "speedup-bs50", "registry-hours"]
    assert all(float(line.split()[1]) > 0 for line in lines[-3:])
    from sparsel.sweep import _cores
    if _cores() > 1:  # the auto executor's processes, measured against one stack on every thread
        per_core = [line for line in lines if line.endswith("(one process per core)")]
        assert [line.split(":")[0] for line in per_core] == ["batch   1", "batch  50"]
        assert all(float(line.split("ratio ")[1].split("x")[0]) > 0 for line in per_core)


def test_projection_counts_every_step_and_evaluation():
    """At 1 run-step/s and 1 s of evaluation per run-epoch the projection is steps + epochs."""
    from sparsel import bench, experiments
    one = dict(ref_sps=1.0, eng_sps=1.0)
    ref, eng = bench.project({1: one, 50: one, 500: one}, dict(reference=1.0, engine=1.0))
    seen, want = set(), 0
    for c in experiments.cells("all", "full"):
        if c.spec.model == "mlp" and c.spec.key not in seen:
            seen.add(c.spec.key)
            want += c.spec.steps_per_epoch * c.spec.epochs + c.spec.epochs + 1
    assert ref == eng == pytest.approx(want)


def test_status_of_one_experiment_names_missing_conditions(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    assert main(["run", "baseline", "--scale", "smoke", "--store", store, "--only", "optimizer=sgd,adam",
                 "--device", "cpu", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["status", "baseline", "--scale", "smoke", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "missing: adagrad (seed 1" in out and "missing: adadelta (seed 1" in out
    assert "missing: sgd" not in out


def _status(tmp_path, *args):
    Store(tmp_path / "s.sqlite").close()
    return main(["status", *args, "--scale", "smoke", "--store", str(tmp_path / "s.sqlite"), "--json"])


@pytest.mark.parametrize("seeds,named", [("1,1", "seed 1 is given twice"), ("", "at least one seed"),
                                         ("-3", "seed -3 is negative"), ("1,-3", "seed -3 is negative"),
                                         ("1,,2", "empty entry"), ("1,x", "'x' is not an integer")])
def test_bad_seeds_are_rejected_naming_the_value(tmp_path, capsys, seeds, named):
    with pytest.raises(SystemExit) as exit_:
        _status(tmp_path, "baseline", f"--seeds={seeds}")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and named in err


def test_only_is_checked_and_matches_printed_values(tmp_path, capsys):
    assert _status(tmp_path, "baseline", "--only", "optimizer=sdg") == 2
    err = capsys.readouterr().err
    assert "optimizer=sdg" in err and "adadelta, adagrad, adam, sgd" in err
    assert _status(tmp_path, "baseline", "--only", "optimzer=sgd") == 2
    assert "cannot filter on 'optimzer'" in capsys.readouterr().err
    assert _status(tmp_path, "width", "--only", "hidden=256x256") == 2
    assert "64, 128, 256, 384" in capsys.readouterr().err
    runs = {"hyperparameters": (["lr=0.000139"], 4), "width": (["hidden = 64, 128 "], 4 * 2 * 2),
            "hidden_layers": (["hidden=256x256", "optimizer=sgd"], 1)}
    for name, (only, n) in runs.items():
        assert _status(tmp_path, name, *[a for o in only for a in ("--only", o)]) == 0
        assert json.loads(capsys.readouterr().out)[name]["runs"] == n, only
    assert _status(tmp_path, "all", "--only", "batch_size=1") == 0  # a value of some experiment: fine for all
    report = json.loads(capsys.readouterr().out)
    assert report["baseline"]["runs"] == 0 and report["batch_size"]["runs"] == 4


def test_device_is_checked_before_any_training(tmp_path, capsys, monkeypatch):
    import torch

    from sparsel import sweep

    def no_training(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(sweep, "run_cells", no_training)
    store = tmp_path / "s.sqlite"
    with pytest.raises(SystemExit):
        main(["run", "baseline", "--store", str(store), "--device", "gpu"])
    assert "takes auto, cpu, cuda, cuda:N" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", "baseline", "--store", str(store), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main(["run", "baseline", "--store", str(store), "--device", "cuda:3"]) == 2
    assert "cuda:3" in capsys.readouterr().err
    assert not store.exists()  # failed before the store was even opened


def test_store_expands_the_home_tilde(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "baseline", "--store=~/s.sqlite", "--only", "optimizer=sgd", "--device", "cpu",
                 "--quiet"]) == 0
    assert (tmp_path / "home" / "s.sqlite").exists() and not (tmp_path / "~").exists()
    assert main(["status", "baseline", "--store=~/s.sqlite", "--json"]) == 0


def test_os_gzip_and_sqlite_errors_end_in_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    store = str(tmp_path / "s.sqlite")
    Store(store).close()
    (tmp_path / "a_file").write_text("x")
    assert main(["pack", "baseline", "--store", store, "--out", str(tmp_path / "a_file" / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparsel pack: error:") and "a_file" in err and "Traceback" not in err
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "FORMAT").write_text("1\n")
    (archive / "runs.csv.gz").write_bytes(b"not gzip")
    assert main(["unpack", str(archive), "--store", store]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparsel unpack: error:") and str(archive) in err

    def locked(self):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(Store, "done_keys", locked)
    assert main(["pack", "baseline", "--store", store, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "database is locked" in err and store in err


@pytest.mark.parametrize("error", [ZeroDivisionError("division by zero"), EOFError("Compressed file ended"),
                                   zlib.error("invalid stored block lengths"),
                                   PermissionError(13, "Permission denied", "/some/file")])
def test_remaining_error_types_exit_2_with_a_message(capsys, monkeypatch, error):
    from sparsel import cli

    def fail(args):
        raise error

    monkeypatch.setattr(cli, "_dispatch", fail)
    assert main(["status", "baseline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparsel status: error:") and str(error.args[-1]) in err


def test_bench_needs_at_least_one_run(capsys):
    from sparsel import bench
    with pytest.raises(SystemExit):
        main(["bench", "--device", "cpu", "--quick", "--runs", "0"])
    assert "--runs" in capsys.readouterr().err
    with pytest.raises(ValueError, match="runs per measurement"):
        bench.bench(device="cpu", runs=0, quick=True)
    zero = dict(ref_sps=0.0, eng_sps=0.0)
    with pytest.raises(ValueError, match="0 steps/s"):  # was a bare ZeroDivisionError
        bench.project({1: zero, 50: zero, 500: zero})


def test_status_flags_runs_of_other_code_and_run_recomputes_them(tmp_path, capsys, monkeypatch):
    """A run stored by other sources is counted under 'other code'; `run --recompute other-code`
    trains it again and replaces it, leaving runs of this code alone."""
    import json as _json
    from sparsel import store as S
    db = tmp_path / "s.sqlite"
    args = ["--scale", "smoke", "--store", str(db)]
    assert main(["run", "baseline", *args, "--device", "cpu", "--quiet", "--only", "optimizer=sgd,adam"]) == 0
    st = S.Store(db)
    runs = st.runs()
    sgd = runs.key[runs.optimizer == "sgd"].iloc[0]
    st.db.execute("UPDATE runs SET code_version='0.0.1+src.0000000000.gdeadbee' WHERE key=?", (sgd,))
    st.db.commit()
    st.close()
    capsys.readouterr()
    assert main(["status", "baseline", *args, "--only", "optimizer=sgd,adam", "--json"]) == 0
    assert _json.loads(capsys.readouterr().out)["baseline"]["other_code"] == 1
    assert main(["run", "baseline", *args, "--device", "cpu", "--quiet", "--only", "optimizer=sgd,adam",
                 "--recompute", "other-code"]) == 0
    assert "2 runs, 1 already stored, 1 trained" in capsys.readouterr().out
    with S.Store(db, readonly=True) as st:
        assert S.code_version() == st.runs([sgd]).code_version.iloc[0]


def _runs_of_each(flags):
    """[a, a, b, b, b] -> [a, b]: the order in which a sweep's cells come, by kind."""
    return [f for i, f in enumerate(flags) if i == 0 or flags[i - 1] != f]


@pytest.mark.parametrize("phase,wanted", [("all", [False, True]), ("batched", [False]), ("batch1", [True])])
@pytest.mark.parametrize("merge", [[], ["--no-merge"]])
def test_campaign_phase_picks_the_batch_sizes_it_names(tmp_path, monkeypatch, phase, wanted, merge):
    # Two machines share a campaign by phase (a GPU on batches > 1, the CPU on batch 1): each
    # must be handed only its runs, and 'all' keeps batch-size-1 runs last: merged (the
    # default) in one sweep, so a core freed by the last batched stack starts a batch-1 one
    from sparsel import sweep
    seen = []

    def record(cells, store, **kw):
        seen.append(_runs_of_each([c.spec.batch_size == 1 for c in cells]))
        ranks = [kw["rank"](c) for c in cells]  # the batched phase's stacks start first
        assert ranks == sorted(ranks) and len(set(r[0] for r in ranks)) == len(seen[-1])
        return dict(total=len(cells), cached=0, trained=0, diverged=0, stopped=0)
    monkeypatch.setattr(sweep, "run_cells", record)
    assert main(["campaign", "--scale", "smoke", "--experiments", "batch_size", "--phase", phase,
                 "--store", str(tmp_path / "s.sqlite"), "--nice", "0", "--quiet", *merge]) == 0
    assert seen == ([wanted] if not merge else [[w] for w in wanted])


@pytest.mark.parametrize("phase,parts", [("batch1", ["small"]), ("batched", ["big"]), ("all", ["big", "small"])])
def test_campaign_small_batch_moves_the_batch_2_runs_to_the_small_phase(tmp_path, monkeypatch, phase, parts):
    # --small-batch 2 leaves wider_grids' batch-2 runs (launch-bound on a GPU) to the CPU's phase
    from sparsel import experiments as E, sweep
    sizes = {c.spec.batch_size for c in E.cells("wider_grids", "smoke")}
    assert {1, 2} < sizes
    split = dict(small={b for b in sizes if b <= 2}, big={b for b in sizes if b > 2})
    seen = []

    def record(cells, store, **kw):
        seen.append([next(p for p in split if c.spec.batch_size in split[p]) for c in cells])
        return dict(total=len(cells), cached=0, trained=0, diverged=0, stopped=0)
    monkeypatch.setattr(sweep, "run_cells", record)
    assert main(["campaign", "--scale", "smoke", "--experiments", "wider_grids", "--phase", phase,
                 "--small-batch", "2", "--store", str(tmp_path / "s.sqlite"), "--nice", "0", "--quiet"]) == 0
    assert len(seen) == 1 and _runs_of_each(seen[0]) == parts


@pytest.mark.parametrize("merge,sweeps", [([], [["width", "batch_size"]]),
                                          (["--no-merge"], [["width"], ["batch_size"]])])
def test_campaign_merges_the_experiments_into_one_sweep_in_their_order(tmp_path, monkeypatch, merge, sweeps):
    # merged (the default), a freed core takes the next experiment's first stack; the cells
    # still come in the order the experiments are named, which the stacks start in
    from sparsel import sweep
    seen = []

    def record(cells, store, **kw):
        names = [c.experiment for c in cells]
        seen.append(list(dict.fromkeys(names)))
        assert names == sorted(names, key=seen[-1].index)  # one experiment's cells, then the next's
        ranks = [kw["rank"](c) for c in cells]  # which their stacks start in (longest first within)
        assert ranks == sorted(ranks) and len(set(ranks)) == len(seen[-1])
        return dict(total=len(cells), cached=0, trained=0, diverged=0, stopped=0)
    monkeypatch.setattr(sweep, "run_cells", record)
    assert main(["campaign", "--scale", "smoke", "--experiments", "width,batch_size", "--phase", "batch1",
                 "--store", str(tmp_path / "s.sqlite"), "--nice", "0", "--quiet", *merge]) == 0
    assert seen == sweeps


def test_status_marks_an_estimate_that_borrows_another_trainers_rate(tmp_path, capsys):
    """No reference-loop MLP run stored: forgetting's estimate borrows the engine's rate, and
    the table says so with a '*' and a footnote; baseline's (engine runs stored) has none."""
    from test_store import fake_result
    from sparsel.spec import RunSpec
    st = Store(tmp_path / "s.sqlite")
    st.put(fake_result(RunSpec(batch_size=50, epochs=1, seed=7, train_size=1000, test_size=500),
                       trainer="engine", seconds=1.0))
    st.close()
    assert main(["status", "all", "--scale", "smoke", "--store", str(tmp_path / "s.sqlite")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["forgetting"].rstrip().endswith("h *") and not rows["baseline"].rstrip().endswith("*")
    assert "borrows the other trainer's rate" in out and "* rough" in rows["all"]


def test_campaign_takes_the_dissertation_group_and_names_an_unknown_experiment(tmp_path, monkeypatch, capsys):
    # 'dissertation' stands for the ten experiments of chapter 5, in their order, once each
    from sparsel import experiments as E, sweep
    seen = []

    def record(cells, store, **kw):
        seen.append(list(dict.fromkeys(c.experiment for c in cells)))
        return dict(total=len(cells), cached=0, trained=0, diverged=0, stopped=0)
    monkeypatch.setattr(sweep, "run_cells", record)
    assert main(["campaign", "--scale", "smoke", "--experiments", "dissertation,baseline,vsgd", "--phase", "batched",
                 "--store", str(tmp_path / "s.sqlite"), "--nice", "0", "--quiet"]) == 0
    assert seen == [[*E.DISSERTATION, "vsgd"]]
    assert len(E.DISSERTATION) == 10 and E.expand(["dissertation"]) == list(E.DISSERTATION)
    assert main(["campaign", "--experiments", "dissertations", "--store", str(tmp_path / "s.sqlite"), "--nice", "0"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'dissertations'" in err and "dissertation, baseline" in err


def test_campaign_only_narrows_each_experiment_and_skips_those_without_a_match(tmp_path, monkeypatch, capsys):
    # --only picks what a session's budget starts (e.g. the widest batch-1 runs of one optimizer);
    # an experiment with no such run is left out, a field or value no experiment has is an error
    from sparsel import experiments as E, sweep
    seen = []

    def record(cells, store, **kw):
        seen.append(cells)
        return dict(total=len(cells), cached=0, trained=0, diverged=0, stopped=0)
    monkeypatch.setattr(sweep, "run_cells", record)
    args = ["campaign", "--scale", "smoke", "--store", str(tmp_path / "s.sqlite"), "--nice", "0", "--quiet"]
    assert main([*args, "--experiments", "width,wider_grids", "--only", "hidden=2048",
                 "--only", "optimizer=adam"]) == 0
    want = E.cells("wider_grids", "smoke", hidden=[2048], optimizer="adam")
    assert len(seen) == 1 and sorted(c.spec.key for c in seen[0]) == sorted(c.spec.key for c in want) and len(want) == 2
    assert "no run of width matches --only hidden=2048 optimizer=adam: left out" in capsys.readouterr().out
    assert main([*args, "--experiments", "width,wider_grids", "--only", "hidden=4096"]) == 2
    assert "--only" in capsys.readouterr().err
