"""summary.compare / value: the words a chapter glues beside its numbers, on hand-made tables."""
import math

import pandas as pd
import pytest

from sparsel import summary


def last(rows):
    """A last_table-shaped frame from {condition: (sparsity, sparsity_se, accuracy, n)}."""
    df = pd.DataFrame([dict(condition=c, sparsity=s, sparsity_se=se, accuracy=acc, accuracy_se=0.0, n=n)
                       for c, (s, se, acc, n) in rows.items()])
    return df.set_index("condition", drop=False)


def test_a_difference_beyond_two_standard_errors_has_a_direction():
    t = last({"a": (0.50, 0.01, 0.9, 3), "b": (0.40, 0.01, 0.9, 3)})
    # d = 0.10, se = hypot(0.01, 0.01) = 0.0141: 7 SE
    assert summary.compare(t, "a", "b") == "higher (0.500 vs 0.400; +0.100 ± 0.014, 3 seeds)"
    assert summary.compare(t, "b", "a").startswith("lower (0.400 vs 0.500; -0.100 ± 0.014")


def test_within_two_standard_errors_is_no_clear_difference():
    """The words of effect_table and the findings: one vocabulary."""
    t = last({"a": (0.50, 0.03, 0.9, 3), "b": (0.45, 0.03, 0.9, 3)})  # d = 0.05, 2 SE = 0.085
    assert summary.compare(t, "a", "b").startswith("no clear difference (0.500 vs 0.450; +0.050 ± 0.042")


def test_one_seed_is_named_as_having_no_error_bar():
    t = last({"a": (0.50, 0.0, 0.9, 1), "b": (0.40, 0.0, 0.9, 3)})
    assert summary.compare(t, "a", "b") == "no direction from one seed (0.500 vs 0.400; +0.100, no error bar)"
    assert summary.compare(t, "a", "b", unit="runs").startswith("no direction from one run (")
    t = last({"a": (0.50, 0.01, 0.9, 9), "b": (0.40, 0.01, 0.9, 9)})
    assert summary.compare(t, "a", "b", unit="runs").endswith("+0.100 ± 0.014, 9 runs)")


def test_missing_diverged_and_chance_level_conditions():
    t = last({"a": (0.50, 0.01, 0.9, 3), "nan": (math.nan, math.nan, math.nan, 3), "dumb": (0.2, 0.01, 0.11, 3)})
    assert summary.compare(t, "a", "zzz") == "not run"
    assert summary.compare(t, "nan", "a") == "undefined (a run diverged)"
    assert summary.compare(t, "a", "dumb").endswith(", but dumb is at chance accuracy")
    assert math.isnan(summary.value(t, "zzz", "sparsity")) and summary.value(t, "a", "sparsity") == 0.5
    assert summary.compare(t, "a", "dumb", "accuracy").startswith("higher (0.900 vs 0.110")


@pytest.mark.parametrize("metric", ["sparsity", "accuracy"])
def test_compare_agrees_with_effect_table(metric):
    t = last({"a": (0.50, 0.01, 0.9, 3), "b": (0.40, 0.05, 0.5, 3)})
    t["accuracy_se"] = 0.1
    word = summary.compare(t, "a", "b", metric).split(" (")[0]
    cell = summary.effect_table(t, [("e", "a", "b")], metrics={metric: "m"}).at["e", "m"]
    assert (word == "no clear difference") == cell.endswith("no clear difference")


def test_reproduce_counts_runs_and_their_measured_cost(tmp_path):
    from sparsel import experiments
    df = pd.DataFrame({"run_key": ["a", "a", "b"], "seconds": [3000.0, 3000.0, 1500.0], "device": "cpu"})
    words = summary.reproduce("baseline", df)
    assert "(4 runs)" in words and "(12 runs," in words  # smoke: 4 optimizers x 1 seed; full: x 3 seeds
    assert "The 2 runs on this page took 1.2 run-hours to train on cpu." in words
    assert "took 45 run-seconds" in summary.reproduce("baseline", df.assign(seconds=[30.0, 30.0, 15.0]))
    assert len({c.spec.key for c in experiments.cells("baseline", "full")}) == 12
    # a page that reads several experiments: one campaign command, each run counted once
    both = summary.reproduce(("baseline", "combined"), df)
    n = len({c.spec.key for e in ("baseline", "combined") for c in experiments.cells(e, "full")})
    assert both.startswith("`sparsel campaign --experiments baseline,combined --scale smoke`")
    assert f"({n} runs," in both and n < 12 + len(experiments.cells("combined", "full"))  # shared runs once
    ten = summary.reproduce(experiments.DISSERTATION, df)  # a named group: the short command
    assert ten.startswith("`sparsel campaign --experiments dissertation --scale smoke`")


def test_seed_splits_finds_the_conditions_whose_seeds_end_apart():
    def run(condition, seed, acc, sparsity, epochs=3):
        # two epochs per run: only the last (epoch == epochs) may count; a train row and a
        # layer-1 row that would split must be ignored
        rows = [dict(condition=condition, seed=seed, epoch=e, epochs=epochs, split="test", layer="mean",
                     accuracy=acc if e == epochs else 0.1, sparsity=sparsity, selectivity_avg=0.3)
                for e in (epochs - 1, epochs)]
        return rows + [dict(rows[-1], split="train", accuracy=0.0), dict(rows[-1], layer="1", accuracy=0.0)]
    df = pd.DataFrame(run("tight", 1, 0.97, 0.30) + run("tight", 2, 0.95, 0.31)            # 0.02 apart
                      + run("split", 1, 0.97, 0.25) + run("split", 2, 0.80, 0.75) + run("split", 3, 0.96, 0.28)
                      + run("nan", 1, math.nan, 0.2) + run("nan", 2, 0.97, 0.2))          # diverged: no spread
    got = summary.seed_splits(df)
    assert list(got.condition) == ["split"] * 3
    assert list(got.seed) == [2, 3, 1]  # worst seed first
    assert got.sparsity.tolist() == [0.75, 0.28, 0.25]
    assert summary.seed_splits(df, gap=0.2).empty
    assert list(summary.seed_splits(df, gap=0.01).condition.unique()) == ["tight", "split"]  # the grid's order
    assert list(summary.seed_splits(df, metric="sparsity", gap=0.4).seed) == [1, 3, 2]  # lowest first
    # rows: seeds 2, 3, 1; seed 2 is the least accurate and the sparsest
    assert summary.split_words(got.assign(selectivity_avg=[0.5, 0.1, 0.4])) == dict(n=1, sparsest=1, least_selective=0)
    assert summary.split_words(got.assign(selectivity_avg=[0.1, 0.4, 0.5])) == dict(n=1, sparsest=1, least_selective=1)
    assert summary.split_words(got.assign(sparsity=[0.2, 0.4, 0.5]))["sparsest"] == 0
    assert summary.split_words(summary.seed_splits(df, gap=0.5)) == dict(n=0, sparsest=0, least_selective=0)


def test_unit_profile_trains_once_then_reads_the_store(tmp_path, monkeypatch, tiny_spec):
    """The first call trains and stores the profile; the next one reads it (no training); a
    read-only store gets the profile computed but is never written."""
    import numpy as np
    from sparsel import train
    from sparsel.store import Store
    calls = []
    real = train.unit_profile
    monkeypatch.setattr(train, "unit_profile", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    spec = tiny_spec.replace(epochs=1)
    first = summary.unit_profile(spec, Store(tmp_path / "s.sqlite"), "cpu")
    again = summary.unit_profile(spec, tmp_path / "s.sqlite", "cpu")
    assert len(calls) == 1 and first["trainer"] == "reference" and first["code_version"]
    assert first["means"][0].shape == (10, spec.hidden[0]) and np.array_equal(first["counts"], again["counts"])
    assert np.array_equal(first["means"][0], again["means"][0])
    Store(tmp_path / "ro.sqlite").close()
    before = (tmp_path / "ro.sqlite").read_bytes()
    ro = summary.unit_profile(spec, Store(tmp_path / "ro.sqlite", readonly=True), "cpu")
    assert len(calls) == 2 and np.allclose(ro["means"][0], first["means"][0], rtol=1e-6)
    assert (tmp_path / "ro.sqlite").read_bytes() == before


def test_a_dead_layer_has_no_sparsity_to_compare():
    """Adagrad's CNN in the full runs: every unit constant (n_dead = n = 3), Hoyer 0.394 and CCMAS
    ~1e-11 as the formulas give a frozen layer; its accuracy is still a number."""
    t = last({"cnn": (0.394, 0.0, 0.11, 3), "mlp": (0.634, 0.01, 0.97, 3), "half": (0.5, 0.01, 0.9, 3)})
    t["n_dead"] = [3, 0, 1]
    assert summary.is_dead(t, "cnn") and not summary.is_dead(t, "half")
    assert summary.compare(t, "cnn", "mlp") == f"undefined (cnn is {summary.DEAD_WORDS})"
    assert summary.compare(t, "cnn", "mlp", "accuracy").startswith("lower (0.110 vs 0.970")
    assert list(summary.state(t)) == [summary.DEAD_WORDS, "", "1 of 3 seeds dead"]
    cells = summary.effect_table(t, [("e", "cnn", "mlp")], metrics={"sparsity": "Hoyer", "accuracy": "acc"})
    assert cells.at["e", "Hoyer"] == "cnn dead (no code)" and cells.at["e", "acc"].endswith("lower")


def test_mean_se_counts_dead_seeds():
    df = pd.DataFrame({"condition": "c", "epoch": 1, "seed": [1, 2, 3], "diverged": 0,
                       "dead_fraction": [1.0, 1.0, 0.5], "sparsity": [0.39, 0.39, 0.5]})
    row = summary.mean_se(df, metrics=("sparsity",)).iloc[0]
    assert row.n == 3 and row.n_dead == 2 and row.sparsity == pytest.approx((0.39 * 2 + 0.5) / 3)


def test_contrast_is_compares_verdict_as_one_word():
    t = last({"a": (0.50, 0.01, 0.9, 3), "b": (0.40, 0.01, 0.9, 3), "c": (0.48, 0.03, 0.9, 3),
              "one": (0.9, 0.0, 0.9, 1), "nan": (math.nan, math.nan, math.nan, 3)})
    assert summary.contrast(t, "a", "b") == "higher" and summary.contrast(t, "b", "a") == "lower"
    assert summary.contrast(t, "a", "c") == "same"  # d = 0.02, 2 SE = 0.063
    assert summary.contrast(t, "one", "b") is None  # one seed: no direction
    assert summary.contrast(t, "a", "zzz") is None and summary.contrast(t, "nan", "a") is None


def test_best_words_sets_the_best_apart_from_the_runner_up_only_beyond_two_se():
    t = last({"bs=1": (0.50, 0.01, 0.9, 3), "bs=200": (0.49, 0.01, 0.9, 3), "bs=50": (0.30, 0.01, 0.9, 3)})
    t["value"] = [1, 200, 50]
    size = lambda c: str(t.at[c, "value"])  # noqa: E731
    # 0.50 vs 0.49: d = 0.01 < 2 * 0.0141
    assert summary.best_words(t, t.index, "sparsity", size) == \
        "1, not distinguishable from the runner-up, 200 (0.500 vs 0.490; +0.010 ± 0.014, 3 seeds)"
    assert summary.best_words(t, ["bs=1", "bs=50"], "sparsity", size) == \
        "1 (above the runner-up, 50: 0.500 vs 0.300; +0.200 ± 0.014, 3 seeds)"
    assert summary.best_words(t, ["bs=50"], "sparsity", size) == "50"
    assert summary.best_words(t, ["zzz"], "sparsity", size) == "not run"


def test_tail_effect_reads_the_even_drain_control():
    """Uniform draw (single) below shuffled (original); the even drain back at shuffled: the cost
    is the epoch's tail. The even drain as low as the uniform draw: the class mix."""
    def table(even, se=0.0005):  # 2 SE of a difference: 2 * hypot(se, se) = 0.0014
        t = last({"sgd original": (0.3, 0.0, 0.971, 3), "sgd single": (0.5, 0.0, 0.966, 3),
                  "sgd single (even)": (0.5, 0.0, even, 3)})
        t["accuracy_se"] = se
        return t
    assert summary.tail_effect(table(0.971), "sgd").startswith("the even drain recovers the shuffled runs' accuracy")
    assert summary.tail_effect(table(0.966), "sgd").startswith("the even drain costs as much as the uniform draw")
    assert summary.tail_effect(table(0.9685), "sgd").startswith("the even drain recovers part of the cost")
    # 0.0025 from each side, within 2 * hypot(0.001, 0.001) = 0.0028 of both
    assert summary.tail_effect(table(0.9685, se=0.001), "sgd").startswith("the even drain lies within 2 SE of both")
    t = table(0.971)
    t.loc["sgd single", "accuracy"] = 0.971
    assert summary.tail_effect(t, "sgd") == "single-class batches cost no accuracy to explain"
    assert summary.tail_effect(t.assign(n=1), "sgd").startswith("the runs give no direction")


def test_effect_words_count_agreement_only_where_both_signs_exist():
    """Hoyer vs Gini and CCMAS vs informedness agree in sign by hand: pair 1 agrees in both
    (+, + and +, +), pair 2 disagrees in sparsity (+ vs -) and agrees in selectivity; pair 3
    has a diverged condition (NaN) and pair 4 a condition not run: neither is counted."""
    metrics = ("sparsity", "gini", "selectivity_avg", "informedness", "auroc")
    rows = {"a": (0.5, 0.5, 0.5, 0.5), "b": (0.4, 0.4, 0.4, 0.4), "c": (0.6, 0.3, 0.6, 0.6),
            "d": (math.nan, math.nan, math.nan, math.nan)}
    t = pd.DataFrame([dict(condition=c, n=3, **{m: v for m, v in zip(metrics, (*vals, 0.5))},
                           **{f"{m}_se": 0.01 for m in metrics}) for c, vals in rows.items()]).set_index(
        "condition", drop=False)
    pairs = [("1", "a", "b"), ("2", "c", "b"), ("3", "d", "b"), ("4", "zzz", "b")]
    words = summary.effect_words(t, pairs, summary.effect_table(t, pairs))
    assert (words["n"], words["agree_sparsity"], words["agree_selectivity"]) == (2, 1, 2)
    assert words["label"] == "1"


def test_rate_bands_take_medians_per_ink_band_at_the_last_step():
    """Six pixels: one never inked (left out), one per band of (0, 1 %], (1, 10 %], (10, 50 %]
    and two in (50, 100 %]; only the last step counts."""
    ink = [0.0, 0.005, 0.05, 0.3, 0.6, 1.0]
    end = {"a": [9.0, 8.0, 4.0, 2.0, 1.0, 3.0], "b": [0.0, 1e-6, 1e-5, 1e-4, 5e-4, 1e-3]}
    rows = [dict(condition=c, seed=1, step=step, pixel=p, rate=(v if step == 20 else 99.0))
            for c, vs in end.items() for step in (10, 20) for p, v in enumerate(vs)]
    t = summary.rate_bands(pd.DataFrame(rows), ink)
    assert list(t.columns) == ["inked in 0-1 %", "inked in 1-10 %", "inked in 10-50 %", "inked in 50-100 %",
                               "every inked pixel"]
    assert t.loc["a"].tolist() == [8.0, 4.0, 2.0, 2.0, 3.0]   # (1 + 3) / 2; median of 8, 4, 2, 1, 3
    assert t.loc["b"].tolist() == pytest.approx([1e-6, 1e-5, 1e-4, 7.5e-4, 1e-4])


def test_a_band_without_pixels_is_nan_not_an_error():
    rows = [dict(condition="a", seed=1, step=5, pixel=p, rate=r) for p, r in enumerate([1.0, 2.0, 4.0])]
    t = summary.rate_bands(pd.DataFrame(rows), [0.2, 0.6, 0.9])  # nothing inked in 10 % of images or less
    assert list(t.columns) == summary.band_names() + ["every inked pixel"]
    assert t.loc["a"].iloc[:2].isna().all() and t.loc["a"].iloc[2:].tolist() == [1.0, 3.0, 2.0]


@pytest.mark.parametrize("x,words", [(0.0014, "0.0014"), (2.6, "2.6"), (142.3, "140"), (9600.0, "9,600"),
                                     (1.4e7, "1.4 × 10⁷"), (2.7e-6, "2.7 × 10⁻⁶"), (0.0, "0"), (1.0, "1")])
def test_number_writes_quantities_of_any_magnitude_for_prose(x, words):
    assert summary.number(x) == words


def test_rate_course_takes_medians_over_inked_pixels_per_step():
    """Pixel 0 is never inked: its rate (huge) must not move the medians."""
    ink = [0.0, 0.1, 0.2, 0.9]
    vals = {10: [1e9, 1.0, 2.0, 6.0], 20: [1e9, 0.5, 0.25, 4.0]}
    rows = [dict(condition="a", seed=1, step=st, pixel=p, rate=r) for st, rs in vals.items() for p, r in enumerate(rs)]
    c = summary.rate_course(pd.DataFrame(rows[::-1]), ink)  # rows out of step order: the course is in it
    assert list(c.loc["a"].items()) == [(10, 2.0), (20, 0.5)]


@pytest.mark.parametrize("course,words", [
    # warm-up (rate 0) skipped; 0.0014 -> 1e-5 is 140 times lower, a stall
    ({0: 0.0, 50: 0.0014, 1200: 1e-5}, "vSGD-fd's median rate goes from 0.0014 after batch 50 to 1.0 × 10⁻⁵ after "
                                       "batch 1,200, 140 times lower. Read beside"),
    ({50: 2.0, 100: 0.5}, "vSGD-fd's median rate goes from 2 after batch 50 to 0.5 after batch 100, 4 times lower."),
    ({50: 1.0, 100: 3.0}, "vSGD-fd's median rate goes from 1 after batch 50 to 3 after batch 100, 3 times higher."),
    ({0: 0.0, 50: 1.0}, "vSGD-fd's rate after its warm-up was not measured"),
])
def test_rate_change_words_follow_the_numbers(course, words):
    s = pd.Series({("fd", k): v for k, v in course.items()})
    out = summary.rate_change_words(s, "fd", "vSGD-fd")
    assert out.startswith(words)
    assert ("Read beside" in out) == ("Read beside" in words)


def test_saturation_words_give_end_shares_and_when_half_saturated():
    """Layer 1 of rule A saturates (half its units by step 10); rule B's units never do and a
    tiny share of its pairs is stuck; rule C diverged. Layer 2 holds other numbers: ignored."""
    course = {"a": [(0, 0.0, 0.0), (5, 0.9, 0.25), (10, 0.99, 0.5), (15, 1.0, 0.75)],
              "b": [(0, 0.0, 0.0), (5, 0.0, 0.0), (10, 0.0, 0.0), (15, 0.0004, 0.0)],
              "c": [(0, 0.0, 0.0), (5, 0.1, 0.0), (10, math.nan, math.nan), (15, math.nan, math.nan)]}
    rows = [dict(condition=c, seed=1, step=st, layer=1, stuck=pairs, saturated=units)
            for c, xs in course.items() for st, pairs, units in xs]
    rows += [dict(condition=c, seed=1, step=st, layer=2, stuck=0.5, saturated=0.25) for c in course for st in (0, 15)]
    names = {"a": "rule A", "b": "rule B", "c": "rule C", "zzz": "not run"}
    w = summary.saturation_words(pd.DataFrame(rows), names, probe=1000)
    assert w.startswith("After batch 15, the share of hidden units that pass no error back from any of the 1,000 "
                        "images (in brackets: of unit-image pairs that pass none): rule A 75.0% (100.0%), half of "
                        "them by batch 10; rule B none (<0.1%); rule C diverged (its activations hold NaN). A unit "
                        "stuck on every image")
    assert summary.saturation_words(pd.DataFrame(rows), names, probe=1000, layer=2) == (
        "After batch 15, the share of hidden units that pass no error back from any of the 1,000 images (in "
        "brackets: of unit-image pairs that pass none): rule A 25.0% (50.0%); rule B 25.0% (50.0%); "
        "rule C 25.0% (50.0%).")  # nothing half saturated: no word on what saturation does
    assert summary.saturation_words(pd.DataFrame(rows), {"zzz": "not run"}, probe=1000) == ""
