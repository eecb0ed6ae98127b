"""MNIST as tensors on a device: pixels in [0, 1], flattened, no normalisation.

Files live in torchvision's layout, ``<root>/MNIST/raw/*-idx?-ubyte[.gz]``. We read
them ourselves (the IDX format is four lines of numpy) so that a broken torchvision
install cannot stop a run; torchvision is imported only to download missing files.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# torchvision's published checksums of the four archives (also in MNIST/raw/MD5SUMS).
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
NUM_CLASSES = 10


class DataNotFound(FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else ``$SPARSEL_DATA``, else ``~/.cache/sparsel/data``."""
    if root is None:
        root = os.environ.get("SPARSEL_DATA") or Path.home() / ".cache" / "sparsel" / "data"
    return Path(root).expanduser()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _read_idx(raw: Path, stem: str) -> np.ndarray:
    """Read one IDX file, gzipped (md5-checked) or already extracted by torchvision."""
    gz = raw / f"{stem}.gz"
    if gz.exists():
        if _md5(gz) != MD5[gz.name]:
            raise DataNotFound(f"{gz} is corrupt (md5 mismatch); delete it and run again to re-download")
        data = gzip.decompress(gz.read_bytes())
    else:
        data = (raw / stem).read_bytes()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _present(raw: Path) -> bool:
    return all((raw / n).exists() or (raw / n[:-3]).exists() for n in MD5)


def import_torchvision():
    """Import torchvision, turning the CPU-torch/CUDA-torchvision mismatch into a clear error.

    A torchvision wheel built for another torch fails at import with
    ``operator torchvision::nms does not exist``. We never patch torch to hide that: a
    working torchvision is imported untouched, a broken one is reported.
    """
    try:
        import torchvision  # noqa: F401
        import torchvision.datasets
    except (ImportError, RuntimeError) as err:
        raise ImportError(
            f"torchvision cannot be imported ({err}). It is only needed to download MNIST: "
            "install a torchvision built for your torch "
            f"(torch {torch.__version__}), or put the four MNIST files in <root>/MNIST/raw/."
        ) from err
    return torchvision


def download(root: str | os.PathLike | None = None) -> Path:
    """Download MNIST into ``<root>/MNIST/raw`` through torchvision (which checks md5)."""
    root = data_root(root)
    try:
        tv = import_torchvision()
    except ImportError as err:
        raise DataNotFound(
            f"MNIST is not in {root / 'MNIST' / 'raw'} and cannot be downloaded: {err} "
            "Or point SPARSEL_DATA (or data_root=) at a folder that holds MNIST/raw/.") from err
    try:
        tv.datasets.MNIST(str(root), train=True, download=True)
        tv.datasets.MNIST(str(root), train=False, download=True)
    except Exception as err:  # network errors come in many types
        raise DataNotFound(
            f"MNIST is not in {root / 'MNIST' / 'raw'} and downloading it failed ({err}). "
            "Fix: connect to the internet, or copy the four *-ubyte.gz files there, "
            "or point SPARSEL_DATA (or data_root=) at a folder that holds MNIST/raw/."
        ) from err
    return root


@dataclass
class MNIST:
    """Train and test split on one device. ``x_*``: float32 [n, 784] in [0, 1]; ``y_*``: int64 [n]."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device) -> "MNIST":
        return MNIST(*(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)))


def stratified_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """The first ``n // 10`` images of every class, in dataset order: deterministic, no RNG.

    ``labels``: int [N]. Returns int64 indices, sorted. ``n`` must be a multiple of 10.
    """
    if n % NUM_CLASSES or n <= 0:
        raise ValueError(f"subset size {n} must be a positive multiple of {NUM_CLASSES} (one share per class)")
    per = n // NUM_CLASSES
    picks = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per:
            raise ValueError(f"subset of {n} needs {per} images of class {c}, only {len(idx)} exist")
        picks.append(idx[:per])
    return np.sort(np.concatenate(picks))


_CACHE: dict = {}


def load_mnist(root=None, device="cpu", train_size: int | None = None,
               test_size: int | None = None, download_missing: bool = True) -> MNIST:
    """Load MNIST onto ``device``, optionally as a class-stratified subset.

    ``train_size``/``test_size``: None for the full 60,000/10,000, else a multiple of 10.
    Missing files are downloaded through torchvision when ``download_missing``.
    """
    root = data_root(root)
    raw = root / "MNIST" / "raw"
    key = (str(raw.resolve()), train_size, test_size)
    if key not in _CACHE:
        if not _present(raw):
            if not download_missing:
                raise DataNotFound(
                    f"MNIST not found: looked for {sorted(MD5)} in {raw}. Fix: run once with "
                    "internet access (it downloads), copy the files there, or set SPARSEL_DATA "
                    "to a folder holding MNIST/raw/.")
            download(root)
        arrays = []
        for split, n in (("train", train_size), ("t10k", test_size)):
            x = _read_idx(raw, f"{split}-images-idx3-ubyte")
            y = _read_idx(raw, f"{split}-labels-idx1-ubyte")
            if n is not None:
                keep = stratified_indices(y, n)
                x, y = x[keep], y[keep]
            arrays += [torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0),
                       torch.from_numpy(y.astype(np.int64))]
        _CACHE[key] = MNIST(*arrays)
    return _CACHE[key].to(device)
