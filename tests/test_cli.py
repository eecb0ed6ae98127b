"""The command line: run, status --json, export columns, bench's output contract, clear errors."""
import csv
import json

from sparsel.cli import main


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
    assert "sparsel run baseline --scale smoke" in capsys.readouterr().err  # names the fix


def test_bench_prints_rates_and_ends_with_the_speedup_line(capsys):
    assert main(["bench", "--device", "cpu", "--quick", "--runs", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("batch  1:") and "ratio" in line for line in lines)
    assert lines[-1].startswith("speedup-bs1 ") and float(lines[-1].split()[1]) > 0


def test_status_of_one_experiment_names_missing_conditions(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    assert main(["run", "baseline", "--scale", "smoke", "--store", store, "--only", "optimizer=sgd,adam",
                 "--device", "cpu", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["status", "baseline", "--scale", "smoke", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "missing: adagrad (seed 1" in out and "missing: adadelta (seed 1" in out
    assert "missing: sgd" not in out
