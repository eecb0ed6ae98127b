"""Order and batch-maker invariants: composition, every image once, determinism per seed,
the end-of-epoch tail of the two class draws, and the key change that came with the uniform draw."""
import dataclasses
import hashlib
import json

import numpy as np
import pytest

from sparsel import orders as O
from sparsel.spec import ORDER_VERSIONS, RunSpec, SpecError

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


DRAWS = ("uniform", "even")


def composed_and_rest(order, labels, batch, c):
    """Split a class-batch epoch into its composed batches (c classes x batch//c) and the rest."""
    batches = O.split_batches(order, batch)
    per = batch // c
    full = 0
    for b in batches:
        counts = np.bincount(labels[b], minlength=10)
        if sorted(counts[counts > 0]) == [per] * c and len(b) == batch:
            full += 1
        else:
            break  # the rest are the trailing mixed batches of leftovers
    rest = np.concatenate(batches[full:]) if full < len(batches) else np.array([], int)
    return full, rest


@pytest.mark.parametrize("draw", DRAWS)
@pytest.mark.parametrize("batch,c", [(50, 1), (50, 2), (50, 5), (10, 1), (50, 10)])
def test_class_batches_composition_and_coverage(batch, c, draw):
    order = O.class_batches(LABELS, batch, c, O.run_rng(4), draw=draw)
    assert sorted(order) == list(range(len(LABELS)))  # every image exactly once
    assert (order == O.class_batches(LABELS, batch, c, O.run_rng(4), draw=draw)).all()  # seeded
    full, rest = composed_and_rest(order, LABELS, batch, c)
    # the maker stops only when fewer than c classes can still fill a slot of `per` images
    assert (np.bincount(LABELS[rest], minlength=10) >= batch // c).sum() < c
    assert full * batch + len(rest) == len(LABELS)


def test_the_two_draws_differ_and_an_unknown_draw_is_named():
    a = O.class_batches(LABELS, 50, 1, O.run_rng(4), draw="uniform")
    assert not (a == O.class_batches(LABELS, 50, 1, O.run_rng(4), draw="even")).all()
    assert (a == O.class_batches(LABELS, 50, 1, O.run_rng(4))).all()  # uniform is the default
    with pytest.raises(ValueError, match="draw"):
        O.class_batches(LABELS, 50, 1, O.run_rng(4), draw="proportional")


@pytest.mark.parametrize("draw", DRAWS)
@pytest.mark.parametrize("c", [1, 2, 5, 10])
def test_class_batches_on_a_balanced_subset_what_is_guaranteed(c, draw):
    """100 images a class (the smoke subset), batch 50: 40 slots of 50 // c images.

    A perfect split into c-class batches exists, but a random draw does not look ahead: it
    can use up the other classes while one (or, for 5nums, up to four) still has whole slots
    left, which then form the last batches (issue 14: 16/300 seeds for pair and 187/300 for
    5nums under the even draw, more under the uniform one). What holds for every seed: the
    leftovers are whole slots of fewer than c classes, a multiple of c slots in all, and
    there are none with c = 1 or c = 10.
    """
    labels = np.repeat(np.arange(10), 100)
    per = 50 // c
    with_leftovers = 0
    for seed in range(300):
        order = O.class_batches(labels, 50, c, O.run_rng(seed), draw=draw)
        assert sorted(order) == list(range(1000))
        full, rest = composed_and_rest(order, labels, 50, c)
        counts = np.bincount(labels[rest], minlength=10)
        assert (counts % per == 0).all() and (counts > 0).sum() < c
        assert (counts.sum() // per) % c == 0
        assert O.tail_stats(order, labels, 50, c)["leftover_batches"] == len(rest) // 50
        with_leftovers += len(rest) > 0
    if c in (1, 10):
        assert with_leftovers == 0
    else:  # leftovers really happen: "no leftovers" is not a property of the draw
        assert with_leftovers > 0


# MNIST's training images per class (0..9)
MNIST_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)


def mnist_tail_means(draw, seeds=range(1, 41)):
    return O.tail_means(np.repeat(np.arange(10), MNIST_COUNTS), 50, 1, draw, seeds, k=50)


def test_uniform_draw_ends_the_epoch_with_a_one_class_tail_and_even_drain_does_not():
    """Single-class batches of 50 on MNIST's class counts, 40 seeds.

    Measured (seeds 1..40): the uniform draw ends its composed batches with a run of 8.25
    batches of one class on average (1..22 by seed) and its last 50 batches hold 5.3 distinct
    classes (3..8); the even drain ends with a run of 1.05 (1..2) and 9.98 classes (9..10).
    Both then add the same 5 mixed batches of the 250 images that cannot fill a slot.
    """
    uni, even = mnist_tail_means("uniform"), mnist_tail_means("even")
    assert uni["final_run"] > 5 and even["final_run"] < 2
    assert uni["last_classes"] < 7 and even["last_classes"] > 9.5
    assert uni["leftover_batches"] == even["leftover_batches"] == 5


def test_tail_stats_counts_the_final_run_and_the_last_classes():
    labels = np.repeat(np.arange(3), [100, 100, 150])
    order = np.concatenate([np.flatnonzero(labels == k) for k in (0, 1, 2)])  # 2, 2, 3 batches
    assert O.tail_stats(order, labels, 50, c=1, k=4) == dict(final_run=3, last_classes=2, leftover_batches=0)
    assert list(O.batch_classes(order, labels, 50)) == [0, 0, 1, 1, 2, 2, 2]


@pytest.mark.parametrize("order,draw", [("classes", "uniform"), ("classes_even", "even")])
def test_epoch_order_of_the_class_orders(order, draw):
    spec = RunSpec(order=order, order_k=2, train_size=1000)
    got = O.epoch_order(spec, LABELS, O.run_rng(7))
    assert (got == O.class_batches(LABELS, 50, 2, O.run_rng(7), draw=draw)).all()
    assert spec.steps_per_epoch == 20
    with pytest.raises(SpecError, match="^order_k:"):
        RunSpec(order=order, order_k=3)  # 3 classes do not divide 50
    with pytest.raises(SpecError, match="^order_k:"):
        RunSpec(order=order, order_k=11, batch_size=55)


def old_key(spec):
    """The key as it was before ORDER_VERSIONS (the spec's fields alone)."""
    d = {k: v for k, v in spec.to_dict().items() if k != "order_version"}
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def test_the_uniform_sampler_gave_classes_a_new_key_and_no_other_spec_changed():
    classes = RunSpec(order="classes")
    assert classes.to_dict()["order_version"] == ORDER_VERSIONS["classes"] == 2
    assert classes.key != old_key(classes) == "303a661cf58bce16"  # runs of the old sampler stay apart
    assert RunSpec().key == old_key(RunSpec()) == "769d277b8cfc1d5c"
    for spec in (RunSpec(order="shuffled", optimizer="adam"), RunSpec(order="sorted"),
                 RunSpec(order="consecutive", order_k=5, batch_size=1), RunSpec(order="classes_even", order_k=2)):
        assert "order_version" not in spec.to_dict() and spec.key == old_key(spec)
    assert RunSpec.from_dict(classes.to_dict()) == classes
    with pytest.raises(SpecError, match="^order_version:"):
        RunSpec.from_dict({**classes.to_dict(), "order_version": 1})
    with pytest.raises(SpecError, match="^order_version:"):
        RunSpec.from_dict({**RunSpec().to_dict(), "order_version": 2})


def test_epoch_orders_change_between_epochs_except_sorted():
    spec = RunSpec(order="shuffled")
    rng = O.run_rng(1)
    assert not (O.epoch_order(spec, LABELS, rng) == O.epoch_order(spec, LABELS, rng)).all()
    s = RunSpec(order="sorted")
    assert (O.epoch_order(s, LABELS, rng) == O.epoch_order(s, LABELS, rng)).all()
