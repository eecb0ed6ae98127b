"""Generalization from train and test loss (section 6.3.3): patterns, per-run measures, rank
correlations, each against values worked out by hand."""
import math

import numpy as np
import pandas as pd
import pytest

from sparsel import generalization as GN


@pytest.mark.parametrize("curve, expected", [
    ([2.3, 1.0, 0.5, 0.3, 0.2], "good"),                 # both fall to the end
    ([2.3, 0.5, 0.10, 0.105, 0.109], "good"),            # ends 9 % above its minimum: within 10 %
    ([2.3, 0.5, 0.10, 0.12, 0.15], "over-fitting"),      # ends 50 % above its minimum
    ([2.3, 2.0, 1.8, 1.6, 1.5], "poor"),                 # never below half of 2.3
    ([2.3, 1.1, 1.2, 1.3, 1.3], "over-fitting"),         # 1.1 < 2.3 / 2, so not poor; ends 18 % above 1.1
    ([2.3, 0.5, float("nan"), 0.4, 0.3], "diverged"),
    ([2.3, 0.5, float("inf"), 0.4, 0.3], "diverged"),
])
def test_pattern_of_a_test_loss_curve(curve, expected):
    assert GN.pattern(curve) == expected


def test_pattern_thresholds_are_the_documented_ones():
    assert GN.pattern([1.0, 0.5, 0.549]) == "good"           # 9.8 % above its minimum
    assert GN.pattern([1.0, 0.5, 0.551]) == "over-fitting"   # 10.2 %
    assert GN.pattern([1.0, 0.5001, 0.5001]) == "poor"       # minimum just above half the start
    assert GN.pattern([1.0, 0.5, 0.5]) == "good"


def _rows(key, experiment, condition, optimizer, seed, test_loss, train_loss, test_acc, train_acc, sparsity,
          dead=None):
    out = []
    for e, (tl, rl, ta, ra, sp) in enumerate(zip(test_loss, train_loss, test_acc, train_acc, sparsity)):
        common = dict(run_key=key, experiment=experiment, condition=condition, optimizer=optimizer, seed=seed,
                      epoch=e, layer="mean", gini=sp / 2, selectivity_avg=sp, informedness=1 - sp, auroc=0.5,
                      dead_fraction=(dead or [0] * len(test_loss))[e])
        out.append(dict(common, split="test", loss=tl, accuracy=ta, sparsity=sp))
        out.append(dict(common, split="train", loss=rl, accuracy=ra, sparsity=sp + 0.01))
        out.append(dict(common, split="test", layer="1", loss=tl, accuracy=ta, sparsity=0.99))  # another layer
    return out


def test_run_measures_by_hand():
    rows = _rows("a", "baseline", "adam", "adam", 1, [2.3, 0.2, 0.1, 0.15], [2.3, 0.15, 0.05, 0.01],
                 [0.1, 0.95, 0.97, 0.96], [0.1, 0.96, 0.99, 1.0], [0.0, 0.2, 0.3, 0.4])
    rows += _rows("b", "baseline", "sgd", "sgd", 1, [2.3, 0.5, 0.3, 0.2], [2.3, 0.5, 0.25, 0.18],
                  [0.1, 0.9, 0.93, 0.95], [0.1, 0.9, 0.94, 0.955], [0.0, 0.1, 0.15, 0.2])
    # the same run again under a second experiment (a reused run): counted once, under the first
    rows += [dict(r, experiment="batch_size") for r in rows if r["run_key"] == "b"]
    r = GN.run_measures(pd.DataFrame(rows)).set_index("run_key")
    assert list(r.index) == ["a", "b"] and r.at["b", "experiment"] == "baseline"
    a = r.loc["a"]
    assert a.pattern == "over-fitting" and a.best_epoch == 2 and a.epochs == 3
    assert a.gap == pytest.approx(0.15 - 0.01) and a.rise == pytest.approx(0.15 - 0.1)
    assert a.accuracy_gap == pytest.approx(1.0 - 0.96)
    assert a.sparsity == pytest.approx(0.4)  # the layer mean's, not layer 1's 0.99
    assert a.sparsity_after_best == pytest.approx(0.4 - 0.3) and a.accuracy_after_best == pytest.approx(0.96 - 0.97)
    assert a.informedness_after_best == pytest.approx(0.6 - 0.7)
    b = r.loc["b"]
    assert b.pattern == "good" and b.best_epoch == 3 and b.rise == 0 and b.sparsity_after_best == 0
    assert b.gap == pytest.approx(0.02) and not b.dead


def test_a_diverged_run_has_nan_measures_never_zero():
    rows = _rows("d", "hyperparameters", "sgd lr=1000", "sgd", 1, [2.3, float("nan"), float("nan")],
                 [2.3, float("nan"), float("nan")], [0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [0.0, float("nan"), float("nan")])
    r = GN.run_measures(pd.DataFrame(rows)).iloc[0]
    assert r.pattern == "diverged"
    assert all(math.isnan(r[c]) for c in ("gap", "rise", "best_epoch", "accuracy_gap", "sparsity_after_best"))
    assert GN.learned(GN.run_measures(pd.DataFrame(rows))).empty


def test_learned_leaves_out_chance_and_dead_runs():
    rows = _rows("ok", "x", "sgd", "sgd", 1, [2.3, 0.3], [2.3, 0.3], [0.1, 0.9], [0.1, 0.9], [0.0, 0.3])
    rows += _rows("chance", "x", "sgd HL5", "sgd", 1, [2.3, 0.6], [2.3, 0.6], [0.1, 0.15], [0.1, 0.15], [0.0, 0.3])
    rows += _rows("dead", "x", "adagrad HL5", "adagrad", 1, [2.3, 0.3], [2.3, 0.3], [0.1, 0.9], [0.1, 0.9],
                  [0.0, 0.3], dead=[0, 1])
    # 'poor': half the images right, but a test loss that never fell below half its start
    rows += _rows("poor", "x", "sgd lr=1000", "sgd", 1, [2.3, 40.0], [2.3, 55.0], [0.1, 0.5], [0.1, 0.5], [0.0, 0.3])
    runs = GN.run_measures(pd.DataFrame(rows))
    assert runs.set_index("run_key").at["poor", "pattern"] == "poor"
    assert list(GN.learned(runs).run_key) == ["ok"]


def test_run_measures_names_missing_columns():
    with pytest.raises(ValueError, match="missing.*split"):
        GN.run_measures(pd.DataFrame({"run_key": ["a"], "epoch": [0], "layer": ["mean"], "loss": [1.0],
                                      "accuracy": [0.1]}))


def test_partial_spearman_by_hand():
    # ranks x 1..5, y 2 1 4 3 5, z 1 3 2 5 4: r_xy = 1 - 6*4/120 = 0.8, r_xz = 0.8,
    # r_yz = 1 - 6*14/120 = 0.3; partial = (0.8 - 0.24) / sqrt(0.36 * 0.91)
    x, y, z = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5], [1, 3, 2, 5, 4]
    assert GN.partial_spearman(x, y, z) == pytest.approx(0.56 / math.sqrt(0.36 * 0.91))
    assert math.isnan(GN.partial_spearman(x, y, x))  # z is x itself: nothing left to correlate


def _runs(seed, points):
    """measure rows: (optimizer, gap, accuracy, sparsity) per run."""
    return pd.DataFrame([dict(seed=seed, optimizer=o, gap=g, rise=0.0, accuracy=a, sparsity=s)
                         for o, g, a, s in points])


def test_rank_table_pooled_within_and_partial():
    # within each optimizer sparsity rises with the gap; between them it falls (Simpson's paradox):
    # SGD gaps 1..5 with sparsity 0.90..0.94, Adam gaps 11..15 with sparsity 0.10..0.14
    pts = ([("sgd", g, 0.9 + g / 100, 0.89 + 0.01 * g) for g in (1, 2, 3, 4, 5)]
           + [("adam", g, 0.8 + g / 100, 0.10 + 0.01 * (g - 11)) for g in (11, 12, 13, 14, 15)])
    runs = pd.concat([_runs(1, pts), _runs(2, pts)])
    pooled = GN.rank_table(runs, measures=("gap",), metrics=("sparsity",))
    within = GN.rank_table(runs, measures=("gap",), metrics=("sparsity",), how="within")
    # pooled ranks: gap 1..10 against sparsity 6..10, 1..5: sum d^2 = 250, rho = 1 - 6 * 250 / (10 * 99)
    assert pooled.at["gap", "sparsity"] == pytest.approx(1 - 1500 / 990)
    assert within.at["gap", "sparsity"] == pytest.approx(1.0)
    assert within.at["gap", "sparsity_se"] == 0 and within.at["gap", "sparsity_n"] == 2
    assert pooled.at["gap", "points"] == 10
    partial = GN.rank_table(runs, measures=("gap", "accuracy"), metrics=("sparsity",), how="partial")
    g, a, s = ([p[i] for p in pts] for i in (1, 2, 3))
    assert partial.at["gap", "sparsity"] == pytest.approx(GN.partial_spearman(g, s, a))
    assert math.isnan(partial.at["accuracy", "sparsity"])  # accuracy with accuracy held fixed: undefined
    with pytest.raises(ValueError, match="pooled"):
        GN.rank_table(runs, how="overall")


def test_rank_table_mean_and_se_over_seeds_and_too_few_points():
    up = [("sgd", k, 0.9, k) for k in range(6)]
    down = [("sgd", k, 0.9, -k) for k in range(6)]
    t = GN.rank_table(pd.concat([_runs(1, up), _runs(2, down)]), measures=("gap",), metrics=("sparsity",))
    assert t.at["gap", "sparsity"] == pytest.approx(0.0) and t.at["gap", "sparsity_se"] == pytest.approx(1.0 / math.sqrt(2))
    one = GN.rank_table(_runs(1, up), measures=("gap",), metrics=("sparsity",))
    assert one.at["gap", "sparsity"] == pytest.approx(1.0) and math.isnan(one.at["gap", "sparsity_se"])
    assert GN.pm(1.0, math.nan) == "+1.00 (one seed)" and GN.pm(math.nan, 0.1) == "n/a"
    few = GN.rank_table(_runs(1, up[:4]), measures=("gap",), metrics=("sparsity",))
    assert math.isnan(few.at["gap", "sparsity"])  # 4 points < min_points 5


def test_words():
    t = pd.DataFrame({"sparsity": [0.6], "sparsity_se": [0.01], "selectivity_avg": [-0.3],
                      "selectivity_avg_se": [0.01], "auroc": [-0.2], "auroc_se": [0.05],
                      "informedness": [0.1], "informedness_se": [0.1], "gini": [float("nan")],
                      "gini_se": [float("nan")]}, index=pd.Index(["gap"], name="measure"))
    names = {"sparsity": "Hoyer", "gini": "Gini", "selectivity_avg": "CCMAS", "auroc": "AUROC",
             "informedness": "informedness"}
    # informedness 0.1 +- 0.1 is within 2 SE of zero: named unclear, not "larger"
    assert (GN.direction_words(t, "gap", names, "larger", "smaller")
            == "larger by Hoyer; smaller by CCMAS and AUROC; unclear by informedness")
    assert GN.strength(0.6, 0.01) == "strong" and GN.strength(-0.6, 0.01) == "strong"
    assert GN.strength(0.6, 0.4) == "unclear"  # beyond 0.5 but within 2 SE
    assert GN.strength(0.4, 0.01) == "weak" and GN.strength(0.6, math.nan) == "one seed"
    assert GN.rho_words(0.6, 0.01) == "+0.600 ± 0.010, strong" and GN.rho_words(0.6, math.nan) == "+0.600 (one seed)"
    assert GN.rho_words(-0.4971, 0.01) == "-0.497 ± 0.010, weak"  # rounds to -0.50 at two digits


def test_control_words():
    def tab(r):
        return pd.DataFrame({"sparsity": [r]}, index=["gap"])
    words = GN.control_words({"pooled": tab(0.56), "within": tab(0.5), "fixed": tab(0.3)}, "sparsity")
    assert words == "pooled +0.56, within +0.50, fixed +0.30: keeps its sign and at least half its size under both"
    assert GN.control_words({"pooled": tab(0.56), "within": tab(0.2), "fixed": tab(0.3)}, "sparsity").endswith(
        "keeps its sign but loses more than half its size under within")
    assert GN.control_words({"pooled": tab(0.56), "within": tab(-0.2), "fixed": tab(0.3)}, "sparsity").endswith(
        "changes sign under within")


def test_after_best_and_pattern_counts():
    runs = pd.DataFrame([dict(experiment="e", seed=s, pattern=p, best_epoch=b, epochs=10, accuracy_after_best=d)
                         for s, p, b, d in [(1, "good", 10, 0.0), (1, "over-fitting", 4, 0.02),
                                            (2, "over-fitting", 6, 0.04), (2, "poor", 8, 0.06)]])
    a = GN.after_best(runs, metrics=("accuracy",))
    # per seed: 0.01 and 0.05; mean 0.03, SE 0.02 / sqrt(2)
    assert a.at["e", "accuracy"] == pytest.approx(0.03) and a.at["e", "accuracy_se"] == pytest.approx(0.02 / math.sqrt(2))
    assert a.at["e", "best_epoch"] == 7
    c = GN.pattern_counts(runs)
    assert list(c.columns) == ["good", "over-fitting", "poor"]
    assert c.loc["e"].tolist() == [1, 2, 1] and c.loc["all"].sum() == 4
