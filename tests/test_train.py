"""One run end to end: records, determinism, divergence."""
import math

import pytest

from sparsel.train import train_run


def test_records_every_epoch_split_and_layer(tiny_spec, small):
    r = train_run(tiny_spec.replace(hidden=(32, 16), optimizer="adam", lr=0.01), small, "cpu")
    keys = {(x["epoch"], x["split"], x["layer"]) for x in r.rows}
    for e in range(3):
        for layer in ("1", "2", "mean", "weighted"):
            assert (e, "test", layer) in keys and (e, "train", layer) in keys
            assert ((e, "train_during", layer) in keys) == (e > 0)
    first = [x for x in r.rows if x["epoch"] == 0 and x["split"] == "test"][0]
    last = [x for x in r.rows if x["epoch"] == 2 and x["split"] == "test"][0]
    assert 0.05 < first["accuracy"] < 0.2        # untrained: chance
    assert last["accuracy"] > 0.4 and last["loss"] < first["loss"]  # well above chance
    assert not r.diverged


def test_same_spec_same_numbers_different_seed_different(tiny_spec, small):
    a = train_run(tiny_spec, small, "cpu").rows
    b = train_run(tiny_spec, small, "cpu").rows
    c = train_run(tiny_spec.replace(seed=2), small, "cpu").rows
    same = lambda x, y: all(  # noqa: E731  (NaN == NaN here: an unmeasured value)
        u.keys() == v.keys() and all(u[k] == v[k] or (u[k] != u[k] and v[k] != v[k]) for k in u) for u, v in zip(x, y))
    assert len(a) == len(b) and same(a, b)
    assert not same(a, c)


def test_diverged_run_is_recorded_as_nan_not_zero(small, tiny_spec):
    from sparsel.data import MNIST
    # One NaN pixel makes the loss NaN on the first batch that holds it, as overflow would.
    x = small.x_train.clone()
    x[17, 300] = float("nan")
    poisoned = MNIST(x, small.y_train, small.x_test, small.y_test)
    r = train_run(tiny_spec.replace(epochs=3), poisoned, "cpu")
    assert r.diverged and r.diverged_epoch is not None
    after = [x for x in r.rows if x["epoch"] >= r.diverged_epoch and x["split"] == "test"]
    assert after and all(math.isnan(x["sparsity"]) and math.isnan(x["loss"]) for x in after)
    # the epoch where it diverges is NaN too (argmax of NaN logits would score ~10 %)
    assert all(math.isnan(x["accuracy"]) for x in r.rows if x["epoch"] >= r.diverged_epoch)
    assert all(math.isfinite(x["accuracy"]) for x in r.rows if x["epoch"] < r.diverged_epoch and x["split"] == "test")
    assert max(x["epoch"] for x in r.rows) == 3  # finished, not crashed


@pytest.mark.parametrize("opt", ["adagrad", "adadelta", "adam"])
def test_every_optimizer_learns(opt, tiny_spec, small):
    r = train_run(tiny_spec.replace(optimizer=opt), small, "cpu", record_during=False)
    last = [x for x in r.rows if x["epoch"] == 2 and x["split"] == "test" and x["layer"] == "mean"][0]
    assert last["accuracy"] > 0.6


def test_cnn_runs(small):
    from sparsel.spec import RunSpec
    r = train_run(RunSpec(model="cnn", epochs=1, train_size=200, test_size=100), None, "cpu")
    assert {x["layer"] for x in r.rows} == {"1", "mean", "weighted"}


def test_describe_counts_the_parameters_by_hand():
    from sparsel.models import describe
    from sparsel.spec import RunSpec
    mlp = describe(RunSpec())
    assert [r["parameters"] for r in mlp] == [0, 784 * 256 + 256, 256 * 10 + 10, 784 * 256 + 256 + 2570]
    cnn = describe(RunSpec(model="cnn"))
    conv1, conv2 = 32 * 9 + 32, 64 * 32 * 9 + 64
    fc, out = 64 * 7 * 7 * 256 + 256, 2570
    assert cnn[-1]["parameters"] == conv1 + conv2 + fc + out
    assert [r["output"] for r in cnn][:4] == ["1 x 28 x 28", "32 x 28 x 28", "32 x 28 x 28", "32 x 14 x 14"]


def test_unit_profile_gives_the_selectivity_the_run_recorded(tiny_spec, small):
    """The profile's class means, taken through CCMAS, give the mean selectivity the run
    recorded for its last epoch (computed there from the activations by another path), and
    each profile row weighted by its class count sums to the units' total activation."""
    import torch
    from sparsel.metrics import ccmas_from_class_means
    from sparsel.train import evaluate, unit_profile
    spec = tiny_spec.replace(hidden=(32, 16), optimizer="adam", lr=0.01)
    prof = unit_profile(spec, small, "cpu")
    assert [tuple(m.shape) for m in prof["means"]] == [(10, 32), (10, 16)]
    assert prof["counts"].tolist() == torch.bincount(small.y_test, minlength=10).tolist()
    run = train_run(spec, small, "cpu", record_during=False, keep_model=True)
    last = {x["layer"]: x for x in run.rows if x["epoch"] == spec.epochs and x["split"] == "test"}
    _, _, acts = evaluate(run.model, small.x_test, small.y_test)
    for i, m in enumerate(prof["means"]):
        sel = ccmas_from_class_means(m, prof["counts"], spec.ccmas_eps)
        assert float(sel.mean()) == pytest.approx(last[str(i + 1)]["selectivity_avg"], abs=1e-6)
        total = (m * prof["counts"][:, None].to(m.dtype)).sum(0)
        assert torch.allclose(total, acts[i].sum(0).to(total.dtype), rtol=1e-5)
    with pytest.raises(ValueError, match="forgetting run"):
        unit_profile(spec.replace(protocol="forget", split_seed=0, epochs_b=1, head="shared", carry_state=True),
                     small, "cpu")
