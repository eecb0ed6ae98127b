"""Data orders and batch makers: which training images go into which batch, epoch by epoch.

Every maker returns a flat int64 array of indices into the training set, in the order the
images are fed; training cuts it into consecutive batches of the batch size (the last one
may be smaller, as a DataLoader keeps it: ``split_batches``). Randomness comes from the
run's seed alone. The orders of ``RunSpec.order``:

- 'shuffled': a fresh permutation every epoch; 'sorted': by class, the same every epoch
  (section 5.11); 'consecutive': con k, chunks of k same-class images (section 5.7; each
  class is trimmed to a multiple of k, so up to k-1 images per class are left out).
- 'classes' and 'classes_even': batches of ``order_k`` distinct classes (section 5.9),
  every image once per epoch; ``class_batches``. 'classes' draws each batch's classes
  uniformly among the classes with images left, as the original did, so an epoch ends with
  a run of batches of its largest class(es); 'classes_even' draws in proportion to what
  each class has left, so the classes drain evenly and the end of an epoch stays mixed.
  ``tail_stats`` measures the difference.
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


DRAWS = ("uniform", "even")


def class_batches(labels: np.ndarray, batch_size: int, c: int, rng, draw: str = "uniform") -> np.ndarray:
    """Batches of ``c`` distinct classes x ``batch_size // c`` images each (section 5.9).

    single, pair and 5nums are c = 1, 2, 5. Each batch draws its ``c`` classes at random
    among the classes that can still fill a slot (have at least ``batch_size // c`` images
    left this epoch), and takes ``batch_size // c`` images of each:

    - ``draw="uniform"`` (order 'classes', as the original drew): every such class equally
      likely. Small classes run out first, so an epoch ends with only the largest classes
      left: a run of batches of one class (single) or one pair before the test measurement.
    - ``draw="even"`` (order 'classes_even'): in proportion to the slots each class can
      still fill, so the classes drain evenly and the epoch's end is as mixed as its start.

    When fewer than ``c`` classes can fill a slot, the images left (of every class) are
    shuffled into the last, mixed batch(es), so every image is used exactly once per epoch.
    (This keeps our fix of the original pair/5nums builder, which dropped about 5% of the
    images each epoch. A random draw can strand whole slots of fewer than ``c`` classes even
    where a perfect split exists, e.g. on a balanced subset: those form the last batches.)
    Returns a flat index array in batch order (batches shuffled internally); its length is
    the number of training images.
    """
    if draw not in DRAWS:
        raise ValueError(f"draw: unknown {draw!r}; choose one of {', '.join(DRAWS)}")
    per = batch_size // c
    pools = [list(rng.permutation(np.flatnonzero(labels == k))) for k in range(NUM_CLASSES)]
    out = []
    while True:
        ready = [k for k in range(NUM_CLASSES) if len(pools[k]) >= per]
        if len(ready) < c:
            break
        p = None
        if draw == "even":
            slots = np.array([len(pools[k]) // per for k in ready], dtype=float)
            p = slots / slots.sum()
        batch = []
        for k in rng.choice(ready, size=c, replace=False, p=p):
            batch += pools[k][:per]
            del pools[k][:per]
        out.append(rng.permutation(batch))
    rest = [i for p in pools for i in p]
    if rest:
        out.append(rng.permutation(rest))
    return np.concatenate(out).astype(np.int64)


def tail_stats(order: np.ndarray, labels: np.ndarray, batch_size: int, c: int = 1, k: int = 50) -> dict:
    """How one-sided the end of a class-batch epoch is (the batches just before the test pass).

    Of the composed batches (``c`` classes x ``batch_size // c`` images; the trailing mixed
    leftover batches are counted apart): ``final_run``, how many batches at the end hold the
    same set of classes in a row; ``last_classes``, how many distinct classes the last ``k``
    of them hold; ``leftover_batches``, the mixed batches after them.
    """
    per = batch_size // c
    sets = []
    for b in split_batches(order, batch_size):
        counts = np.bincount(labels[b], minlength=NUM_CLASSES)
        if len(b) != batch_size or sorted(counts[counts > 0]) != [per] * c:
            break
        sets.append(tuple(np.flatnonzero(counts)))
    n_batches = -(-len(order) // batch_size)
    run = 0
    while run < len(sets) and sets[-1 - run] == sets[-1]:
        run += 1
    return dict(final_run=run, last_classes=len({k_ for s in sets[-k:] for k_ in s}),
                leftover_batches=n_batches - len(sets))


def tail_means(labels: np.ndarray, batch_size: int, c: int, draw: str, seeds, k: int = 50) -> dict:
    """``tail_stats`` of a first epoch of ``class_batches``, averaged over ``seeds``."""
    stats = [tail_stats(class_batches(labels, batch_size, c, run_rng(s), draw=draw), labels, batch_size, c, k)
             for s in seeds]
    return {key: float(np.mean([s[key] for s in stats])) for key in stats[0]}


def batch_classes(order: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """The class of each batch of ``order`` in turn; -1 for a batch holding several classes."""
    out = []
    for b in split_batches(order, batch_size):
        cls = np.unique(labels[b])
        out.append(cls[0] if len(cls) == 1 else -1)
    return np.array(out, dtype=np.int64)


def epoch_order(spec, labels: np.ndarray, rng) -> np.ndarray:
    """The order of the training images for one epoch of ``spec`` (flat int64 [n])."""
    n = len(labels)
    if spec.order == "shuffled":
        return shuffled(n, rng)
    if spec.order == "sorted":
        return sorted_by_class(labels)
    if spec.order == "consecutive":
        return consecutive(labels, spec.order_k, rng)
    if spec.order in ("classes", "classes_even"):
        return class_batches(labels, spec.batch_size, spec.order_k, rng,
                             draw="uniform" if spec.order == "classes" else "even")
    raise ValueError(f"order: unknown {spec.order!r}")


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
