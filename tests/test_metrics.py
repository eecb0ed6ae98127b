"""Metrics against hand-worked cases (Eqs 4.1, 4.2, 5.1, 5.2)."""
import math

import numpy as np
import pytest
import torch

from sparsel.metrics import (FIELDS, STREAM_FIELDS, StreamingSummary, ccmas_selectivity, combine_layers,
                             hoyer_sparsity, layer_records, layer_summary)


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
    for k in STREAM_FIELDS:  # per-sample metrics and CCMAS stream; the sort-based ones cannot
        assert got[k] == pytest.approx(want[k], rel=1e-9)
    assert all(math.isnan(got[k]) for k in set(FIELDS) - set(STREAM_FIELDS))


# ======================================================================================
# Issue 10: every respected metric. Hand-worked values, Hurley & Rickard's criteria, the
# width artefact of Hoyer, CCMAS against monotone-invariant selectivity, degenerate inputs.
# ======================================================================================
from sparsel import metrics as M  # noqa: E402


def d(x):
    return torch.tensor(x, dtype=torch.float64)


def gini1(v):
    return M.gini_index(d([v]))[0].item()


def hoyer1(v):
    return M.hoyer_sparsity(d([v]))[0].item()


def tr1(v):
    return M.treves_rolls(d([v]))[0].item()


C = [0.1, 0.5, 0.9, 0.3]   # the running example of the criteria tests
# Gini of C by hand: sorted 0.1, 0.3, 0.5, 0.9, ||C||_1 = 1.8, weights (N - k + 1/2) = 3.5, 2.5, 1.5, 0.5:
# sum c_(k) (N - k + 1/2) = 0.35 + 0.75 + 0.75 + 0.45 = 2.3 -> G = 1 - 2 * 2.3 / (1.8 * 4) = 13/36
GINI_C = 13 / 36
# Hoyer of C: L1 = 1.8, L2 = sqrt(0.01 + 0.25 + 0.81 + 0.09) = sqrt(1.16)
HOYER_C = (2 - 1.8 / math.sqrt(1.16)) / (2 - 1)
# Treves-Rolls of C: mean 0.45, mean square 1.16 / 4 = 0.29 -> 0.2025 / 0.29
TR_C = 0.2025 / 0.29


# --- hand cases, population sparsity --------------------------------------------------
def test_gini_hand_cases():
    # G = 1 - 2 * sum_k c_(k)/||c||_1 * (N - k + 1/2)/N, c sorted ascending, N = 4:
    # [0,0,0,1]: only k = 4 counts: 1 * 0.5/4 = 1/8 -> 1 - 1/4 = 0.75 = 1 - 1/N
    # [1,1,1,1]: (1/4)(3.5 + 2.5 + 1.5 + 0.5)/4 = 1/2 -> 0
    # [0,0,1,1]: (1/2)(1.5 + 0.5)/4 = 1/4 -> 0.5
    # [1,2,3,4]: (1*3.5 + 2*2.5 + 3*1.5 + 4*0.5)/(10 * 4) = 15/40 -> 0.25
    # [-1,0,0,0]: magnitudes, as [0,0,0,1] -> 0.75
    g = M.gini_index(d([[0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 1, 1], [1, 2, 3, 4], [-1, 0, 0, 0], [3, 0, 0, 0]]))
    assert g.tolist() == pytest.approx([0.75, 0.0, 0.5, 0.25, 0.75, 0.75], abs=1e-12)
    assert gini1(C) == pytest.approx(GINI_C, abs=1e-12)
    assert M.gini_index(t([[0, 0, 0, 1]])).dtype == torch.float32  # float32 stays float32
    assert gini1([0, 0, 0, 0, 0, 0, 0, 1]) == pytest.approx(1 - 1 / 8)  # the maximum is 1 - 1/N


def test_treves_rolls_hand_cases():
    # a = mean(r)^2 / mean(r^2):
    # [0,0,0,1]: (1/4)^2 / (1/4) = 1/4 = 1/N (sparsest);  [1,1,1,1]: 1 (densest)
    # [0,0,1,1]: (1/2)^2 / (1/2) = 1/2;  [1,2,3,4]: 2.5^2 / (30/4) = 6.25 / 7.5 = 5/6
    a = M.treves_rolls(d([[0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 1, 1], [1, 2, 3, 4]]))
    assert a.tolist() == pytest.approx([0.25, 1.0, 0.5, 5 / 6], abs=1e-12)
    assert tr1(C) == pytest.approx(TR_C, abs=1e-12)


@pytest.mark.parametrize("n", [2, 5, 64, 768])
def test_hoyer_is_a_function_of_treves_rolls_and_width(n):
    """H = (1 - sqrt(a)) / (1 - 1/sqrt(n)) for non-negative vectors: L1/L2 = sqrt(n a)."""
    g = torch.Generator().manual_seed(n)
    acts = torch.rand(50, n, generator=g, dtype=torch.float64) ** 3
    a = M.treves_rolls(acts)
    want = (1 - a.sqrt()) / (1 - 1 / math.sqrt(n))
    assert torch.allclose(M.hoyer_sparsity(acts), want, atol=1e-12)


def test_active_fraction_threshold_is_strict():
    acts = d([[0.5, 0.51, 0.2, 0.9], [0.0, 0.0, 0.0, 0.0]])
    assert M.active_fraction(acts).tolist() == [0.5, 0.0]       # 0.5 is not above 0.5: 0.51, 0.9
    assert M.active_fraction(acts, threshold=0.2).tolist() == [0.75, 0.0]   # 0.2 not above 0.2
    assert M.active_fraction(acts, threshold=-1.0).tolist() == [1.0, 1.0]
    assert M.ACTIVE_THRESHOLD == 0.5


# --- Hurley & Rickard's six criteria, directly on hand vectors --------------------------
def test_d1_robin_hood_lowers_gini_and_hoyer():
    # move 0.2 from the richest (0.9) to the poorest (0.1): C -> [0.3, 0.5, 0.7, 0.3]
    # Gini by hand: sorted 0.3, 0.3, 0.5, 0.7: 0.3*3.5 + 0.3*2.5 + 0.5*1.5 + 0.7*0.5 = 2.9
    #   -> 1 - 2 * 2.9 / 7.2 = 7/36 < 13/36
    # Hoyer: L1 unchanged 1.8, L2 = sqrt(0.09 + 0.25 + 0.49 + 0.09) = sqrt(0.92) < sqrt(1.16)
    # Treves-Rolls a rises (denser): 0.2025 / 0.23
    after = [0.3, 0.5, 0.7, 0.3]
    assert gini1(after) == pytest.approx(7 / 36, abs=1e-12) and 7 / 36 < GINI_C
    assert hoyer1(after) == pytest.approx(2 - 1.8 / math.sqrt(0.92), abs=1e-12)
    assert hoyer1(after) < HOYER_C
    assert tr1(after) == pytest.approx(0.2025 / 0.23, abs=1e-12)
    assert tr1(after) > TR_C


def test_d2_scaling_leaves_gini_hoyer_treves_rolls_but_not_active_fraction():
    for s in (1e-3, 0.5, 7.0, 1e4):
        sc = [s * v for v in C]
        assert gini1(sc) == pytest.approx(GINI_C, abs=1e-12)
        assert hoyer1(sc) == pytest.approx(HOYER_C, abs=1e-12)
        assert tr1(sc) == pytest.approx(TR_C, abs=1e-12)
    # the threshold does not scale: 1 of 4 above 0.5, then 3 of 4 (1.0, 1.8, 0.6)
    assert M.active_fraction(d([C, [2 * v for v in C]])).tolist() == [0.25, 0.75]


def test_d3_rising_tide_lowers_gini_and_hoyer():
    # [0,0,0,1] + 1 = [1,1,1,2]
    # Gini: 1*3.5 + 1*2.5 + 1*1.5 + 2*0.5 = 8.5, L1 = 5 -> 1 - 17/20 = 0.15 < 0.75
    # Hoyer: L1 = 5, L2 = sqrt(7) -> 2 - 5/sqrt(7) = 0.110 < 1
    # Treves-Rolls: 1.25^2 / (7/4) = 0.893 > 0.25
    assert gini1([1, 1, 1, 2]) == pytest.approx(0.15, abs=1e-12)
    assert hoyer1([1, 1, 1, 2]) == pytest.approx(2 - 5 / math.sqrt(7), abs=1e-12)
    assert tr1([1, 1, 1, 2]) == pytest.approx(1.5625 / 1.75, abs=1e-12)
    for tide in (0.01, 0.3, 5.0):
        up = [v + tide for v in C]
        assert gini1(up) < GINI_C and hoyer1(up) < HOYER_C and tr1(up) > TR_C


def test_d4_cloning_keeps_gini_and_treves_rolls_but_lowers_hoyer():
    cc = C + C
    assert gini1(cc) == pytest.approx(GINI_C, abs=1e-12)
    assert gini1(C * 3) == pytest.approx(GINI_C, abs=1e-12)
    assert tr1(cc) == pytest.approx(TR_C, abs=1e-12)     # means of r and r^2 are unchanged
    # Hoyer of C||C: N = 8, L1/L2 = sqrt(2) * 1.8 / sqrt(1.16) -> (sqrt8 - that) / (sqrt8 - 1) = 0.254
    r = 1.8 / math.sqrt(1.16)
    h2 = (math.sqrt(8) - math.sqrt(2) * r) / (math.sqrt(8) - 1)
    assert hoyer1(cc) == pytest.approx(h2, abs=1e-12)
    assert HOYER_C == pytest.approx(0.3287, abs=1e-4) and h2 == pytest.approx(0.2543, abs=1e-4)
    assert hoyer1(cc) < HOYER_C - 0.07                   # cloning: Hoyer fails D4
    assert M.active_fraction(d([C])).item() == M.active_fraction(d([cc])).item() == 0.25


def test_p1_bill_gates_drives_gini_and_hoyer_to_their_maximum():
    grown = [[x] + C[1:] for x in (1.0, 10.0, 100.0, 1e3, 1e6)]
    g = M.gini_index(d(grown))
    h = M.hoyer_sparsity(d(grown))
    a = M.treves_rolls(d(grown))
    assert (g.diff() > 0).all() and (h.diff() > 0).all() and (a.diff() < 0).all()
    assert g[-1].item() == pytest.approx(1 - 1 / 4, abs=1e-5)   # Gini's maximum, 1 - 1/N
    assert h[-1].item() == pytest.approx(1.0, abs=1e-5)         # Hoyer's maximum
    assert a[-1].item() == pytest.approx(1 / 4, abs=1e-5)       # Treves-Rolls' minimum, 1/N


def test_p2_babies_raise_gini_and_hoyer():
    # C||0: the new 0 sorts first and gets weight 4.5 * 0; the rest keep 3.5 .. 0.5, so the sum
    # stays 2.3 with N = 5: 1 - 2 * 2.3 / (1.8 * 5) = 22/45 > 13/36
    assert gini1(C + [0.0]) == pytest.approx(22 / 45, abs=1e-12)
    g = [gini1(C + [0.0] * z) for z in range(4)]
    h = [hoyer1(C + [0.0] * z) for z in range(4)]
    a = [tr1(C + [0.0] * z) for z in range(4)]
    assert g == sorted(g) and len(set(g)) == 4
    assert h == sorted(h) and len(set(h)) == 4
    assert a == sorted(a, reverse=True) and len(set(a)) == 4
    # an honest corner: a one-hot vector already has Hoyer's maximum 1, so babies cannot raise
    # it; Gini's maximum 1 - 1/N grows with N, so Gini still rises
    assert [hoyer1([1.0] + [0.0] * z) for z in (1, 3, 7)] == pytest.approx([1.0, 1.0, 1.0])
    assert [gini1([1.0] + [0.0] * z) for z in (1, 3, 7)] == pytest.approx([1 / 2, 3 / 4, 7 / 8])


def test_sparsity_criteria_reproduce_the_literature():
    """Hurley & Rickard: Gini meets all six criteria, Hoyer all but cloning. Treves-Rolls read as
    1 - a (lower a = sparser) meets all six on the probes (sqrt(a) = mean / root mean square, which
    cloning leaves alone); the active fraction only the two that a normalised count can meet."""
    names = list(M.CRITERIA)
    assert names == ["Robin Hood", "Scaling", "Rising Tide", "Cloning", "Bill Gates", "Babies"]
    assert M.sparsity_criteria(M.gini_index) == dict.fromkeys(names, True)
    assert M.sparsity_criteria(M.hoyer_sparsity) == {**dict.fromkeys(names, True), "Cloning": False}
    assert M.sparsity_criteria(M.treves_rolls, sparser="lower") == dict.fromkeys(names, True)
    assert M.sparsity_criteria(M.active_fraction, sparser="lower") == {
        **dict.fromkeys(names, False), "Cloning": True, "Babies": True}
    # read the wrong way round, Treves-Rolls fails everything but the two equalities
    assert M.sparsity_criteria(M.treves_rolls) == {
        **dict.fromkeys(names, False), "Scaling": True, "Cloning": True}


def test_sparsity_criteria_finds_counterexamples():
    # L2/L1 (Hurley & Rickard's l2/l1): zeros leave it unchanged (fails Babies); cloning divides it by sqrt 2
    l2_l1 = M.sparsity_criteria(lambda x: x.norm(dim=-1) / x.abs().sum(-1))
    assert l2_l1["Babies"] is False and l2_l1["Cloning"] is False
    assert l2_l1["Scaling"] and l2_l1["Robin Hood"] and l2_l1["Rising Tide"] and l2_l1["Bill Gates"]
    # minus the variance: not scale-invariant, and a tide leaves it unchanged
    var = M.sparsity_criteria(lambda x: -x.var(-1))
    assert var["Scaling"] is False and var["Rising Tide"] is False
    with pytest.raises(ValueError, match="sparser"):
        M.sparsity_criteria(M.gini_index, sparser="up")


# --- the width artefact -----------------------------------------------------------------
def test_width_artefact_exact_cloning():
    """A 64-unit pattern cloned to 128, 256, 768 units: the same activation distribution.
    Gini stays put; Hoyer falls with width."""
    # 8 of 64 units on (one-hot-like): Gini 1 - 8/64 at every width; Hoyer with k = 8m ones out of
    # N = 64m: L1/L2 = sqrt(8m) -> (sqrt(64m) - sqrt(8m)) / (sqrt(64m) - 1)
    base = [1.0] * 8 + [0.0] * 56
    for m in (1, 2, 4, 12):
        assert gini1(base * m) == pytest.approx(1 - 8 / 64, abs=1e-12)
        want = (math.sqrt(64 * m) - math.sqrt(8 * m)) / (math.sqrt(64 * m) - 1)
        assert hoyer1(base * m) == pytest.approx(want, abs=1e-12)
    assert hoyer1(base) == pytest.approx(0.7388, abs=1e-4)        # (8 - 2.828) / 7
    assert hoyer1(base * 12) == pytest.approx(0.6706, abs=1e-4)   # (27.713 - 9.798) / 26.713
    # a graded pattern
    g = torch.Generator().manual_seed(1)
    pat = (torch.rand(64, generator=g, dtype=torch.float64) ** 4).tolist()
    gin = [gini1(pat * m) for m in (1, 2, 4, 12)]
    hoy = [hoyer1(pat * m) for m in (1, 2, 4, 12)]
    assert max(gin) - min(gin) < 1e-12
    assert all(b < a for a, b in zip(hoy, hoy[1:]))
    assert hoy[0] - hoy[-1] > 0.04


def test_width_artefact_iid_draws():
    """i.i.d. draws from one Beta(0.5, 2): from 64 to 768 units Hoyer falls by about 0.03,
    Gini moves by less than 0.01 (its only width effect is the (N - 1)/N finite-sample bias)."""
    rng = np.random.default_rng(0)
    h, g = {}, {}
    for n in (64, 768):
        x = torch.from_numpy(rng.beta(0.5, 2.0, size=(2000, n)))
        h[n], g[n] = M.hoyer_sparsity(x).mean().item(), M.gini_index(x).mean().item()
    assert h[64] - h[768] > 0.025
    assert abs(g[64] - g[768]) < 0.01
    # the population a of Beta(0.5, 2): E[x]^2 / E[x^2] = 0.04 / (0.04 + 1/21.875) = 0.4667, and
    # Hoyer tracks (1 - sqrt a) / (1 - 1/sqrt n)
    a = 0.04 / (0.04 + 0.5 * 2 / (2.5 ** 2 * 3.5))
    for n in (64, 768):
        assert h[n] == pytest.approx((1 - math.sqrt(a)) / (1 - 1 / math.sqrt(n)), abs=0.01)


# --- CCMAS against informedness and AUROC -----------------------------------------------
LAB = torch.arange(10).repeat(20)


def test_offset_lowers_ccmas_of_a_perfectly_separating_unit():
    # class 3 at 0.6, the rest at 0.5: CCMAS (0.6 - 0.5) / (0.6 + 0.5) = 1/11 = 0.0909,
    # yet the unit separates class 3 perfectly: informedness 1, AUROC 1, localist margin 0.1
    unit = (0.5 + 0.1 * (LAB == 3).double())[:, None]
    assert M.ccmas_selectivity(unit, LAB, eps=0).item() == pytest.approx(1 / 11, abs=1e-12)
    assert M.ccmas_selectivity(unit, LAB).item() == pytest.approx(0.0909, abs=1e-4)
    assert M.max_informedness(unit, LAB).item() == 1.0
    assert M.auroc_preferred(unit, LAB).item() == 1.0
    assert M.localist_margin(unit, LAB).item() == pytest.approx(0.1, abs=1e-12)
    assert M.precision_at_k(unit, LAB, k=20).item() == 1.0
    # without the offset the same unit has CCMAS 1; with offset b: 0.1 / (0.1 + 2b)
    for b in (0.0, 0.05, 0.5, 2.0):
        assert M.ccmas_selectivity(unit - 0.5 + b, LAB, eps=0).item() == pytest.approx(0.1 / (0.1 + 2 * b))


@pytest.mark.parametrize("name,f", [("offset", lambda x: x + 0.7), ("scale", lambda x: 4.0 * x),
                                    ("sigmoid", torch.sigmoid), ("cube", lambda x: x ** 3),
                                    ("exp", torch.exp)])
def test_informedness_and_auroc_are_invariant_to_increasing_transforms(name, f):
    g = torch.Generator().manual_seed(3)
    acts = torch.rand(200, 12, generator=g, dtype=torch.float64)
    acts += 0.4 * (LAB[:, None] == torch.arange(12)[None, :] % 10).double()   # unit j prefers class j % 10
    for fn in (M.max_informedness, M.auroc_preferred, M.precision_at_k):
        assert torch.allclose(fn(f(acts), LAB), fn(acts, LAB), atol=1e-12), fn.__name__
    assert ((M.localist_margin(f(acts), LAB) > 0) == (M.localist_margin(acts, LAB) > 0)).all()
    ccmas = M.ccmas_selectivity(acts, LAB, eps=0)
    if name == "scale":   # CCMAS is scale-invariant ...
        assert torch.allclose(M.ccmas_selectivity(f(acts), LAB, eps=0), ccmas, atol=1e-12)
        assert torch.allclose(M.ccmas_selectivity(f(acts), LAB), ccmas, atol=1e-6)   # eps aside
    else:                 # ... but not invariant to an offset or a squashing
        assert not torch.allclose(M.ccmas_selectivity(f(acts), LAB, eps=0), ccmas, atol=1e-3)


# --- hand cases, lifetime sparsity and dead units -----------------------------------------
def test_lifetime_gini_hand_cases():
    # per unit over 4 samples, as gini_index per sample: [0,0,0,1] -> 0.75, [1,2,3,4] -> 0.25
    acts = d([[0, 1, 5], [0, 2, 5], [0, 3, 5], [1, 4, 5]])
    assert M.lifetime_gini(acts).tolist() == pytest.approx([0.75, 0.25, 0.0], abs=1e-12)
    assert math.isnan(M.lifetime_gini(torch.zeros(4, 1)).item())   # a unit that is 0 throughout


def test_lifetime_kurtosis_hand_cases():
    # [0,0,0,1]: mean 1/4, deviations -1/4 (x3), 3/4: m2 = (3/16 + 9/16)/4 = 3/16,
    #   m4 = (3/256 + 81/256)/4 = 21/256 -> m4/m2^2 = (21/256)/(9/256) = 7/3 -> excess 7/3 - 3 = -2/3
    #   (one sample in four is not sparse: Bernoulli(p) has excess (1 - 6pq)/(pq))
    # one 1 in ten samples: pq = 0.09 -> (1 - 0.54)/0.09 = 46/9 = 5.11 (sparse lifetime: large)
    # [1,2,3,4]: mean 2.5, m2 = (2*2.25 + 2*0.25)/4 = 1.25, m4 = (2*5.0625 + 2*0.0625)/4 = 2.5625
    #   -> 2.5625 / 1.5625 - 3 = -1.36
    k = M.lifetime_kurtosis(d([[0, 1], [0, 2], [0, 3], [1, 4]]))
    assert k.tolist() == pytest.approx([-2 / 3, -1.36], abs=1e-12)
    one_in_ten = torch.zeros(10, 1, dtype=torch.float64)
    one_in_ten[4] = 0.8
    assert M.lifetime_kurtosis(one_in_ten).item() == pytest.approx(46 / 9, abs=1e-12)


def test_constant_unit_kurtosis_is_nan_despite_rounding():
    # ten copies of 0.1 sum to 0.9999999999999999: the mean is off by a rounding step, which
    # once left m2 > 0 and gave a spurious kurtosis of -2
    for v in (0.1, 0.3, 0.7, 1 / 3):
        for dt in (torch.float32, torch.float64):
            assert math.isnan(M.lifetime_kurtosis(torch.full((10, 1), v, dtype=dt)).item()), (v, dt)
            assert math.isnan(M.lifetime_kurtosis(torch.full((1000, 1), v, dtype=dt)).item()), (v, dt)


def test_dead_units_tolerance():
    acts = d([[0.3, 0.0, 0.2, 0.9], [0.3, 5e-7, 0.2005, 0.1], [0.3, 0.0, 0.2, 0.5]])
    # ranges: 0, 5e-7, 5e-4, 0.8
    assert M.dead_units(acts).tolist() == [True, True, False, False]          # tol 1e-6
    assert M.dead_units(acts, tol=1e-3).tolist() == [True, True, True, False]
    assert M.dead_units(acts, tol=0).tolist() == [True, False, False, False]


# --- hand cases, selectivity per unit ------------------------------------------------------
def test_max_informedness_hand_cases():
    two = torch.tensor([0, 0, 1, 1])
    # column 0: [0.1, 0.2 | 0.3, 0.4]: "a >= 0.3" catches all of class 1, none of class 0 -> 1
    # column 1: [1, 2, 3, 4] with labels [0, 1, 0, 1] below: best J = 1/2
    assert M.max_informedness(d([[0.1], [0.2], [0.3], [0.4]]), two, num_classes=2).item() == 1.0
    alt = torch.tensor([0, 1, 0, 1])
    # class 1 at t = 2: hit 2/2, false alarms {3} -> 1/2 -> J = 1/2; at t = 4: 1/2 - 0 = 1/2
    # class 0 at t = 1: 1 - 1 = 0; at t = 3: 1/2 - 1/2 = 0
    assert M.max_informedness(d([[1], [2], [3], [4]]), alt, num_classes=2).item() == pytest.approx(0.5)
    # a tie across classes: [1, 2 | 2, 3]: at t = 2 class 1 hits 2/2 but the tied class-0 image
    # is a false alarm (1/2) -> 1/2; at t = 3: 1/2 - 0 -> 1/2. Without the tie it would be 1.
    assert M.max_informedness(d([[1], [2], [2], [3]]), two, num_classes=2).item() == pytest.approx(0.5)
    assert M.max_informedness(d([[1], [2], [2.5], [3]]), two, num_classes=2).item() == 1.0
    # a tie inside the class: [1 | 1, 2, 2], labels [0, 1, 1, 1]: class 1 (P = 3, Q = 1)
    # t = 1: 1 - 1 = 0; t = 2: 2/3 - 0 -> 2/3
    assert M.max_informedness(d([[1], [1], [2], [2]]), torch.tensor([0, 1, 1, 1]),
                              num_classes=2).item() == pytest.approx(2 / 3)
    # informedness counts only "activation >= t": a unit that is low for one class and high for
    # the rest is informative about the rest together, never about the low class as such:
    # [0 | 1, 1], three classes: class 1 (P=1, Q=2) at t=1: 1 - 1/2 = 1/2; class 0 at t=0: 1 - 1 = 0
    assert M.max_informedness(d([[0], [1], [1]]), torch.tensor([0, 1, 2]),
                              num_classes=3).item() == pytest.approx(0.5)


def test_auroc_preferred_hand_cases_ties_count_half():
    two = torch.tensor([0, 0, 1, 1])
    # [1, 2 | 2, 3]: preferred class 1 (mean 2.5 > 1.5). Pairs (class 1, class 0):
    # (2,1) win, (2,2) tie = 1/2, (3,1) win, (3,2) win -> 3.5 / 4 = 0.875
    assert M.auroc_preferred(d([[1], [2], [2], [3]]), two, num_classes=2).item() == pytest.approx(0.875)
    # the preferred class is the one with the largest mean, even where it is the lower one
    # in rank: [0, 10 | 2, 3]: class 0 mean 5 > 2.5 -> pairs (0,2) loss, (0,3) loss, (10,2), (10,3) wins -> 0.5
    assert M.auroc_preferred(d([[0], [10], [2], [3]]), two, num_classes=2).item() == pytest.approx(0.5)
    # three classes, preferred class 2 = [5, 4] against [1, 4, 3, 0]: 4 + (3 + 1/2) = 7.5 of 8
    acts = d([[1], [4], [3], [0], [5], [4]])
    assert M.auroc_preferred(acts, torch.tensor([0, 0, 1, 1, 2, 2]),
                             num_classes=3).item() == pytest.approx(7.5 / 8)


def test_precision_at_k_hand_cases():
    acts = d([[0.9], [0.8], [0.7], [0.6], [0.1]])
    labels = torch.tensor([3, 3, 5, 3, 5])
    # top 1: [3] -> 1; top 3: [3, 3, 5] -> 2/3; top 4: [3, 3, 5, 3] -> 3/4
    assert M.precision_at_k(acts, labels, k=1).item() == 1.0
    assert M.precision_at_k(acts, labels, k=3).item() == pytest.approx(2 / 3)
    assert M.precision_at_k(acts, labels, k=4).item() == pytest.approx(3 / 4)
    # k is capped at the 5 samples: [3, 3, 5, 3, 5] -> 3/5 (and the default k = 100 too)
    assert M.precision_at_k(acts, labels, k=10).item() == pytest.approx(3 / 5)
    assert M.precision_at_k(acts, labels).item() == pytest.approx(3 / 5)


def test_localist_margin_hand_cases():
    labels = torch.tensor([2, 2, 0, 1, 1])
    # column 0 (localist for class 2): class 2 = [0.8, 0.9], others up to 0.5 -> 0.8 - 0.5 = 0.3
    # column 1: class 2 = [0.4, 0.9] overlaps 0.5; class 0: 0.1 - 0.9; class 1: 0.3 - 0.9
    #   -> best is class 2: 0.4 - 0.5 = -0.1 (not localist)
    acts = d([[0.8, 0.4], [0.9, 0.9], [0.1, 0.1], [0.3, 0.3], [0.5, 0.5]])
    assert M.localist_margin(acts, labels).tolist() == pytest.approx([0.3, -0.1], abs=1e-12)


# --- degenerate inputs ---------------------------------------------------------------------
def test_silent_sample_is_nan_for_every_population_measure():
    acts = d([[0, 0, 0, 0], [0, 0, 1, 1]])
    for fn in (M.hoyer_sparsity, M.gini_index, M.treves_rolls):
        out = fn(acts)
        assert math.isnan(out[0].item()) and not math.isnan(out[1].item()), fn.__name__
    assert M.active_fraction(acts).tolist() == [0.0, 0.5]   # a count, defined for silence


def test_constant_unit():
    labels = torch.arange(20) % 10
    acts = torch.full((20, 2), 0.4, dtype=torch.float64)
    acts[:, 1] = torch.linspace(0, 1, 20, dtype=torch.float64)
    assert math.isnan(M.lifetime_kurtosis(acts)[0].item())
    assert M.max_informedness(acts, labels)[0].item() == 0.0
    assert M.auroc_preferred(acts, labels)[0].item() == 0.5
    assert M.dead_units(acts).tolist() == [True, False]
    assert M.lifetime_gini(acts)[0].item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("fn", [M.max_informedness, M.auroc_preferred, M.precision_at_k,
                                M.localist_margin, M.ccmas_selectivity, M.layer_summary])
def test_one_class_only_is_an_error(fn):
    with pytest.raises(ValueError, match="at least two classes"):
        fn(torch.rand(6, 3), torch.full((6,), 4))


def test_one_class_in_extra_idx_is_an_error():
    labels = torch.arange(20) % 10
    with pytest.raises(ValueError, match="at least two classes"):
        M.layer_metrics(torch.rand(20, 3), labels, extra_idx=torch.tensor([0, 10]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_activation_gives_all_nan_summary(bad):
    acts = torch.rand(30, 5, dtype=torch.float64)
    acts[7, 2] = bad
    s = M.layer_summary(acts, torch.arange(30) % 10)
    assert set(s) == set(M.FIELDS) and all(math.isnan(v) for v in s.values())


PER_SAMPLE = [M.hoyer_sparsity, M.gini_index, M.treves_rolls, M.active_fraction,
              M.lifetime_gini, M.lifetime_kurtosis, M.dead_units]
PER_UNIT = [M.max_informedness, M.auroc_preferred, M.precision_at_k, M.localist_margin,
            M.ccmas_selectivity, M.layer_summary]


@pytest.mark.parametrize("bad", [torch.zeros(5), torch.zeros(2, 3, 4), torch.zeros(0, 4), torch.zeros(4, 0),
                                 [[1.0, 2.0]]])
@pytest.mark.parametrize("fn", PER_SAMPLE + PER_UNIT)
def test_wrong_shapes_are_rejected_naming_activations(fn, bad):
    with pytest.raises(ValueError, match="activations"):
        if fn in PER_UNIT:
            fn(bad, torch.zeros(len(bad) if isinstance(bad, list) else bad.shape[0], dtype=torch.long))
        else:
            fn(bad)


@pytest.mark.parametrize("bad", [torch.zeros(5), torch.zeros(0, 4), torch.zeros(2, 3, 0)])
def test_layer_metrics_rejects_wrong_shapes(bad):
    with pytest.raises(ValueError, match="activations"):
        M.layer_metrics(bad, torch.zeros(bad.shape[-2] if bad.dim() > 1 else 5, dtype=torch.long))


# --- layer summaries ----------------------------------------------------------------------
def _acts(runs, samples, units, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(runs, samples, units, generator=g, dtype=torch.float64) ** 2
    x[..., 0] = 0.25                                       # a dead unit in every run
    return x


def test_layer_summary_fields_are_the_metric_functions():
    acts = _acts(1, 120, 9)[0]
    labels = torch.arange(120) % 10
    s = M.layer_summary(acts, labels)
    assert list(s) == list(M.FIELDS)
    per_sample = {"sparsity": M.hoyer_sparsity, "gini": M.gini_index, "treves_rolls": M.treves_rolls,
                  "active_fraction": M.active_fraction}
    for k, fn in per_sample.items():
        x = fn(acts).numpy()
        assert s[k] == pytest.approx(np.nanmean(x)), k
        assert s[f"{k}_std"] == pytest.approx(np.nanstd(x, ddof=1)), k
    per_unit = {"lifetime_gini": M.lifetime_gini, "lifetime_kurtosis": M.lifetime_kurtosis,
                "informedness": lambda a: M.max_informedness(a, labels),
                "auroc": lambda a: M.auroc_preferred(a, labels),
                "precision100": lambda a: M.precision_at_k(a, labels),
                "localist_margin": lambda a: M.localist_margin(a, labels)}
    for k, fn in per_unit.items():
        x = fn(acts).numpy()
        assert s[k] == pytest.approx(np.nanmean(x), rel=1e-6), k      # the dead unit's NaN kurtosis skipped
        assert s[f"{k}_std"] == pytest.approx(np.nanstd(x, ddof=0), rel=1e-6, abs=1e-9), k
    assert s["dead_fraction"] == pytest.approx(1 / 9)
    assert s["localist_fraction"] == pytest.approx((M.localist_margin(acts, labels) > 0).double().mean().item())


def test_layer_metrics_on_a_stack_equals_each_run_alone():
    acts = _acts(3, 150, 7, seed=4)
    acts[1, 5, 3] = float("inf")                          # one diverged run
    labels = torch.arange(150) % 10
    stacked = M.layer_metrics(acts, labels)
    assert set(stacked) == set(M.FIELDS)
    for r in range(3):
        alone = M.layer_summary(acts[r], labels)
        for k in M.FIELDS:
            assert stacked[k].shape == (3,)
            got = stacked[k][r].item()
            if r == 1:
                assert math.isnan(got) and math.isnan(alone[k]), k
            else:
                assert got == pytest.approx(alone[k], rel=1e-9, abs=1e-12, nan_ok=True), (r, k)


def test_extra_idx_restricts_only_the_other_metrics():
    acts = _acts(2, 200, 6, seed=5)
    labels = torch.arange(200) % 10
    idx = torch.arange(0, 200, 3)                         # 67 samples, every class
    got = M.layer_metrics(acts, labels, extra_idx=idx)
    for r in range(2):
        full = M.layer_summary(acts[r], labels)
        sub = M.layer_summary(acts[r][idx], labels[idx])
        for k in M.FIELDS:
            dissertation = k in ("sparsity", "sparsity_std", "selectivity_avg", "selectivity_std")
            want = full[k] if dissertation else sub[k]
            assert got[k][r].item() == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True), k
        assert full["sparsity"] != pytest.approx(sub["sparsity"], rel=1e-6)    # the subset differs
        assert full["gini"] != pytest.approx(sub["gini"], rel=1e-6)
    assert M.layer_summary(acts[0], labels, extra_idx=idx) == pytest.approx(
        {k: v[0].item() for k, v in got.items()}, nan_ok=True)


def _tied_acts(shape, seed):
    """float32 activations with many ties, exact zeros, negatives and a -0.0."""
    g = torch.Generator().manual_seed(seed)
    a = (torch.randn(shape, generator=g) * 4).round() / 4
    a[..., 0, 0] = -0.0
    return a.float()


def test_ranked_numpy_path_equals_the_generic_sort_path():
    # the CPU's key sort against torch's argsort: same sorted values and tie runs, and the same
    # labels within each run of ties (in whatever order)
    a = _tied_acts((2, 300, 9), seed=5)
    labels = torch.randint(0, 9, (300,), generator=torch.Generator().manual_seed(6))  # class 9 absent
    x = a.transpose(-1, -2).contiguous()
    v1, lab1, f1, l1 = M._ranked_numpy(x, labels)
    v2, lab2, f2, l2 = M._ranked_torch(x, labels)
    assert torch.equal(v1, v2) and torch.equal(f1, f2) and torch.equal(l1, l2)
    assert f1.dtype == f2.dtype == torch.int32 and lab1.dtype == lab2.dtype == torch.int8
    tie_lab = lambda f, lab: (f.long() * 16 + lab.long()).sort(-1).values  # noqa: E731
    assert torch.equal(tie_lab(f1, lab1), tie_lab(f2, lab2))
    counts = torch.bincount(labels, minlength=10)
    assert torch.equal(M._informedness(lab1, f1, counts), M._informedness(lab2, f2, counts))


def test_max_informedness_equals_brute_force_over_every_threshold():
    a = _tied_acts((200, 6), seed=8)
    labels = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(9))
    x, y = a.double().numpy(), labels.numpy()
    want = []
    for u in range(x.shape[1]):
        best = 0.0
        for c in np.unique(y):
            for t in np.unique(x[:, u]):
                on = x[:, u] >= t
                best = max(best, on[y == c].mean() - on[y != c].mean())
        want.append(best)
    for acts in (a, a.double()):  # the CPU's float32 path and the generic one
        assert M.max_informedness(acts, labels).numpy() == pytest.approx(want, abs=1e-6)


def test_a_nan_with_its_sign_bit_set_sorts_last_on_every_path():
    # x86 makes NaN with the sign bit set (inf - inf); its bits alone would sort it first
    neg_nan = torch.tensor([-1], dtype=torch.int32).bitwise_and(torch.tensor(-4194304, dtype=torch.int32)) \
        .view(torch.float32)  # 0xffc00000
    assert torch.isnan(neg_nan).all() and neg_nan.view(torch.int32).item() < 0
    unit = torch.tensor([[1.0], [0.0], [0.0], [2.0]])
    unit[1, 0] = neg_nan[0]
    labels = torch.tensor([0, 1, 0, 1])
    for fn in (M.max_informedness, M.auroc_preferred):
        assert fn(unit, labels, num_classes=2).item() == fn(unit.double(), labels, num_classes=2).item(), fn
