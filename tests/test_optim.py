"""The registered update rules step for step against torch.optim (or hand-computed steps where
torch.optim has no such optimizer), their per-run broadcasting, and the run keys they leave alone."""
import dataclasses
import hashlib
import inspect
import json

import pytest
import torch

from sparsel import optim as O
from sparsel.spec import RunSpec, SpecError

CASES = [
    ("sgd", dict(lr=0.1)), ("sgd", dict(lr=0.05, momentum=0.9)), ("sgd", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1)), ("adagrad", dict(lr=0.01, weight_decay=0.001)),
    ("adadelta", dict(lr=1.0)), ("adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.01)),
    ("adam", dict(lr=1e-3)), ("adam", dict(lr=1e-2, beta1=0.5, beta2=0.9, weight_decay=0.01)),
]
NEW_CASES = [
    ("rmsprop", dict()), ("rmsprop", dict(lr=1e-3, alpha=0.5, eps=1e-6, weight_decay=0.01)),
    ("nesterov", dict()), ("nesterov", dict(lr=0.05, momentum=0.5, weight_decay=0.01)),
    ("adamw", dict()), ("adamw", dict(lr=1e-2, beta1=0.5, beta2=0.9, weight_decay=0.1)),
    ("adamax", dict()), ("adamax", dict(lr=1e-2, beta1=0.5, beta2=0.9, weight_decay=0.01)),
    ("nadam", dict()), ("nadam", dict(lr=1e-2, beta1=0.5, beta2=0.9, weight_decay=0.01, momentum_decay=0.05)),
]
TORCHLESS = [name for name in O.ALL_OPTIMIZERS if O.REGISTRY[name].reference is None]


@pytest.fixture
def float64_scalars():
    """torch.optim keeps scalar state (NAdam's mu_product) in the default dtype: float64 here,
    so that its arithmetic is comparable with ours to float64 rounding."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _grads(n=6, shape=(5, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(n)]


def _theta0(shape=(5, 4)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("name,hp", CASES + NEW_CASES)
def test_reference_rule_matches_torch_optim(name, hp, float64_scalars):
    theta0 = _theta0()
    p = torch.nn.Parameter(theta0.clone())
    opt = O.make_optimizer(name, [p], **hp)
    assert not isinstance(opt, O.RuleOptimizer)  # torch.optim's own
    theta, state = theta0.clone(), {}
    full = O.hyperparameters(name, **hp)
    for g in _grads():
        p.grad = g.clone()
        opt.step()
        theta = O.REGISTRY[name].step(theta, g, state, **full, **O.REGISTRY[name].fixed)
        torch.testing.assert_close(theta, p.detach(), rtol=1e-12, atol=1e-14)


def test_reference_steps_are_the_four_registered_rules():
    assert tuple(O.REFERENCE_STEPS) == O.OPTIMIZERS
    assert all(O.REFERENCE_STEPS[n] is O.REGISTRY[n].step for n in O.OPTIMIZERS)


@pytest.mark.parametrize("name", [n for n in O.ALL_OPTIMIZERS if n not in TORCHLESS])
def test_rule_optimizer_matches_torch_optim(name, float64_scalars):
    """The torch.optim wrapper the reference loop uses where torch has no optimizer, checked on
    the optimizers torch does have (non-default settings where they are allowed)."""
    hp = dict(CASES[2::2] + NEW_CASES[1::2])[name]
    a, b = torch.nn.Parameter(_theta0()), torch.nn.Parameter(_theta0())
    ours, ref = O.RuleOptimizer([a], name, **hp), O.make_optimizer(name, [b], **hp)
    for g in _grads():
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-12, atol=1e-14)


def _by_hand(name, hp, grads, theta):
    """Section 6.3.1's optimizers and their p-family, written straight from the formulas."""
    lr, eps, k, p = hp["lr"], hp["eps"], hp["k"], hp.get("p", 2.0)
    if name.startswith("adagrad"):  # Eq. 6.1 (p = 2) and its p-family
        G = torch.zeros_like(theta)
        for g in grads:
            G = G + g ** 2
            theta = theta - lr * k * G ** p / (G.sqrt() + eps) * g
        return theta
    rho, eg2, edx2 = hp["rho"], torch.zeros_like(theta), torch.zeros_like(theta)  # Eq. 6.2 and its p-family
    for g in grads:
        eg2 = rho * eg2 + (1 - rho) * g ** 2
        delta = torch.sqrt(edx2 + eps) / torch.sqrt(eg2 + eps) * g  # Adadelta's delta, Eq. 4.22
        theta = theta - lr * k * eg2 ** p * delta
        edx2 = rho * edx2 + (1 - rho) * delta ** 2
    return theta


@pytest.mark.parametrize("name,hp", [
    ("adagrad_mod", dict()), ("adagrad_mod", dict(lr=0.5, k=3.0)),
    ("adadelta_mod", dict()), ("adadelta_mod", dict(rho=0.5, k=100.0)),
    ("adagrad_p", dict(p=0.5)), ("adagrad_p", dict(p=1.5, k=0.25, lr=0.01)),
    ("adadelta_p", dict(p=1.0, k=2.0)), ("adadelta_p", dict(p=-0.25, rho=0.8)),
])
def test_torchless_optimizers_match_hand_computed_steps(name, hp):
    assert name in TORCHLESS
    p = torch.nn.Parameter(_theta0())
    opt = O.make_optimizer(name, [p], **hp)
    assert isinstance(opt, O.RuleOptimizer)
    grads = _grads()
    for g in grads:
        p.grad = g.clone()
        opt.step()
    want = _by_hand(name, O.hyperparameters(name, **hp), grads, _theta0())
    torch.testing.assert_close(p.detach(), want, rtol=1e-12, atol=1e-14)
    assert not torch.equal(p.detach(), _theta0())


@pytest.mark.parametrize("family,base", [("adagrad_p", "adagrad"), ("adadelta_p", "adadelta")])
def test_families_at_p0_k1_are_adagrad_and_adadelta_exactly(family, base):
    """Bit for bit, with p and k as plain numbers (the rule skips the factor) and as per-run
    tensors (it computes k G^0 = 1)."""
    hp = dict(O.BASELINE[base], lr=0.3)
    for dtype in (torch.float64, torch.float32):
        a, b, c = (_theta0((2, 5, 4)).to(dtype) for _ in range(3))
        sa, sb, sc = {}, {}, {}
        ones = torch.ones(2, 1, 1, dtype=torch.float64)
        for g in _grads(shape=(2, 5, 4)):
            g = g.to(dtype)
            O.REGISTRY[base].step(a, g, sa, **hp)
            O.REGISTRY[family].step(b, g, sb, **hp, p=0.0, k=1.0)
            O.REGISTRY[family].step(c, g, sc, **hp, p=0 * ones, k=ones)
        assert torch.equal(a, b) and torch.equal(a, c), (family, dtype)
    assert O.BASELINE[family] == dict(O.BASELINE[base], k=1.0, p=0.0)


@pytest.mark.parametrize("mod,family", [("adagrad_mod", "adagrad_p"), ("adadelta_mod", "adadelta_p")])
def test_equations_6_1_and_6_2_are_the_families_at_p2(mod, family):
    a, b = torch.nn.Parameter(_theta0()), torch.nn.Parameter(_theta0())
    oa, ob = O.make_optimizer(mod, [a], k=5.0), O.make_optimizer(family, [b], k=5.0, p=2.0)
    for g in _grads():
        a.grad, b.grad = g.clone(), g.clone()
        oa.step()
        ob.step()
    assert torch.equal(a, b)


def _stats(opt, g, seed=0, n=4):
    """What an optimizer with ``needs`` (vSGD) takes besides the gradient ``g``, made consistent
    with it: a batch of ``n`` samples' squared gradients has mean at least g^2."""
    if not opt.needs:
        return {}
    gen = torch.Generator().manual_seed(seed)
    spread = torch.rand(g.shape, generator=gen, dtype=torch.float64).to(g.dtype)
    h = 0.5 + torch.rand(g.shape, generator=gen).to(g.dtype)
    made = dict(grad_sq=g * g * (1 + 3 * spread), curvature=h, fd_curvature=h, fd_curvature_sq=h * h * (1 + spread))
    return {k: made[k] for k in opt.needs} | dict(batch_size=n, model_size=500)


def _variants(name):
    """Three hyper-parameter sets of ``name``: the defaults and two with every value moved."""
    base = O.BASELINE[name]
    moved = lambda f: {k: (v * f if v else 1e-3 * f) for k, v in base.items()}  # noqa: E731
    out = [dict(base), moved(0.5), moved(0.8)]
    for hp in out:  # keep them legal: decays below 1
        for k in ("momentum", "rho", "beta1", "beta2", "alpha"):
            if k in hp:
                hp[k] = min(hp[k], 0.95)
    return out


@pytest.mark.parametrize("name", O.ALL_OPTIMIZERS)
def test_a_rule_on_stacked_runs_equals_each_run_alone(name):
    """What the engine does: parameters [R, ...], per-run hyper-parameters as float64 tensors
    [R, 1, ...], the step count a 0-d tensor; each run's slice is the rule applied to it alone."""
    opt = O.REGISTRY[name]
    runs = _variants(name)
    R = len(runs)
    stacked = _theta0((R, 5, 4)).float()
    hp = {k: torch.tensor([r[k] for r in runs], dtype=torch.float64).view(R, 1, 1) for k in opt.defaults}
    st = {n: torch.zeros_like(stacked) for n in opt.state}
    st.update({n: torch.full((R, 1, 1), v, dtype=torch.float64) for n, v in opt.run_state.items()})
    alone = [(stacked[r].clone(), {}) for r in range(R)]
    t = torch.zeros((), dtype=torch.float64)
    view = stacked[:]  # the engine hands the rule views of the stack: they must write through
    for i, g in enumerate(_grads(n=14, shape=(R, 5, 4))):  # 14: past the authors' vSGD's 10 batches of warm-up
        g = g.float()
        t += 1
        extra = _stats(opt, g, seed=i)
        opt.step(view, g, st, t, **hp, **opt.fixed, **extra, **({"run_dims": 1} if opt.needs else {}))
        for r, (theta, s) in enumerate(alone):
            opt.step(theta, g[r], s, **runs[r], **opt.fixed, **{k: v[r] if torch.is_tensor(v) else v
                                                                 for k, v in extra.items()})
    for r, (theta, _) in enumerate(alone):
        torch.testing.assert_close(stacked[r], theta, rtol=1e-6, atol=1e-7)
    assert not torch.equal(stacked, _theta0((R, 5, 4)).float())


@pytest.mark.parametrize("name", O.ALL_OPTIMIZERS)
def test_rules_never_read_a_tensor_on_the_host(name):
    """On the 'meta' device a tensor has no values: .item(), bool() or a Python branch on one
    raises. The engine's CUDA-graph capture needs exactly that of every rule."""
    opt = O.REGISTRY[name]
    R, meta = 3, torch.device("meta")
    theta = torch.empty(R, 5, 4, device=meta)
    st = {n: torch.empty_like(theta) for n in opt.state}
    st.update({n: torch.empty(R, 1, 1, dtype=torch.float64, device=meta) for n in opt.run_state})
    t = torch.empty((), dtype=torch.float64, device=meta)
    per_run = {k: torch.empty(R, 1, 1, dtype=torch.float64, device=meta) for k in opt.defaults}
    stats = {k: torch.empty_like(theta) for k in opt.needs} | (dict(batch_size=50, model_size=500, run_dims=1)
                                                               if opt.needs else {})
    for hp in (per_run, O.BASELINE[name]):  # per-run tensors, then numbers shared by all runs
        if opt.probe:
            assert opt.probe(torch.empty_like(theta), st, t, **hp, **opt.fixed).shape == theta.shape
        opt.step(theta, torch.empty_like(theta), st, t, **hp, **opt.fixed, **stats)


def test_text_forms_agree_where_the_text_says_they_do():
    theta = torch.randn(5, 4, dtype=torch.float64)
    a, b, sa, sb = theta.clone(), theta.clone(), {}, {}
    for g in _grads():
        a = O.sgd_step(a, g, sa, lr=0.1, momentum=0.9)       # Eq. 4.15 (PyTorch)
        b = O.sgd_step_text(b, g, sb, lr=0.1, momentum=0.9)  # Eq. 4.14
    torch.testing.assert_close(a, b)


def test_adagrad_text_form_differs_from_pytorch_form():
    # Eq. 4.17 puts eps inside the root; PyTorch outside. Tiny accumulators show the gap.
    theta = torch.zeros(3, dtype=torch.float64)
    g = torch.tensor([1e-6, 1e-3, 1.0], dtype=torch.float64)
    ours = O.adagrad_step(theta.clone(), g, {}, lr=0.1, eps=1e-10)  # the rules update in place
    text = O.adagrad_step(theta.clone(), g, {}, lr=0.1, eps=1e-10, eps_inside_sqrt=True)
    assert ours[2] == pytest.approx(text[2])
    assert abs(ours[0] - text[0]) > 1e-3 * abs(ours[0])


def test_unknown_optimizer_and_hyperparameter_are_named():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        O.hyperparameters("lion")
    with pytest.raises(ValueError, match="no hyper-parameter 'momentum'"):
        O.hyperparameters("adam", momentum=0.9)
    with pytest.raises(ValueError, match="^momentum: Nesterov"):
        O.hyperparameters("nesterov", momentum=0.0)
    with pytest.raises(SpecError, match="^momentum: Nesterov"):
        RunSpec(optimizer="nesterov", momentum=0.0)
    with pytest.raises(SpecError, match="^p: optimizer 'adagrad_mod' has no such"):  # Eq. 6.1 fixes p = 2
        RunSpec(optimizer="adagrad_mod", p=1.0)


def test_baseline_matches_table_5_1():
    assert O.BASELINE["sgd"]["lr"] == 0.1 and O.BASELINE["sgd"]["momentum"] == 0
    assert O.BASELINE["adagrad"]["lr"] == 0.1
    assert O.BASELINE["adadelta"]["lr"] == 1.0 and O.BASELINE["adadelta"]["rho"] == 0.9
    assert O.BASELINE["adam"]["lr"] == 1e-3 and (O.BASELINE["adam"]["beta1"], O.BASELINE["adam"]["beta2"]) == (0.9, 0.999)
    # torch.optim's own defaults for what Table 5.1 leaves out
    assert O.make_optimizer("adadelta", [torch.nn.Parameter(torch.zeros(1))]).defaults["eps"] == 1e-6
    assert O.make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))]).defaults["eps"] == 1e-8


@pytest.mark.parametrize("name,cls", [("rmsprop", torch.optim.RMSprop), ("adamw", torch.optim.AdamW),
                                      ("adamax", torch.optim.Adamax), ("nadam", torch.optim.NAdam)])
def test_new_optimizers_default_to_torch_optims_defaults(name, cls):
    sig = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items()}
    if "betas" in sig:
        sig["beta1"], sig["beta2"] = sig["betas"]
    assert O.BASELINE[name] == {k: sig[k] for k in O.BASELINE[name]}


def test_every_hyperparameter_is_a_spec_field_and_the_optimizer_names_are_kept():
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    assert O.OPTIMIZERS == ("sgd", "adagrad", "adadelta", "adam") == O.ALL_OPTIMIZERS[:4]
    for name, opt in O.REGISTRY.items():
        assert set(opt.defaults) <= fields, name
        assert set(opt.fixed).isdisjoint(opt.defaults), name
        spec = RunSpec(optimizer=name)
        assert spec.hp == O.BASELINE[name] and RunSpec.from_dict(spec.to_dict()) == spec


OLD_FIELDS = ("optimizer", "lr", "momentum", "rho", "beta1", "beta2", "eps", "weight_decay", "model", "hidden",
              "activation", "batch_size", "order", "order_k", "epochs", "seed", "train_size", "test_size", "ccmas_eps")


def _old_key(spec):
    """A run key as computed before the new optimizers: sha256 of the JSON of the old fields
    (plus ``order_version`` for an order whose sampler changed, as to_dict() adds it)."""
    d = {f: getattr(spec, f) for f in OLD_FIELDS}
    d["hidden"] = list(spec.hidden)
    if spec.order == "classes":
        d["order_version"] = 2
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@pytest.mark.parametrize("spec", [
    RunSpec(), RunSpec(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4, seed=100),
    RunSpec(optimizer="adagrad", lr=0.01, eps=1e-8, weight_decay=1e-3, batch_size=200),
    RunSpec(optimizer="adadelta", rho=0.5, lr=0.3, hidden=(256, 256), epochs=50),
    RunSpec(optimizer="adam", beta1=0.5, beta2=0.9, eps=1e-7, lr=3e-3, order="classes", order_k=2),
    RunSpec(optimizer="sgd", batch_size=1, order="consecutive", order_k=5, train_size=1000, test_size=500),
], ids=lambda s: s.optimizer)
def test_keys_of_the_four_original_optimizers_are_unchanged(spec):
    assert spec.key == _old_key(spec)
    assert not {"alpha", "k", "p", "momentum_decay"} & set(spec.to_dict())


def test_new_hyperparameters_are_in_the_keys_of_the_optimizers_that_read_them():
    a, b = RunSpec(optimizer="adagrad_p", p=1.0), RunSpec(optimizer="adagrad_p", p=2.0)
    assert a.to_dict()["p"] == 1.0 and a.to_dict()["k"] == 1.0 and a.key != b.key
    assert RunSpec(optimizer="rmsprop").to_dict()["alpha"] == 0.99
    assert RunSpec.from_dict(b.to_dict()) == b and RunSpec.from_dict(RunSpec(optimizer="nadam").to_dict()).momentum_decay == 4e-3
    # a new optimizer at its defaults is still its own run, apart from the optimizer it generalises
    assert RunSpec(optimizer="adagrad_p").key != RunSpec(optimizer="adagrad").key
    assert RunSpec(optimizer="adagrad_p", p=2.0).replace(optimizer="adam").hp == O.BASELINE["adam"]


def test_adagrad_p_rate_matches_the_rule_on_a_constant_gradient():
    """The family's effective rate (what the modified-optimizers chapter plots) is the step the
    registered rule takes divided by the gradient, at every step."""
    from sparsel.optim import REGISTRY, adagrad_p_rate
    g = 0.01
    for p in (0.0, 0.5, 2.0):
        theta = torch.zeros(1, dtype=torch.float64)
        state = {n: torch.zeros_like(theta) for n in REGISTRY["adagrad_p"].state}
        steps = []
        for t in range(1, 6):
            before = theta.clone()
            REGISTRY["adagrad_p"].step(theta, torch.full_like(theta, g), state, t, lr=0.1, k=3.0, p=p)
            steps.append(((before - theta) / g).item())
        want = adagrad_p_rate(p, torch.arange(1, 6), g2=g * g, lr=0.1, k=3.0).tolist()
        assert steps == pytest.approx(want, rel=1e-12)
    assert adagrad_p_rate(0.5, [1, 100], g2=1e-4).tolist() == pytest.approx([0.1, 0.1])


# --- vSGD (section 6.3.1's 'no more pesky learning rates') -----------------------------------

def _vsgd_by_hand(thetas, grads, sqs, hs, n, d, eps=1e-30):
    """Schaul, Zhang & LeCun's Algorithm 1 in its minibatch form, one weight at a time in plain
    floats: slow start (averages from the first batch, v and h times C = max(2, d / 10), memory
    1), then per step: averages with weight 1/tau, r = gbar^2 / (vbar / n + (n - 1) gbar^2 / n),
    tau = (1 - r) tau + 1, theta -= r / hbar * g."""
    C = max(2.0, d / 10)
    out = []
    for i, theta in enumerate(thetas):
        gbar = vbar = hbar = 0.0
        tau = None
        for g, v, h in zip(grads, sqs, hs):
            g, v, h = g[i], v[i], h[i]
            if tau is None:
                gbar, vbar, hbar, tau = g, C * v, C * h, 1.0
            else:
                f = 1 / tau
                gbar, vbar, hbar = (1 - f) * gbar + f * g, (1 - f) * vbar + f * v, (1 - f) * hbar + f * h
            r = gbar ** 2 / (vbar / n + (n - 1) / n * gbar ** 2 + eps)
            tau = (1 - r) * tau + 1
            theta -= r / (hbar + eps) * g
        out.append(theta)
    return out


@pytest.mark.parametrize("n,d", [(1, 5), (7, 300), (50, 203_530)])
def test_vsgd_matches_the_papers_algorithm_written_weight_by_weight(n, d):
    gen = torch.Generator().manual_seed(n)
    theta0 = torch.randn(6, generator=gen, dtype=torch.float64)
    grads = [torch.randn(6, generator=gen, dtype=torch.float64) * 0.1 for _ in range(8)]
    sqs = [g * g * (1 + (n > 1) * torch.rand(6, generator=gen, dtype=torch.float64) * 5) for g in grads]
    hs = [0.1 + torch.rand(6, generator=gen, dtype=torch.float64) for _ in grads]
    theta, state = theta0.clone(), {}
    for g, v, h in zip(grads, sqs, hs):
        O.REGISTRY["vsgd"].step(theta, g, state, grad_sq=v, curvature=h, batch_size=n, model_size=d,
                                **O.REGISTRY["vsgd"].fixed)
    want = _vsgd_by_hand(theta0.tolist(), [g.tolist() for g in grads], [v.tolist() for v in sqs],
                         [h.tolist() for h in hs], n, d)
    assert theta.tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert not torch.equal(theta, theta0)


def _vsgd_authors_by_hand(thetas, grads, sqs, hs, n, eps=1e-9, warm=10, level=1.0, C=2.0, scale_h=False):
    """vSGD as the class ``vSGD`` of the authors' py-optim runs it, one weight at a time in plain
    floats: the averages of the first ``warm`` batches' samples (v times C = 2, plus eps), memory
    2; then per batch: one step more memory where the gradient is an outlier (further than
    ``level`` SDs from gbar; ``level=None``: no test), averages with weight 1/tau (+ eps on v),
    r, tau = (1 - r) tau + 1 + eps, theta -= r / (hbar + eps) g. ``scale_h``: h starts C times
    too, as the paper's slow start has it. Also returns how many outliers it met."""
    out, outliers = [], 0
    for i, theta in enumerate(thetas):
        gs, vs, hs_ = [g[i] for g in grads], [v[i] for v in sqs], [h[i] for h in hs]
        gbar, vbar, hbar = sum(gs[:warm]) / warm, (sum(vs[:warm]) / warm + eps) * C, sum(hs_[:warm]) / warm
        if scale_h:
            hbar *= C
        tau = 2 * (1 + eps)
        for g, v, h in zip(gs[warm:], vs[warm:], hs_[warm:]):
            if level is not None and (g - gbar) ** 2 > level ** 2 * (vbar - gbar ** 2) / n:
                tau += 1
                outliers += 1
            f = 1 / tau
            gbar, vbar, hbar = (1 - f) * gbar + f * g, (1 - f) * vbar + f * v + eps, (1 - f) * hbar + f * h
            r = gbar ** 2 / (vbar / n + (n - 1) / n * gbar ** 2)
            tau = tau * (1 - r) + 1 + eps
            theta -= r / (hbar + eps) * g
        out.append(theta)
    return out, outliers


@pytest.mark.parametrize("name,n,d,kw,how", [
    ("vsgd_authors", 1, 300, {}, {}),
    ("vsgd_authors", 7, 300, {}, {}),
    ("vsgd_authors", 50, 300, {}, {}),
    ("vsgd_authors", 7, 300, dict(outlier=2.0), dict(level=2.0)),  # the level is squared: 4 variances
    ("vsgd_authors_original", 7, 300, {}, dict(level=None)),
    ("vsgd_authors_slow", 7, 300, {}, dict(C=30.0, scale_h=True)),  # C = 300 / 10
    ("vsgd_authors_slow", 7, 5, {}, dict(C=2.0, scale_h=True)),     # C = max(2, 5 / 10)
])
def test_vsgd_authors_matches_their_code_written_weight_by_weight(name, n, d, kw, how):
    gen = torch.Generator().manual_seed(n)
    theta0 = torch.randn(8, generator=gen, dtype=torch.float64)
    # a drift plus noise: some batches land outside one SD of the average, some inside; the last
    # weight's pixel is never inked (g = v = h = 0): it must stay where it is, not become NaN
    live = torch.tensor([1.0] * 7 + [0.0], dtype=torch.float64)
    grads = [(0.05 + torch.randn(8, generator=gen, dtype=torch.float64) * 0.1) * live for _ in range(30)]
    sqs = [g * g * (1 + (n > 1) * torch.rand(8, generator=gen, dtype=torch.float64) * 5) for g in grads]
    hs = [(0.1 + torch.rand(8, generator=gen, dtype=torch.float64)) * live for _ in grads]
    theta, state = theta0.clone(), {}
    for k, (g, v, h) in enumerate(zip(grads, sqs, hs)):
        O.REGISTRY[name].step(theta, g, state, grad_sq=v, curvature=h, batch_size=n, model_size=d,
                              **O.REGISTRY[name].fixed, **kw)
        if k < 10:  # warm-up: averages only, no weight moves
            assert torch.equal(theta, theta0)
    want, outliers = _vsgd_authors_by_hand(theta0.tolist(), [g.tolist() for g in grads], [v.tolist() for v in sqs],
                                           [h.tolist() for h in hs], n, **how)
    assert theta.tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert theta[-1] == theta0[-1]
    if how.get("level", 1.0) is not None:
        assert 0 < outliers < 7 * 20  # both branches of the outlier test were taken
    assert not torch.equal(theta, theta0)


def _vsgd_fd_by_hand(thetas, grads, sqs, hs, h2s, n, eps=1e-9, warm=10, level=1.0, C=2.0, slow_vh=False, gbars=None):
    """vSGD-fd as the class ``vSGDfd`` of the authors' py-optim runs it, one weight at a time in
    plain floats: ``_vsgd_authors_by_hand`` with h the finite-difference curvature, vh the
    average of its square (C times too large where ``slow_vh``), a weight also an outlier where
    (h - hbar)^2 > (vh - hbar^2) / n, and theta -= r (hbar + eps) / (vh + eps) g. Also returns
    how many outliers it met in the gradient alone and in the curvature alone. ``gbars``: a
    list to which each weight's gbar before each step after the warm-up is appended."""
    out, by_g, by_h = [], 0, 0
    for i, theta in enumerate(thetas):
        gs, vs, h1, h2 = ([x[i] for x in xs] for xs in (grads, sqs, hs, h2s))
        gbar, vbar = sum(gs[:warm]) / warm, (sum(vs[:warm]) / warm + eps) * C
        hbar, vh = sum(h1[:warm]) / warm, sum(h2[:warm]) / warm * (C if slow_vh else 1)
        tau = 2 * (1 + eps)
        for g, v, h, hh in zip(gs[warm:], vs[warm:], h1[warm:], h2[warm:]):
            if gbars is not None:
                gbars.append(gbar)
            odd_g = (g - gbar) ** 2 > level ** 2 * (vbar - gbar ** 2) / n
            odd_h = (h - hbar) ** 2 > level ** 2 * (vh - hbar ** 2) / n
            by_g, by_h = by_g + (odd_g and not odd_h), by_h + (odd_h and not odd_g)
            tau += odd_g or odd_h
            f = 1 / tau
            gbar, vbar = (1 - f) * gbar + f * g, (1 - f) * vbar + f * v + eps
            hbar, vh = (1 - f) * hbar + f * h, (1 - f) * vh + f * hh
            r = gbar ** 2 / (vbar / n + (n - 1) / n * gbar ** 2)
            tau = tau * (1 - r) + 1 + eps
            theta -= r * (hbar + eps) / (vh + eps) * g
        out.append(theta)
    return out, by_g, by_h


@pytest.mark.parametrize("name,n,d,how", [
    ("vsgd_fd", 1, 300, {}),
    ("vsgd_fd", 7, 300, {}),
    ("vsgd_fd_slow", 7, 300, dict(C=30.0, slow_vh=True)),  # C = 300 / 10, on vbar and vh
    ("vsgd_fd_slow", 7, 5, dict(C=2.0, slow_vh=True)),     # C = max(2, 5 / 10)
])
def test_vsgd_fd_matches_their_code_written_weight_by_weight(name, n, d, how):
    gen = torch.Generator().manual_seed(n + d)
    theta0 = torch.randn(8, generator=gen, dtype=torch.float64)
    live = torch.tensor([1.0] * 7 + [0.0], dtype=torch.float64)  # the last pixel never inked
    grads = [(0.05 + torch.randn(8, generator=gen, dtype=torch.float64) * 0.1) * live for _ in range(30)]
    sqs = [g * g * (1 + (n > 1) * torch.rand(8, generator=gen, dtype=torch.float64) * 5) for g in grads]
    # curvatures that vary from batch to batch, some far from their average (outliers in h alone)
    hs = [(0.2 + torch.rand(8, generator=gen, dtype=torch.float64) ** 4 * 3) * live for _ in grads]
    h2s = [h * h * (1 + torch.rand(8, generator=gen, dtype=torch.float64)) for h in hs]
    opt = O.REGISTRY[name]
    theta, state = theta0.clone(), {}
    for k, (g, v, h, hh) in enumerate(zip(grads, sqs, hs, h2s)):
        opt.step(theta, g, state, grad_sq=v, fd_curvature=h, fd_curvature_sq=hh, batch_size=n, model_size=d,
                 **opt.fixed)
        if k < 10:
            assert torch.equal(theta, theta0)
    want, by_g, by_h = _vsgd_fd_by_hand(theta0.tolist(), *([x.tolist() for x in xs] for xs in (grads, sqs, hs, h2s)),
                                        n, **how)
    assert theta.tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert theta[-1] == theta0[-1] and not torch.equal(theta, theta0)
    assert by_g > 0 and by_h > 0  # both halves of the outlier test decided some step


@pytest.mark.parametrize("name", ["vsgd_authors", "vsgd_authors_slow", "vsgd_fd", "vsgd_fd_slow"])
def test_vsgd_rate_is_the_move_of_each_weight_per_unit_of_its_gradient(name):
    """``vsgd_rate`` read from the state a step left is the rate that step applied, weight by
    weight, to the bit: 0 in the warm-up, then theta after = theta before - rate g."""
    opt = O.REGISTRY[name]
    gen = torch.Generator().manual_seed(11)
    theta, state, n = torch.randn(6, generator=gen, dtype=torch.float64), {}, 7
    for t in range(1, 25):
        g = 0.05 + torch.randn(6, generator=gen, dtype=torch.float64) * 0.1
        h = 0.2 + torch.rand(6, generator=gen, dtype=torch.float64)
        stats = dict(grad_sq=g * g * 2, fd_curvature=h, fd_curvature_sq=h * h * 1.5) if "fd" in name else \
            dict(grad_sq=g * g * 2, curvature=h)
        before = theta.clone()
        opt.step(theta, g, state, t, batch_size=n, model_size=300, **stats, **opt.fixed)
        rate = O.vsgd_rate(state, t, batch_size=n, **opt.fixed)
        if t <= 10:
            assert torch.equal(rate, torch.zeros(6, dtype=torch.float64)) and torch.equal(theta, before)
        else:
            assert torch.equal(theta, before - rate * g) and (rate > 0).all(), t


def test_vsgd_fd_probes_along_the_average_gradient_after_the_warm_up():
    """The code's direction: gbar + eps, gbar as it stands before the step; in the warm-up the
    gradient being measured (+ eps)."""
    opt = O.REGISTRY["vsgd_fd"]
    gen = torch.Generator().manual_seed(3)
    theta, state = torch.randn(5, generator=gen, dtype=torch.float64), {}
    grads = [torch.randn(5, generator=gen, dtype=torch.float64) for _ in range(14)]
    hs = [g.abs() + 1 for g in grads]
    gbars = []  # weight by weight, then step by step
    _vsgd_fd_by_hand(theta.tolist(), [g.tolist() for g in grads], [(g * g).tolist() for g in grads],
                     [h.tolist() for h in hs], [(h * h).tolist() for h in hs], 1, gbars=gbars)
    for t, (g, h) in enumerate(zip(grads, hs), start=1):
        delta = opt.probe(g, state, t, **opt.fixed)
        want = g.tolist() if t <= 10 else [gbars[i * 4 + t - 11] for i in range(5)]
        assert delta.tolist() == pytest.approx([w + 1e-9 for w in want], rel=1e-12, abs=1e-15), t
        opt.step(theta, g, state, t, grad_sq=g * g, fd_curvature=h, fd_curvature_sq=h * h, batch_size=1,
                 model_size=5, **opt.fixed)
    assert gbars[0] == pytest.approx(sum(g[0] for g in grads[:10]).item() / 10)  # after the warm-up: the mean
    # a float32 average exactly at -eps (it happens in training): in float32 the probe would be 0
    # and the curvature 0 / 0; the code's float64 averages never land there
    at_minus_eps = {"gbar": torch.full((3,), -1e-9, dtype=torch.float32)}
    assert (opt.probe(torch.zeros(3), at_minus_eps, 20, **opt.fixed) != 0).all()


def test_vsgd_b_matches_its_block_formula_written_by_hand():
    """One block (the whole tensor) in plain floats: element-wise averages with the block's
    memory, r = sum gbar^2 / sum (vbar / n + (n - 1) / n gbar^2), rate r / max hbar."""
    gen = torch.Generator().manual_seed(3)
    n, d = 5, 40
    theta0 = torch.randn(6, generator=gen, dtype=torch.float64)
    grads = [torch.randn(6, generator=gen, dtype=torch.float64) * 0.1 for _ in range(6)]
    sqs = [g * g * (1 + 4 * torch.rand(6, generator=gen, dtype=torch.float64)) for g in grads]
    hs = [0.1 + torch.rand(6, generator=gen, dtype=torch.float64) for _ in grads]
    theta, state = theta0.clone(), {}
    for g, v, h in zip(grads, sqs, hs):
        O.vsgd_b_step(theta, g, state, grad_sq=v, curvature=h, batch_size=n, model_size=d)
    C, tau, want = 4.0, None, theta0.tolist()
    for g, v, h in zip(grads, sqs, hs):
        g, v, h = g.tolist(), v.tolist(), h.tolist()
        if tau is None:
            gb, vb, hb, tau = g, [C * x for x in v], [C * x for x in h], 1.0
        else:
            f = 1 / tau
            gb = [(1 - f) * a + f * b for a, b in zip(gb, g)]
            vb = [(1 - f) * a + f * b for a, b in zip(vb, v)]
            hb = [(1 - f) * a + f * b for a, b in zip(hb, h)]
        r = sum(x * x for x in gb) / sum(b / n + (n - 1) / n * a * a for a, b in zip(gb, vb))
        tau = (1 - r) * tau + 1
        want = [w - r / max(hb) * x for w, x in zip(want, g)]
    assert theta.tolist() == pytest.approx(want, rel=1e-12)
    assert state["tau"].tolist() == pytest.approx([tau] * 6)


def test_vsgd_on_a_noiseless_quadratic_by_hand():
    """f = h/2 (theta - 3)^2, h = 4, from theta = 0, every sample's gradient the mean.
    Step 1 (slow start C = 2): gbar = g = -12, vbar = 2 * 144, hbar = 8, r = 1/2, rate 1/16:
    theta = 0.75, tau = 1.5. Step 2 (f = 2/3): g = -9, gbar = -10, vbar = 150, hbar = 16/3,
    r = 2/3, rate 1/8: theta = 1.875. Then it closes in without overshooting: the averages span
    the shrinking gradients of several steps, so r < 1 and the rate anneals (the paper's
    behaviour on a stationary problem) instead of staying at Newton's 1/h."""
    h, star = 4.0, 3.0
    theta, state = torch.zeros(1, dtype=torch.float64), {}
    path = []
    for _ in range(400):
        g = h * (theta - star)
        O.vsgd_step(theta, g, state, grad_sq=g * g, curvature=torch.full_like(g, h), batch_size=1, model_size=5)
        path.append(theta.item())
        if len(path) == 1:
            assert state["tau"].item() == pytest.approx(1.5)
    assert path[:2] == pytest.approx([0.75, 1.875], rel=1e-14)
    assert all(a < b < star for a, b in zip(path, path[1:]))
    assert path[-1] == pytest.approx(star, abs=1e-4)


def test_vsgd_on_pure_noise_learns_to_stand_still():
    """Gradients of mean zero (samples that disagree): r falls towards 0, so the rate does, and
    the memory tau grows (it averages ever more steps)."""
    gen = torch.Generator().manual_seed(0)
    theta, state = torch.zeros(200, dtype=torch.float64), {}
    rates = []
    for _ in range(400):
        g = torch.randn(200, generator=gen, dtype=torch.float64)
        before = theta.clone()
        O.vsgd_step(theta, g, state, grad_sq=g * g, curvature=torch.ones_like(g), batch_size=1, model_size=5)
        rates.append(((before - theta) / g).abs().median().item())
    assert rates[-1] < 0.02 < rates[3]
    assert state["tau"].median().item() > 20


def test_vsgd_is_refused_where_only_the_reference_loop_could_train_it():
    with pytest.raises(ValueError, match="only the stacked engine computes"):
        O.make_optimizer("vsgd", [torch.nn.Parameter(torch.zeros(2))])
    for bad in (dict(model="cnn"), dict(protocol="forget", split_seed=1, epochs_b=1, head="masked", carry_state=True)):
        with pytest.raises(SpecError, match="^optimizer: 'vsgd' takes per-sample statistics"):
            RunSpec(optimizer="vsgd", **bad)
    assert RunSpec(optimizer="vsgd").hp == {} and RunSpec(optimizer="vsgd").lr is None
