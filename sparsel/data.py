"""MNIST as tensors on a device: pixels in [0, 1], flattened, no normalisation.

Files live in torchvision's layout, ``<root>/MNIST/raw/*-idx?-ubyte[.gz]``. We read
them ourselves (the IDX format is four lines of numpy) so that a broken torchvision
install cannot stop a run; torchvision is imported only to download missing files.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
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
# md5 of the same four files as torchvision extracts them (the gunzipped archives above);
# used when only the extracted files are on disk.
MD5_EXTRACTED = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NUM_CLASSES = 10
IDX_MAGIC = {"labels": 0x00000801, "images": 0x00000803}  # unsigned bytes, 1 or 3 dimensions
SPLIT_SIZES = {"train": 60_000, "t10k": 10_000}
IMAGE_SIDE = 28


class DataNotFound(FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


class DataCorrupt(DataNotFound):
    """An MNIST file is on disk but is not what it should be; the message names it and the fix."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else ``$SPARSEL_DATA``, else ``~/.cache/sparsel/data``."""
    if root is None:
        root = os.environ.get("SPARSEL_DATA") or Path.home() / ".cache" / "sparsel" / "data"
    return Path(root).expanduser()


def _corrupt(path: Path, what: str) -> DataCorrupt:
    return DataCorrupt(
        f"{path} is corrupt: {what}. Fix: delete it and run again to re-download MNIST, "
        "or point SPARSEL_DATA (or --data / data_root=) at a folder holding intact MNIST/raw/ files.")


def _kind(path: Path) -> str:
    """'labels' or 'images', from torchvision's file names (``*-labels-idx1-*``, ``*-images-idx3-*``)."""
    for kind in IDX_MAGIC:
        if f"-{kind}-" in path.name:
            return kind
    raise ValueError(f"{path}: cannot tell labels from images by the name (expected '-labels-' or '-images-' in it)")


def _idx_fault(data: bytes, kind: str, count: int | None) -> str | None:
    """What is wrong with the IDX bytes ``data`` of MNIST ``kind``, or None when nothing is."""
    magic, ndim = IDX_MAGIC[kind], 1 if kind == "labels" else 3
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found is not None and found != magic:
        return f"magic number 0x{found:08x}, expected 0x{magic:08x} for MNIST {kind}"
    if len(data) < header:
        return f"{len(data)} bytes, shorter than the {header}-byte IDX header of MNIST {kind}"
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        return f"header says images of {shape[1]}x{shape[2]} pixels, MNIST's are {IMAGE_SIDE}x{IMAGE_SIDE}"
    if count is not None and shape[0] != count:
        return f"header says {shape[0]} {kind}, this file of MNIST holds {count}"
    want = header + int(np.prod(shape))
    if len(data) != want:
        return (f"{'truncated' if len(data) < want else 'too long'}: {len(data)} bytes (uncompressed), "
                f"its header {list(shape)} needs exactly {want}")
    if kind == "labels":
        labels = np.frombuffer(data, dtype=np.uint8, offset=header)
        bad = np.flatnonzero(labels >= NUM_CLASSES)
        if len(bad):
            return (f"{len(bad)} labels outside 0-{NUM_CLASSES - 1} "
                    f"(the first is {int(labels[bad[0]])}, at index {int(bad[0])})")
    return None


def read_idx(path: str | os.PathLike, kind: str | None = None, count: int | None = None,
             md5: str | None = None) -> np.ndarray:
    """Read and check one IDX file of unsigned bytes, gzipped (``.gz``) or not.

    ``kind``: 'labels' (magic 0x00000801, one dimension, values 0-9) or 'images' (magic
    0x00000803, [n, 28, 28]); None takes it from the file name. ``count``: the number of
    items the file must hold, None for any. ``md5``: the expected md5 of the file as stored
    (gzipped or not). Raises DataCorrupt naming the file, the fault (an md5 mismatch, a bad
    gzip stream, a wrong magic number or header, a size that is not exactly the header's,
    labels outside 0-9) and the fix.
    """
    path = Path(path)
    kind = kind or _kind(path)
    stored = data = path.read_bytes()
    faults = []
    if md5 is not None and (digest := hashlib.md5(stored).hexdigest()) != md5:
        faults.append(f"md5 mismatch ({digest}, expected {md5})")
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(stored)
        except (OSError, EOFError, zlib.error) as err:
            raise _corrupt(path, "; ".join(faults + [f"not a readable gzip file ({err})"])) from err
    fault = _idx_fault(data, kind, count)
    if fault:
        faults.append(fault)
    if faults:
        raise _corrupt(path, "; ".join(faults))
    ndim = 1 if kind == "labels" else 3
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read_idx(raw: Path, stem: str) -> np.ndarray:
    """Read one of MNIST's four IDX files, gzipped or already extracted by torchvision.

    Every read is checked: the md5 of the file read against torchvision's (archive) or
    MD5_EXTRACTED (extracted file), and its layout (``read_idx``), so a corrupted file never trains.
    """
    gz = raw / f"{stem}.gz"
    path, known = (gz, MD5[gz.name]) if gz.exists() else (raw / stem, MD5_EXTRACTED[stem])
    return read_idx(path, count=SPLIT_SIZES[stem.split("-")[0]], md5=known)


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


def ink_frequency(x: torch.Tensor) -> torch.Tensor:
    """Per pixel, the fraction of images in which it is inked (non-zero): ``x`` [N, 784]
    -> [784], in [0, 1]. About 19 % of an MNIST image's pixels are inked; the border almost never."""
    return (x != 0).double().mean(0)
