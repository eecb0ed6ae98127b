"""Order and batch-maker invariants: composition, every image once, determinism per seed."""
import numpy as np
import pytest

from sparsel import orders as O
from sparsel.spec import RunSpec

LABELS = np.repeat(np.arange(10), [103, 97, 120, 88, 100, 101, 99, 95, 110, 87])
np.random.default_rng(0).shuffle(LABELS)


def test_shuffled_is_a_permutation_and_seeded():
    a = O.shuffled(len(LABELS), O.run_rng(1))
    assert sorted(a) == list(range(len(LABELS)))
    assert (a == O.shuffled(len(LABELS), O.run_rng(1))).all()
    assert not (a == O.shuffled(len(LABELS), O.run_rng(2))).all()


def test_sorted_by_class_keeps_dataset_order_within_class():
    order = O.sorted_by_class(LABELS)
    assert (np.diff(LABELS[order]) >= 0).all()
    for c in range(10):
        idx = order[LABELS[order] == c]
        assert (np.diff(idx) > 0).all()


@pytest.mark.parametrize("k", [1, 5, 10])
def test_consecutive_chunks(k):
    order = O.consecutive(LABELS, k, O.run_rng(3))
    counts = np.bincount(LABELS, minlength=10)
    assert len(order) == sum(c - c % k for c in counts)
    assert len(set(order)) == len(order)
    chunks = LABELS[order].reshape(-1, k)
    assert (chunks == chunks[:, :1]).all()  # every chunk is one class
    assert (order == O.consecutive(LABELS, k, O.run_rng(3))).all()


@pytest.mark.parametrize("batch,c", [(50, 1), (50, 2), (50, 5), (10, 1), (50, 10)])
def test_class_batches_composition_and_coverage(batch, c):
    order = O.class_batches(LABELS, batch, c, O.run_rng(4))
    assert sorted(order) == list(range(len(LABELS)))  # every image exactly once
    batches = O.split_batches(order, batch)
    per = batch // c
    full = 0
    for b in batches:
        counts = np.bincount(LABELS[b], minlength=10)
        if sorted(counts[counts > 0]) == [per] * c and len(b) == batch:
            full += 1
        else:
            break  # the rest are the trailing mixed batches of leftovers
    rest = np.concatenate(batches[full:]) if full < len(batches) else np.array([], int)
    # the maker stops only when fewer than c classes can still fill a slot of `per` images
    assert (np.bincount(LABELS[rest], minlength=10) >= per).sum() < c
    assert full * batch + len(rest) == len(LABELS)


def test_class_batches_on_a_balanced_subset_have_no_leftovers():
    labels = np.repeat(np.arange(10), 100)
    order = O.class_batches(labels, 50, 2, O.run_rng(5))
    for b in O.split_batches(order, 50):
        counts = np.bincount(labels[b], minlength=10)
        assert sorted(counts[counts > 0]) == [25, 25]


def test_epoch_orders_change_between_epochs_except_sorted():
    spec = RunSpec(order="shuffled")
    rng = O.run_rng(1)
    assert not (O.epoch_order(spec, LABELS, rng) == O.epoch_order(spec, LABELS, rng)).all()
    s = RunSpec(order="sorted")
    assert (O.epoch_order(s, LABELS, rng) == O.epoch_order(s, LABELS, rng)).all()
