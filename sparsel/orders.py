"""Data orders and batch makers: which training images go into which batch, epoch by epoch.

Every maker returns int64 indices of shape [batches, batch_size] into the training set,
each image exactly once per epoch (a final partial batch is dropped only for 'shuffled'
and 'sorted' when the batch size does not divide the data, as a DataLoader would keep it:
see ``epoch_batches``). Randomness comes from the run's seed alone.
"""
from __future__ import annotations

import numpy as np

NUM_CLASSES = 10


def run_rng(seed: int) -> np.random.Generator:
    """The data-order RNG of one run; independent of the weight-init RNG (torch's)."""
    return np.random.default_rng([seed, 0x5EED])


def shuffled(n: int, rng) -> np.ndarray:
    """A fresh permutation of range(n)."""
    return rng.permutation(n)


def sorted_by_class(labels: np.ndarray) -> np.ndarray:
    """Images ordered by label, dataset order within a class (section 5.11)."""
    return np.argsort(labels, kind="stable")


def consecutive(labels: np.ndarray, k: int, rng) -> np.ndarray:
    """con k (section 5.7): chunks of k same-class images in shuffled chunk order.

    Each class's images (in random order) are trimmed to a multiple of k and cut into
    chunks; the chunks of all classes are shuffled. con 1 is a plain shuffle.
    """
    chunks = []
    for c in range(NUM_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        idx = idx[: len(idx) - len(idx) % k]
        chunks.append(idx.reshape(-1, k))
    chunks = np.concatenate(chunks)
    return chunks[rng.permutation(len(chunks))].reshape(-1)


def class_batches(labels: np.ndarray, batch_size: int, c: int, rng) -> np.ndarray:
    """Batches of ``c`` distinct classes x ``batch_size // c`` images each (section 5.9).

    single, pair and 5nums are c = 1, 2, 5. Classes are drawn at random among those with
    enough images left, in proportion to the slots they can still fill (so classes drain
    evenly and few images are left over); every image is used once per epoch. Images of a class that cannot
    fill a slot any more (fewer than batch_size // c left) go into a last mixed batch, so
    nothing is dropped. Returns a flat index array in batch order (batches shuffled
    internally); its length is the number of training images.
    """
    per = batch_size // c
    pools = [list(rng.permutation(np.flatnonzero(labels == k))) for k in range(NUM_CLASSES)]
    out = []
    while True:
        ready = [k for k in range(NUM_CLASSES) if len(pools[k]) >= per]
        if len(ready) < c:
            break
        batch = []
        slots = np.array([len(pools[k]) // per for k in ready], dtype=float)
        for k in rng.choice(ready, size=c, replace=False, p=slots / slots.sum()):
            batch += pools[k][:per]
            del pools[k][:per]
        out.append(rng.permutation(batch))
    rest = [i for p in pools for i in p]
    if rest:
        out.append(rng.permutation(rest))
    return np.concatenate(out).astype(np.int64)


def epoch_order(spec, labels: np.ndarray, rng) -> np.ndarray:
    """The order of the training images for one epoch of ``spec`` (flat int64 [n])."""
    n = len(labels)
    if spec.order == "shuffled":
        return shuffled(n, rng)
    if spec.order == "sorted":
        return sorted_by_class(labels)
    if spec.order == "consecutive":
        return consecutive(labels, spec.order_k, rng)
    return class_batches(labels, spec.batch_size, spec.order_k, rng)


def split_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Cut a flat order into batches; the last one may be smaller (as a DataLoader does)."""
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def batches_per_epoch(spec) -> int:
    """How many optimizer steps one epoch of ``spec`` takes."""
    from .spec import TRAIN_FULL
    n = spec.train_size or TRAIN_FULL
    if spec.order == "consecutive":
        per_class = n // NUM_CLASSES  # exact for the stratified subsets; approximate for full MNIST
        n = NUM_CLASSES * (per_class - per_class % spec.order_k)
    return -(-n // spec.batch_size)
