"""The four optimizers: Table 5.1's settings, torch.optim factories, and chapter 4's rules.

``make_optimizer`` is what training uses. The ``*_step`` functions are the update rules
written out as chapter 4 gives them (Eqs 4.14-4.25, PyTorch's form where the text says
PyTorch differs); the tests check them step for step against torch.optim, and the
optimizer chapter of the book shows them.
"""
from __future__ import annotations

import torch

OPTIMIZERS = ("sgd", "adagrad", "adadelta", "adam")

# Table 5.1 plus torch.optim's defaults for everything the table leaves out.
BASELINE = {
    "sgd": dict(lr=0.1, momentum=0.0, weight_decay=0.0),
    "adagrad": dict(lr=0.1, eps=1e-10, weight_decay=0.0),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
}
# The hyper-parameters each optimizer reads; anything else set away from its default is an error.
HYPERPARAMETERS = {name: tuple(hp) for name, hp in BASELINE.items()}


def hyperparameters(name: str, **overrides) -> dict:
    """The full hyper-parameter set of optimizer ``name``: baseline values, then ``overrides``."""
    if name not in BASELINE:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    hp = dict(BASELINE[name])
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in hp:
            raise ValueError(f"optimizer {name!r} has no hyper-parameter {k!r}; it takes {', '.join(hp)}")
        hp[k] = float(v)
    return hp


def make_optimizer(name: str, params, **hp) -> torch.optim.Optimizer:
    """A torch.optim optimizer with the baseline settings of Table 5.1, overridden by ``hp``."""
    hp = hyperparameters(name, **hp)
    # foreach=False: the plain per-tensor loop, the same arithmetic on every device.
    if name == "sgd":
        return torch.optim.SGD(params, lr=hp["lr"], momentum=hp["momentum"],
                               weight_decay=hp["weight_decay"], foreach=False)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=hp["lr"], eps=hp["eps"],
                                   weight_decay=hp["weight_decay"], foreach=False)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=hp["lr"], rho=hp["rho"], eps=hp["eps"],
                                    weight_decay=hp["weight_decay"], foreach=False)
    return torch.optim.Adam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                            weight_decay=hp["weight_decay"], foreach=False)


# --- chapter 4's update rules, one parameter tensor at a time -------------------------
# Each takes the parameter, its gradient and a state dict (empty at the first step), and
# returns the new parameter. Weight decay is added to the gradient first, as torch.optim does.

def sgd_step(theta, grad, state, lr, momentum=0.0, weight_decay=0.0):
    """SGD with momentum in PyTorch's form, Eq. 4.15: v = gamma v + g; theta -= eta v."""
    g = grad + weight_decay * theta
    v = momentum * state.get("v", torch.zeros_like(theta)) + g
    state["v"] = v
    return theta - lr * v


def sgd_step_text(theta, grad, state, lr, momentum=0.0):
    """SGD with momentum as Eq. 4.14 writes it: v = gamma v + eta g; theta -= v.

    Identical to Eq. 4.15 while eta is constant (v_4.14 = eta v_4.15).
    """
    v = momentum * state.get("v", torch.zeros_like(theta)) + lr * grad
    state["v"] = v
    return theta - v


def adagrad_step(theta, grad, state, lr, eps=1e-10, weight_decay=0.0, eps_inside_sqrt=False):
    """Adagrad, Eq. 4.17: G += g*g; theta -= eta g / sqrt(G + eps).

    PyTorch adds eps outside the root, ``sqrt(G) + eps`` (the default here); pass
    ``eps_inside_sqrt=True`` for the text's form.
    """
    g = grad + weight_decay * theta
    G = state.get("G", torch.zeros_like(theta)) + g * g
    state["G"] = G
    denom = (G + eps).sqrt() if eps_inside_sqrt else G.sqrt() + eps
    return theta - lr * g / denom


def rmsprop_step(theta, grad, state, lr, gamma=0.99, eps=1e-8):
    """RMSProp, Eq. 4.18: G = gamma G + (1 - gamma) g*g; theta -= eta g / (sqrt(G) + eps)."""
    G = gamma * state.get("G", torch.zeros_like(theta)) + (1 - gamma) * grad * grad
    state["G"] = G
    return theta - lr * grad / (G.sqrt() + eps)


def adadelta_step(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    """Adadelta with PyTorch's learning rate, Eqs 4.19-4.23.

    E[g2] = rho E[g2] + (1 - rho) g^2; delta = sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) * g;
    E[dx2] = rho E[dx2] + (1 - rho) delta^2; theta -= eta delta.
    """
    g = grad + weight_decay * theta
    eg2 = rho * state.get("eg2", torch.zeros_like(theta)) + (1 - rho) * g * g
    edx2 = state.get("edx2", torch.zeros_like(theta))
    delta = (edx2 + eps).sqrt() / (eg2 + eps).sqrt() * g
    state["eg2"], state["edx2"] = eg2, rho * edx2 + (1 - rho) * delta * delta
    return theta - lr * delta


def adam_step(theta, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam with bias correction, Eqs 4.24-4.25: theta -= eta p_hat / (sqrt(q_hat) + eps)."""
    g = grad + weight_decay * theta
    t = state.get("t", 0) + 1
    p = beta1 * state.get("p", torch.zeros_like(theta)) + (1 - beta1) * g
    q = beta2 * state.get("q", torch.zeros_like(theta)) + (1 - beta2) * g * g
    state.update(t=t, p=p, q=q)
    p_hat = p / (1 - beta1 ** t)
    q_hat = q / (1 - beta2 ** t)
    return theta - lr * p_hat / (q_hat.sqrt() + eps)


REFERENCE_STEPS = {"sgd": sgd_step, "adagrad": adagrad_step, "adadelta": adadelta_step, "adam": adam_step}
