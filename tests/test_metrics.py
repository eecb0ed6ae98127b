"""Metrics against hand-worked cases (Eqs 4.1, 4.2, 5.1, 5.2)."""
import math

import numpy as np
import pytest
import torch

from sparsel.metrics import (StreamingSummary, ccmas_selectivity, combine_layers, hoyer_sparsity,
                             layer_records, layer_summary)


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def test_hoyer_extremes_and_hand_cases():
    s = hoyer_sparsity(t([[0, 0, 5, 0], [1, 1, 1, 1], [1, 1, 0, 0], [3, 4, 0, 0]]))
    assert s[0].item() == pytest.approx(1.0)          # one active unit
    assert s[1].item() == pytest.approx(0.0, abs=1e-7)  # all equal
    assert s[2].item() == pytest.approx(2 - math.sqrt(2), rel=1e-6)  # (2 - 2/sqrt2) / (2 - 1)
    assert s[3].item() == pytest.approx((2 - 7 / 5) / 1, rel=1e-6)  # L1 = 7, L2 = 5


def test_hoyer_is_scale_invariant_and_per_sample():
    a = torch.rand(7, 13)
    assert torch.allclose(hoyer_sparsity(a), hoyer_sparsity(3.7 * a), atol=1e-6)
    assert hoyer_sparsity(a).shape == (7,)


def test_hoyer_degenerate_cases_are_nan_not_zero():
    s = hoyer_sparsity(t([[0, 0, 0], [1, 0, 0]]))
    assert math.isnan(s[0].item()) and s[1].item() == pytest.approx(1.0)
    assert torch.isnan(hoyer_sparsity(t([[0.3], [0.5]]))).all()  # one unit: undefined


@pytest.mark.parametrize("bad", [torch.zeros(5), torch.zeros(2, 3, 4), torch.zeros(0, 4), [[1.0, 2.0]]])
def test_hoyer_rejects_wrong_shapes(bad):
    with pytest.raises(ValueError, match="activations"):
        hoyer_sparsity(bad)


def test_ccmas_hand_case():
    # unit 0 class means: [2, 0, 1] -> u_max 2, u_-max 0.5 -> 1.5 / 2.5 = 0.6; unit 1 constant -> 0
    acts = t([[1, .5], [3, .5], [0, .5], [1, .5]])
    labels = torch.tensor([0, 0, 1, 2])
    sel = ccmas_selectivity(acts, labels, eps=0.0, num_classes=3)
    assert sel.tolist() == pytest.approx([0.6, 0.0])


def test_ccmas_one_hot_unit_and_eps():
    labels = torch.arange(10).repeat(3)
    acts = (labels == 3).float()[:, None]
    assert ccmas_selectivity(acts, labels).item() == pytest.approx(1 / (1 + 1e-7))
    assert ccmas_selectivity(acts, labels, eps=0).item() == 1.0


def test_ccmas_dead_unit():
    labels = torch.arange(10)
    acts = torch.zeros(10, 2)
    acts[:, 1] = torch.arange(10.0)
    sel = ccmas_selectivity(acts, labels)
    assert sel[0].item() == 0.0                                     # 0 / (0 + eps)
    assert math.isnan(ccmas_selectivity(acts, labels, eps=0)[0].item())  # 0 / 0, as the original
    assert sel[1].item() == pytest.approx((9 - 4) / (9 + 4), rel=1e-5)   # u_-max = mean(0..8) = 4


def test_ccmas_absent_class_is_left_out_of_u_minus_max():
    labels = torch.tensor([0, 1, 2, 2])
    acts = t([[4.0], [2.0], [0.0], [0.0]])
    # classes 3-9 absent: u_max = 4, u_-max = mean(2, 0) = 1 -> 3 / 5
    assert ccmas_selectivity(acts, labels, eps=0).item() == pytest.approx(0.6)


def test_ccmas_errors():
    acts = torch.rand(4, 3)
    with pytest.raises(ValueError, match="two classes"):
        ccmas_selectivity(acts, torch.tensor([1, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        ccmas_selectivity(acts, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="one label per row"):
        ccmas_selectivity(acts, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="integer"):
        ccmas_selectivity(acts, torch.tensor([0.0, 1, 2, 3]))


def test_layer_summary_uses_the_dissertations_std_conventions():
    g = torch.Generator().manual_seed(0)
    acts = torch.rand(200, 16, generator=g, dtype=torch.float64)
    labels = torch.arange(200) % 10
    s = layer_summary(acts, labels)
    hoyer = hoyer_sparsity(acts).numpy()
    sel = ccmas_selectivity(acts, labels).numpy()
    assert s["sparsity"] == pytest.approx(hoyer.mean())
    assert s["sparsity_std"] == pytest.approx(np.std(hoyer, ddof=1))
    assert s["selectivity_avg"] == pytest.approx(sel.mean())
    assert s["selectivity_std"] == pytest.approx(np.std(sel, ddof=0))


def test_non_finite_activations_give_nan_summary():
    acts = torch.rand(20, 4)
    acts[3, 1] = float("nan")
    s = layer_summary(acts, torch.arange(20) % 10)
    assert all(math.isnan(v) for v in s.values())


def test_combine_layers_plain_and_weighted():
    a = dict(sparsity=0.2, sparsity_std=0.1, selectivity_avg=0.4, selectivity_std=0.3)
    b = dict(sparsity=0.6, sparsity_std=0.3, selectivity_avg=0.8, selectivity_std=0.1)
    assert combine_layers([a, b])["sparsity"] == pytest.approx(0.4)                # Eq. 5.1
    assert combine_layers([a, b], [1.0, 3.0])["sparsity"] == pytest.approx(0.5)    # 0.25*.2 + .75*.6
    assert combine_layers([a, b], [1.0, 3.0])["selectivity_avg"] == pytest.approx(0.7)


def test_layer_records_keys_and_weights():
    labels = torch.arange(50) % 10
    acts = [torch.rand(50, 8), 2 * torch.rand(50, 4)]
    rec = layer_records(acts, labels)
    assert list(rec) == ["1", "2", "mean", "weighted"]
    w1 = acts[0].sum().item() / (acts[0].sum().item() + acts[1].sum().item())
    want = w1 * rec["1"]["sparsity"] + (1 - w1) * rec["2"]["sparsity"]
    assert rec["weighted"]["sparsity"] == pytest.approx(want, rel=1e-5)


def test_streaming_summary_equals_batch_summary():
    acts = torch.rand(120, 9)
    labels = torch.arange(120) % 10
    st = StreamingSummary(9, "cpu")
    for i in range(0, 120, 7):
        st.update(acts[i:i + 7], labels[i:i + 7])
    want = layer_summary(acts.double(), labels)
    got = st.result()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9)
