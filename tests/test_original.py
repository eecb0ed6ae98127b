"""The original runs' numbers: label mapping, the original's own error bars, the comparison."""
import gzip
import math

import numpy as np
import pandas as pd
import pytest

from sparsel import original


def _raw(name):
    return pd.read_csv(gzip.open(original.FOLDER / f"{name}.csv.gz", "rt"))


def test_last_epoch_is_the_mean_and_population_se_over_the_three_seeds():
    raw = _raw("baseline")
    rows = raw[(raw.optimizer == "Adagrad") & (raw.metric_set == "test") & (raw.epoch == 30)
               & (raw.seed.astype(str) != "mean")]
    assert sorted(rows.seed.astype(int)) == [1, 100, 1234]
    t = original.last_epoch("baseline")
    assert t.at["adagrad", "sparsity"] == pytest.approx(rows.sparsity.mean())
    assert t.at["adagrad", "sparsity_se"] == pytest.approx(np.std(rows.sparsity, ddof=0) / math.sqrt(3))
    assert t.at["adagrad", "n"] == 3 and t.at["adagrad", "epoch"] == 30


def test_conditions_map_onto_our_labels():
    from sparsel import experiments
    for name in ("baseline", "class_diversity", "cnn"):
        ours = {c.condition for c in experiments.cells(name, "full")}
        assert set(original.last_epoch(name).index) <= ours, name
    cnn = original.load("cnn")
    assert cnn.epoch.max() == 5  # the MLP baseline rows are cut to the CNN's five epochs


def test_compare_gives_differences_in_se_units():
    orig = original.last_epoch("baseline")
    ours = orig.copy()
    ours["sparsity"] = orig["sparsity"] + 2 * np.hypot(orig["sparsity_se"], orig["sparsity_se"])
    t = original.compare(ours, "baseline")
    assert np.allclose(t["sparsity diff / SE"], 2.0)
    assert np.allclose(t["accuracy diff / SE"], 0.0)


def test_missing_experiment_is_named():
    with pytest.raises(LookupError, match="no original runs for 'sorted'"):
        original.load("sorted")


def test_compare_words_names_the_largest_difference_and_the_scale():
    from sparsel.original import compare_words
    t = pd.DataFrame({"accuracy diff / SE": [0.5, -4.0], "sparsity diff / SE": [2.5, float("nan")]},
                     index=pd.Index(["sgd", "adam"], name="condition"))
    words = compare_words(t, "full")
    # |z| 4.0 and 2.5 are beyond the book's 2 SE (2.5 would not be beyond the old 3), 0.5 is not
    assert words == ("the largest difference is 4.0 combined SE (adam, accuracy); 2 of 3 values differ by "
                     "more than 2 SE, the book's rule for a difference beyond run-to-run noise")
    assert compare_words(t, "smoke").startswith("at smoke scale the two are not comparable")
    assert compare_words(pd.DataFrame(), "full").startswith("no condition")


def test_note_says_which_chapters_have_the_original_beside_ours():
    assert "beside ours above" in original.note("baseline")
    assert "No per-seed numbers" in original.note("width") and "baseline" in original.note("width")
    assert "never ran" in original.note("forgetting")
