"""Run specs (validation, stable keys) and the registry's grids against the dissertation's tables."""
import numpy as np
import pytest

from sparsel import experiments as E
from sparsel.spec import RunSpec, SpecError


def test_key_is_stable_and_ignores_how_defaults_were_written():
    assert RunSpec(optimizer="adam").key == RunSpec(optimizer="adam", lr=1e-3, beta1=0.9).key
    assert RunSpec(optimizer="adam").key != RunSpec(optimizer="adam", seed=2).key
    assert RunSpec.from_dict(RunSpec(hidden=(64, 64)).to_dict()) == RunSpec(hidden=(64, 64))


@pytest.mark.parametrize("fields,field", [
    (dict(optimizer="rmsprop"), "optimizer"), (dict(batch_size=70000), "batch_size"),
    (dict(hidden=(0,)), "hidden"), (dict(order="classes", order_k=3), "order_k"),
    (dict(optimizer="adam", momentum=0.9), "momentum"), (dict(order="random"), "order"),
    (dict(train_size=1005), "train_size"), (dict(epochs=0), "epochs"), (dict(lr=-1.0), "lr"),
    (dict(order="consecutive", order_k=5), "batch_size"),
])
def test_bad_specs_are_rejected_naming_the_field(fields, field):
    with pytest.raises(SpecError, match=f"^{field}:"):
        RunSpec(**fields)


def test_unknown_field_is_named():
    with pytest.raises(SpecError, match="widht"):
        RunSpec.from_dict({"widht": 3})


def per_seed(name, **only):
    return len(E.cells(name, "full", seeds=(1,), **only))


def test_grid_sizes_match_the_dissertation():
    assert per_seed("baseline") == 4
    assert per_seed("hidden_layers") == 5 * 4
    assert per_seed("hyperparameters", param="lr") == 15 * 4
    assert per_seed("hyperparameters", param="weight_decay") == 11 * 4
    for p in ("momentum", "rho", "beta1", "beta2"):
        assert per_seed("hyperparameters", param=p) == 11
    assert per_seed("batch_size") == 7 * 4
    assert per_seed("width") == 7 * 2 * 4
    assert per_seed("consecutive") == 4 * 4
    assert per_seed("class_diversity") == 4 * 4 + 4
    assert per_seed("cnn") == 2 * 4
    assert per_seed("sorted") == 2 * 4
    assert per_seed("combined") == 8
    assert len(E.cells("baseline", "full")) == 12  # seeds 1, 100, 1234


def test_full_scale_settings():
    lrs = sorted({c.spec.lr for c in E.cells("hyperparameters", "full", seeds=(1,), param="lr")})
    assert np.allclose(lrs, np.logspace(-5, 3, 15))
    assert {c.spec.epochs for c in E.cells("hidden_layers", "full")} == {50}
    assert {c.spec.epochs for c in E.cells("sorted", "full")} == {100}
    assert {c.spec.epochs for c in E.cells("cnn", "full")} == {5}
    assert {c.spec.seed for c in E.cells("width", "full")} == {1, 100, 1234}
    assert all(c.spec.train_size is None for c in E.cells("all", "full"))
    b2 = E.cells("hyperparameters", "full", seeds=(1,), param="beta2")
    assert {c.spec.beta1 for c in b2} == {0.9} and min(c.spec.beta2 for c in b2) == 0.0001


def test_smoke_has_the_same_grid_shape():
    for name in E.EXPERIMENTS:
        full = {c.condition for c in E.cells(name, "full", seeds=(1,))}
        smoke = {c.condition for c in E.cells(name, "smoke")}
        assert full == smoke, name


def test_narrowing():
    cs = E.cells("batch_size", "full", optimizer="sgd", batch_size=[1, 50])
    assert {(c.spec.optimizer, c.spec.batch_size) for c in cs} == {("sgd", 1), ("sgd", 50)}
    assert E.parse_only(["optimizer=sgd,adam", "batch_size=1"]) == {"optimizer": ["sgd", "adam"], "batch_size": [1]}
    with pytest.raises(ValueError, match="cannot filter on 'colour'"):
        E.cells("baseline", "smoke", colour="red")
    with pytest.raises(ValueError, match="unknown experiment"):
        E.cells("depth", "smoke")
