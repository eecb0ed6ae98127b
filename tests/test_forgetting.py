"""The forgetting protocol (section 6.3.2): the task split, the masked head, the measures."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from sparsel import forgetting as FG
from sparsel.spec import RunSpec, SpecError


@pytest.mark.parametrize("split_seed", [1, 2, 3, 17])
def test_split_is_five_disjoint_digits_and_their_complement(split_seed):
    s, t = FG.split_digits(split_seed)
    assert len(s) == len(t) == 5 and set(s) | set(t) == set(range(10)) and not set(s) & set(t)
    assert FG.split_digits(split_seed) == (s, t)  # the same split every time
    assert len({FG.split_digits(k)[0] for k in range(1, 11)}) > 3  # and different splits for different seeds


@pytest.mark.parametrize("order", ["shuffled", "sorted"])
def test_a_task_epoch_uses_every_image_of_its_digits_once(order):
    labels = np.random.default_rng(0).integers(0, 10, size=997)
    spec = RunSpec(protocol="forget", split_seed=1, epochs_b=1, head="masked", carry_state=True, order=order,
                   train_size=1000, test_size=500)
    digits = FG.split_digits(1)[0]
    idx = FG.task_order(spec, labels, digits, np.random.default_rng(1))
    assert sorted(idx) == sorted(np.flatnonzero(np.isin(labels, digits)))
    if order == "sorted":
        assert (np.diff(labels[idx]) >= 0).all()


def test_masked_head_is_a_softmax_over_the_tasks_own_classes():
    torch.manual_seed(0)
    logits, digits = torch.randn(6, 10), (1, 4, 5, 7, 9)
    y = torch.tensor([1, 4, 9, 9, 5, 7])
    masked = FG.masked_logits(logits, digits)
    sub = logits[:, list(digits)]
    local = torch.tensor([digits.index(int(v)) for v in y])
    assert F.cross_entropy(masked, y).item() == pytest.approx(F.cross_entropy(sub, local).item(), rel=1e-6)
    assert set(masked.argmax(1).tolist()) <= set(digits)
    # the shared head can pick a digit of the other task; the masked one never does
    logits[:, 0] = 100.0
    assert (logits.argmax(1) == 0).all() and 0 not in FG.masked_logits(logits, digits).argmax(1).tolist()


def _history(acc_a, acc_b, phases, sparsity=0.3, key="r1"):
    rows = []
    for e, (a, b, ph) in enumerate(zip(acc_a, acc_b, phases)):
        for split, acc in (("test_A", a), ("test_B", b)):
            rows.append(dict(run_key=key, condition="c", optimizer="sgd", seed=1, epoch=e, split=split, layer="mean",
                             accuracy=acc, phase=ph, updates=10 * e, overlap=0.5, sparsity=sparsity + e / 100,
                             gini=0.4, selectivity_avg=0.2, informedness=0.1))
    return pd.DataFrame(rows)


def test_measures_on_a_hand_made_history():
    # epochs 0-2 are phase A (S learnt to 0.9), 3-4 phase B (S falls to 0.3, T rises to 0.8)
    df = _history([0.2, 0.8, 0.9, 0.5, 0.3], [0.1, 0.2, 0.2, 0.6, 0.8], [1, 1, 1, 2, 2])
    m = FG.measures(df).iloc[0]
    assert m.acc_A_end_A == 0.9 and m.retention == 0.3 and m.forgetting == pytest.approx(0.6)
    assert m.learned_B == 0.8 and m.updates_A == 20 and m.updates_B == 20
    assert m.sparsity_A == pytest.approx(0.32)  # the network when A ended (epoch 2), not at the end
    # no forgetting: the best is the final accuracy
    assert FG.measures(_history([0.2, 0.9, 0.95], [0.1, 0.1, 0.7], [1, 1, 2])).iloc[0].forgetting == 0


def test_regression_recovers_a_known_slope_and_gives_the_verdict():
    rng = np.random.default_rng(0)
    x, z = rng.uniform(0, 1, 200), rng.uniform(0, 1, 200)
    m = pd.DataFrame({"forgetting": 0.5 - 0.4 * x + 0.2 * z + rng.normal(0, 0.02, 200), "sparsity_A": x, "acc": z})
    fit = FG.regress(m, "forgetting", ["sparsity_A", "acc"])
    assert fit.at["sparsity_A", "coef"] == pytest.approx(-0.4, abs=0.02)
    assert fit.at["acc", "coef"] == pytest.approx(0.2, abs=0.02)
    # the SE of a slope: residual sd / (sd(x) sqrt(n)), about 0.02 / (0.29 * 14)
    assert fit.at["sparsity_A", "se"] == pytest.approx(0.02 / (x.std() * math.sqrt(200)), rel=0.2)
    assert FG.verdict(fit, "sparsity_A") == "holds"
    m["forgetting"] = 0.5 + 0.4 * x + rng.normal(0, 0.02, 200)
    assert FG.verdict(FG.regress(m, "forgetting", ["sparsity_A"]), "sparsity_A") == "does not hold"
    m["forgetting"] = rng.normal(0, 0.02, 200)
    assert FG.verdict(FG.regress(m, "forgetting", ["sparsity_A"]), "sparsity_A") in ("inconclusive", "holds",
                                                                                  "does not hold")
    assert FG.verdict(FG.regress(m.iloc[:2], "forgetting", ["sparsity_A", "acc"]), "sparsity_A") == "not run"


def test_protocol_fields_are_checked_and_stay_out_of_other_keys():
    assert "protocol" not in RunSpec().to_dict() and "split_seed" not in RunSpec().to_dict()
    with pytest.raises(SpecError, match="split_seed: belongs to the forgetting protocol"):
        RunSpec(split_seed=1)
    with pytest.raises(SpecError, match="needs split_seed"):
        RunSpec(protocol="forget", epochs_b=1, head="masked", carry_state=True)
    with pytest.raises(SpecError, match="protocol: unknown"):
        RunSpec(protocol="remember")


def test_relearning_savings_compare_phase_c_with_phase_a_at_equal_updates():
    df = _history([0.2, 0.8, 0.9, 0.5, 0.3, 0.7], [0.1, 0.2, 0.2, 0.6, 0.8, 0.5], [1, 1, 1, 2, 2, 3])
    df.loc[df.epoch == 0, "probe_A_10"] = 0.4
    df.loc[df.epoch == 0, "probe_C_10"] = 0.75
    m = FG.measures(df).iloc[0]
    assert m.savings_10 == pytest.approx(0.35) and math.isnan(m.savings_30)  # 30 updates never reached
    # retention and forgetting are read when phase B ends, not after the relearning
    assert m.retention == 0.3 and m.forgetting == pytest.approx(0.6) and m.learned_B == 0.8


def test_a_run_counts_its_phases_and_stops_b_after_steps_b(small):
    from sparsel.train import train_run
    spec = RunSpec(optimizer="adam", protocol="forget", split_seed=2, epochs=3, epochs_b=2, head="masked",
                   carry_state=False, steps_b=3, criterion=0.05, epochs_c=1, train_size=1000, test_size=500,
                   hidden=(32,))
    res = train_run(spec, small, "cpu")
    df = pd.DataFrame(res.rows)
    a = df[(df.split == "test_A") & (df.layer == "mean")].sort_values("epoch")
    # A stopped after one epoch (criterion 5%), B after 3 updates, then one epoch of C
    assert a.phase.tolist() == [1, 1, 2, 3]
    s_images = int(np.isin(small.y_train.numpy(), FG.split_digits(2)[0]).sum())
    per_epoch = math.ceil(s_images / 50)
    assert a.updates.tolist() == [0, per_epoch, per_epoch + 3, 2 * per_epoch + 3]
    zero = a[a.epoch == 0].iloc[0]
    assert 0 <= zero.probe_A_10 <= 1 and 0 <= zero.probe_C_10 <= 1 and "probe_A_30" not in a  # 10 updates/epoch
    assert not math.isnan(FG.measures(df.assign(run_key="r", condition="c", optimizer="adam", seed=1)).iloc[0].savings_10)
    assert a.accuracy.between(0, 1).all() and df.overlap.between(-1, 1).all()
    assert not res.diverged
