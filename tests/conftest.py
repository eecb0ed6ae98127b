"""Shared fixtures. MNIST comes from $SPARSEL_DATA, else ../shared/data beside the repo, else
the default data root (~/.cache/sparsel/data, where a user's first download puts it)."""
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if not os.environ.get("SPARSEL_DATA"):
    # Named explicitly either way: subprocesses, ray workers and tests that move $HOME must
    # all read the MNIST this session reads.
    shared = REPO.parent / "shared" / "data"
    os.environ["SPARSEL_DATA"] = str(shared if (shared / "MNIST").exists()
                                     else Path.home() / ".cache" / "sparsel" / "data")

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist():
    from sparsel.data import load_mnist
    return load_mnist()


@pytest.fixture(scope="session")
def small():
    """A stratified 1,000/500 subset: what smoke-scale runs train on."""
    from sparsel.data import load_mnist
    return load_mnist(train_size=1000, test_size=500)


@pytest.fixture
def tiny_spec():
    from sparsel.spec import RunSpec
    return RunSpec(optimizer="sgd", epochs=2, train_size=1000, test_size=500, batch_size=50)
