"""MNIST loading: published facts about the data set, subsets, and the torchvision paths."""
import builtins
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from sparsel import data as D

# Class counts of MNIST's standard split (widely published; independent of this code).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_full_mnist_shapes_range_and_class_counts(mnist):
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.min() == 0 and mnist.x_train.max() == 1  # ToTensor only, no normalisation
    assert np.bincount(mnist.y_train.numpy()).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.y_test.numpy()).tolist() == TEST_COUNTS
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's first training labels


def test_stratified_subset_is_balanced_and_deterministic(small):
    assert np.bincount(small.y_train.numpy()).tolist() == [100] * 10
    assert np.bincount(small.y_test.numpy()).tolist() == [50] * 10
    again = D.load_mnist(train_size=1000, test_size=500)
    assert (again.x_train == small.x_train).all()


def test_subset_size_must_split_into_classes():
    with pytest.raises(ValueError, match="multiple of 10"):
        D.stratified_indices(np.arange(100) % 10, 15)


def test_missing_data_error_says_where_and_how(tmp_path):
    with pytest.raises(D.DataNotFound) as err:
        D.load_mnist(tmp_path, download_missing=False)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "SPARSEL_DATA" in msg


def test_corrupt_archive_is_reported(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in D.MD5:
        (raw / name).write_bytes(b"not mnist")
    with pytest.raises(D.DataNotFound, match="md5"):
        D.load_mnist(tmp_path)


def test_broken_torchvision_gives_a_clear_error(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name.startswith("torchvision"):
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    for mod in [m for m in sys.modules if m.startswith("torchvision")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(ImportError, match="torchvision cannot be imported.*nms"):
        D.import_torchvision()
    with pytest.raises(D.DataNotFound, match="SPARSEL_DATA"):
        D.load_mnist(tmp_path)  # nothing on disk: the download needs torchvision


def test_working_torchvision_downloads_through_its_dataset_class(monkeypatch, tmp_path):
    """With a torchvision that imports, its MNIST(download=True) fills <root>/MNIST/raw."""
    calls = []

    class FakeMNIST:  # stands in for torchvision.datasets.MNIST: same signature, same layout
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            raw = tmp_path / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            src = D.data_root() / "MNIST" / "raw"
            for name in D.MD5:
                shutil.copy(src / name, raw / name)

    tv = types.ModuleType("torchvision")
    tv.datasets = types.SimpleNamespace(MNIST=FakeMNIST)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tv.datasets)
    got = D.load_mnist(tmp_path, train_size=100, test_size=100)
    assert calls and all(c[2] for c in calls)
    assert np.bincount(got.y_train.numpy()).tolist() == [10] * 10


def test_importing_sparsel_never_imports_torchvision():
    code = ("import sys, sparsel, sparsel.data, sparsel.cli, sparsel.train, sparsel.sweep, sparsel.summary;"
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _idx(kind, items, side=28, magic=None):
    """The bytes of an IDX file: labels [n] or images [n, side, side] of unsigned bytes."""
    items = np.asarray(items, dtype=np.uint8)
    magic = magic if magic is not None else {"labels": 0x801, "images": 0x803}[kind]  # the IDX format's
    dims = items.shape
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + items.tobytes()


def test_idx_reader_reads_synthetic_files_plain_and_gzipped(tmp_path):
    import gzip
    labels = np.arange(20) % 10
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28))
    (tmp_path / "a-labels-idx1-ubyte").write_bytes(_idx("labels", labels))
    (tmp_path / "a-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx("images", images)))
    assert D.read_idx(tmp_path / "a-labels-idx1-ubyte").tolist() == labels.tolist()
    got = D.read_idx(tmp_path / "a-images-idx3-ubyte.gz", count=3)
    assert got.shape == (3, 28, 28) and (got == images).all()


@pytest.mark.parametrize("name,content,fault", [
    ("x-labels-idx1-ubyte", _idx("labels", [1, 2, 10]), "labels outside 0-9"),
    ("x-labels-idx1-ubyte", _idx("labels", [1, 2, 3], magic=0x803), "magic number 0x00000803"),
    ("x-labels-idx1-ubyte", _idx("labels", [1, 2, 3])[:-1], "truncated"),
    ("x-labels-idx1-ubyte", _idx("labels", [1, 2, 3]) + b"\0", "too long"),
    ("x-labels-idx1-ubyte", b"\0\0\x08", "shorter than the 8-byte IDX header"),
    ("x-images-idx3-ubyte", _idx("images", np.zeros((2, 28, 28)))[:-5], "truncated"),
    ("x-images-idx3-ubyte", _idx("images", np.zeros((2, 27, 27))), "27x27 pixels"),
    ("x-images-idx3-ubyte", _idx("labels", [1, 2]), "magic number 0x00000801"),
    ("x-images-idx3-ubyte.gz", b"not gzip at all", "not a readable gzip file"),
])
def test_idx_faults_name_the_file_the_fault_and_the_fix(tmp_path, name, content, fault):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(D.DataCorrupt) as err:
        D.read_idx(path)
    msg = str(err.value)
    assert str(path) in msg and fault in msg
    assert "delete it" in msg and "SPARSEL_DATA" in msg


def _extracted_copy(tmp_path):
    """The four MNIST files, extracted (no .gz), in tmp_path/MNIST/raw."""
    import gzip
    src, raw = D.data_root() / "MNIST" / "raw", tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in D.MD5:
        (raw / name[:-3]).write_bytes(gzip.decompress((src / name).read_bytes()))
    return raw


def test_extracted_files_are_checked(tmp_path):
    raw = _extracted_copy(tmp_path)
    assert D.load_mnist(tmp_path, train_size=100, test_size=100).y_test.shape == (100,)  # intact: loads
    D._CACHE.clear()
    labels = raw / "train-labels-idx1-ubyte"
    good = labels.read_bytes()
    labels.write_bytes(good[:8] + bytes([(good[8] + 1) % 10]) + good[9:])  # one label off, still in 0-9
    with pytest.raises(D.DataCorrupt, match="md5 mismatch") as err:
        D.load_mnist(tmp_path, download_missing=False)
    assert str(labels) in str(err.value)
    labels.write_bytes(good[:8] + b"\x0b" + good[9:])  # label 11
    with pytest.raises(D.DataCorrupt, match="labels outside 0-9"):
        D.load_mnist(tmp_path, download_missing=False)
    labels.write_bytes(good)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-784])  # one image short: was a bare reshape error
    with pytest.raises(D.DataCorrupt, match="truncated") as err:
        D.load_mnist(tmp_path, download_missing=False)
    assert str(images) in str(err.value) and "delete it" in str(err.value)


def test_md5_of_extracted_files_is_that_of_the_archives_contents():
    import gzip
    import hashlib
    raw = D.data_root() / "MNIST" / "raw"
    for name in D.MD5:
        assert hashlib.md5(gzip.decompress((raw / name).read_bytes())).hexdigest() == D.MD5_EXTRACTED[name[:-3]]
