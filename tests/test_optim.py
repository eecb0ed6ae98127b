"""Chapter 4's update rules and the engine's stacked updates, step for step against torch.optim."""
import pytest
import torch

from sparsel import optim as O

CASES = [
    ("sgd", dict(lr=0.1)), ("sgd", dict(lr=0.05, momentum=0.9)), ("sgd", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1)), ("adagrad", dict(lr=0.01, weight_decay=0.001)),
    ("adadelta", dict(lr=1.0)), ("adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.01)),
    ("adam", dict(lr=1e-3)), ("adam", dict(lr=1e-2, beta1=0.5, beta2=0.9, weight_decay=0.01)),
]


def _grads(n=6, shape=(5, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(n)]


@pytest.mark.parametrize("name,hp", CASES)
def test_reference_rule_matches_torch_optim(name, hp):
    theta0 = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = torch.nn.Parameter(theta0.clone())
    opt = O.make_optimizer(name, [p], **hp)
    theta, state = theta0.clone(), {}
    full = O.hyperparameters(name, **hp)
    for g in _grads():
        p.grad = g.clone()
        opt.step()
        theta = O.REFERENCE_STEPS[name](theta, g, state, **full)
        torch.testing.assert_close(theta, p.detach(), rtol=1e-12, atol=1e-14)


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
    ours = O.adagrad_step(theta, g, {}, lr=0.1, eps=1e-10)
    text = O.adagrad_step(theta, g, {}, lr=0.1, eps=1e-10, eps_inside_sqrt=True)
    assert ours[2] == pytest.approx(text[2])
    assert abs(ours[0] - text[0]) > 1e-3 * abs(ours[0])


def test_unknown_optimizer_and_hyperparameter_are_named():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        O.hyperparameters("rmsprop")
    with pytest.raises(ValueError, match="no hyper-parameter 'momentum'"):
        O.hyperparameters("adam", momentum=0.9)


def test_baseline_matches_table_5_1():
    assert O.BASELINE["sgd"]["lr"] == 0.1 and O.BASELINE["sgd"]["momentum"] == 0
    assert O.BASELINE["adagrad"]["lr"] == 0.1
    assert O.BASELINE["adadelta"]["lr"] == 1.0 and O.BASELINE["adadelta"]["rho"] == 0.9
    assert O.BASELINE["adam"]["lr"] == 1e-3 and (O.BASELINE["adam"]["beta1"], O.BASELINE["adam"]["beta2"]) == (0.9, 0.999)
    # torch.optim's own defaults for what Table 5.1 leaves out
    assert O.make_optimizer("adadelta", [torch.nn.Parameter(torch.zeros(1))]).defaults["eps"] == 1e-6
    assert O.make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))]).defaults["eps"] == 1e-8
