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
    (dict(optimizer="rmsprp"), "optimizer"), (dict(batch_size=70000), "batch_size"),
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
    # single, pair, 5nums and shuffled; Fig 5.15's A and B; the even-drain sampler (issue 16)
    assert per_seed("class_diversity") == 4 * 4 + 4 * 2 + 4 * 3
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
        # the one stated exception: batch 2,000 is larger than smoke's 1,000 images
        gone = {f"{o} bs=2000" for o in E.OPTIMIZERS} if name == "wider_grids" else set()
        assert full - gone == smoke and gone <= full, name


def test_narrowing():
    cs = E.cells("batch_size", "full", optimizer="sgd", batch_size=[1, 50])
    assert {(c.spec.optimizer, c.spec.batch_size) for c in cs} == {("sgd", 1), ("sgd", 50)}
    assert E.parse_only(["optimizer=sgd,adam", "batch_size=1"]) == {"optimizer": ["sgd", "adam"], "batch_size": [1]}
    with pytest.raises(ValueError, match="cannot filter on 'colour'"):
        E.cells("baseline", "smoke", colour="red")
    with pytest.raises(ValueError, match="unknown experiment"):
        E.cells("depth", "smoke")


@pytest.mark.parametrize("only,named", [
    (["optimzer=sgd"], ["'optimzer'", "optimizer", "batch_size", "condition"]),  # typo in the field
    (["optimizer=sdg"], ["sdg", "adadelta, adagrad, adam, sgd"]),                 # typo in the value
    (["lr=0.00014"], ["0.00014", "1e-05, 3.73e-05, 0.000139"]),                  # no such rate
    (["hidden=256x255"], ["256x255", "256, 256x256, 256x256x256"]),
    (["batch_size=1001"], ["1001", "1, 5, 10, 50, 200, 500, 1000"]),              # ints are exact
])
def test_only_that_matches_nothing_names_the_value_and_what_exists(only, named):
    name = {"lr": "hyperparameters", "hidden": "hidden_layers", "batch_size": "batch_size"}.get(
        only[0].split("=")[0], "width")
    with pytest.raises(ValueError) as err:
        E.cells(name, "full", seeds=(1,), **E.parse_only(only))
    for text in named:
        assert text in str(err.value)


def test_only_accepts_what_labels_print_spaces_and_layer_specs():
    lr = E.cells("hyperparameters", "full", seeds=(1,), **E.parse_only(["lr = 0.000139 ", " optimizer=sgd"]))
    assert [c.condition for c in lr] == ["sgd lr=0.000139"]
    for printed in ("0.0268", "268", "3.73e-05"):  # every rate as its condition label prints it
        assert len(E.cells("hyperparameters", "full", seeds=(1,), **E.parse_only([f"lr={printed}"]))) == 4
    wd = E.cells("hyperparameters", "full", seeds=(1,), **E.parse_only(["weight_decay=0.158"]))
    assert {c.condition for c in wd} == {f"{o} weight_decay=0.158" for o in ("sgd", "adagrad", "adadelta", "adam")}
    assert E.parse_only(["hidden=256x256"]) == {"hidden": [(256, 256)]}
    two = E.cells("hidden_layers", "full", seeds=(1,), **E.parse_only(["hidden=256x256", "optimizer=adam"]))
    assert [c.spec.hidden for c in two] == [(256, 256)]
    widths = E.cells("width", "full", seeds=(1,), **E.parse_only(["hidden=64,128", "optimizer=sgd"]))
    assert sorted({c.spec.hidden for c in widths}) == [(64,), (128,)] and len(widths) == 4
    with pytest.raises(ValueError, match="momentum=1 matches no run"):  # 1 is not 0.999
        E.cells("hyperparameters", "full", seeds=(1,), momentum=1)


def test_only_from_python_keeps_lists_as_alternatives():
    assert {c.spec.optimizer for c in E.cells("baseline", "smoke", optimizer=["sgd", "adam"])} == {"sgd", "adam"}
    assert {c.spec.hidden for c in E.cells("width", "full", seeds=(1,), hidden=[64, 768])} == {(64,), (768,)}
    assert {c.spec.hidden for c in E.cells("hidden_layers", "full", seeds=(1,), hidden=(256, 256))} == {(256, 256)}
    assert len(E.cells("all", "full", seeds=(1,), batch_size=1)) > 0  # 'all': a value of any experiment


@pytest.mark.parametrize("items,fault", [
    (["optimizer=sgd,"], "empty value"), (["optimizer"], "FIELD=VALUE"), (["=sgd"], "FIELD=VALUE"),
    (["optimizer=sgd", "optimizer=adam"], "given twice"), (["hidden=64xabc"], "not a layer spec"),
])
def test_parse_only_rejects_malformed_filters(items, fault):
    with pytest.raises(ValueError, match=fault):
        E.parse_only(items)


@pytest.mark.parametrize("seeds,fault", [((), "at least one"), ((1, 1), "1 is given twice"),
                                         ((1, -5), "-5 is negative"), ((1.5,), "not an integer")])
def test_bad_seeds_are_named(seeds, fault):
    with pytest.raises(ValueError, match=fault):
        E.cells("baseline", "smoke", seeds=seeds)
