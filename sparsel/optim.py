"""The optimizers: one registry entry each, with chapter 4's update rule written once.

An optimizer is a ``REGISTRY`` entry (``OptimizerDef``): its name, its hyper-parameters and
their defaults (``BASELINE``; each one is a ``RunSpec`` field), the names of its state
tensors, its update rule and, where torch.optim has it, the torch.optim factory that is the
independent reference. The rule is one ``*_step`` function, as chapter 4 writes it
(Eqs 4.14-4.25, PyTorch's form where the text says PyTorch differs), used everywhere:

* the book's optimizer chapter calls it on one tensor with plain numbers;
* the stacked engine (``sparsel.engine``) calls it on parameters of R runs at once
  ([R, ...]) with per-run hyper-parameters as tensors [R, 1, ...] and the step count ``t``
  a tensor on the device (so a captured CUDA graph replays it);
* ``RuleOptimizer`` wraps it as a torch.optim optimizer for the optimizers torch.optim lacks,
  so the reference loop (``make_optimizer``) trains every registered name.

A rule updates the parameter and its state in place and never reads a tensor's value on the
host: it branches only on plain numbers (a hyper-parameter shared by all runs is passed as a
number, so e.g. zero weight decay costs nothing).

``OPTIMIZERS`` are the dissertation's four (what the experiments and plots use);
``ALL_OPTIMIZERS`` adds torch.optim's RMSprop, Nesterov SGD, AdamW, Adamax and NAdam, the
modified Adagrad and Adadelta of section 6.3.1 with their p-family generalisation, and the
"no more pesky learning rates" vSGD it names: per weight and per layer as the paper writes them,
as its authors' code runs it, and their later vSGD-fd (these take per-sample statistics, which
only the engine computes: ``OptimizerDef.needs``).
"""
from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field
from typing import Callable

import torch

# --- helpers: rules written once for plain numbers and per-run tensors -----------------


def _is(x, value) -> bool:
    """``x`` is the plain number ``value`` (a per-run tensor never is: no host read)."""
    return isinstance(x, numbers.Number) and x == value


def _like(x, ref):
    """A hyper-parameter in ``ref``'s dtype. Per-run values (float64 tensors [R, 1, ...]) and
    per-step scalars computed from them or from the step count (float64, like torch.optim's
    Python floats) are cast where they meet the parameters: a tiny cast instead of a mixed-dtype
    kernel over a whole parameter. Numbers pass as they are."""
    return x.to(ref.dtype) if isinstance(x, torch.Tensor) and x.dtype != ref.dtype else x


def _decayed(grad, theta, weight_decay):
    """g + lambda theta: L2 weight decay added to the gradient, as torch.optim does."""
    return grad if _is(weight_decay, 0) else grad + _like(weight_decay, theta) * theta


def _sub(theta, a, x, denom=None):
    """theta -= a x (/ denom), in place. One expression for numbers and per-run tensors, so a
    run's arithmetic does not depend on the other runs of its group."""
    step = _like(a, theta) * x
    theta.sub_(step if denom is None else step / denom)


def _average_sq(avg, x, decay):
    """avg = decay avg + (1 - decay) x^2, in place (RMSprop's, Adadelta's and Adam's second moment)."""
    avg.mul_(_like(decay, avg)).addcmul_(x, x * _like(1 - decay, avg))


@torch.library.custom_op("sparsel::realize", mutates_args=())
def _realize(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` that compiled code computes as a buffer of its own (an opaque op)."""
    return x.clone()


@_realize.register_fake
def _(x):
    return torch.empty_like(x)


def _per_step(*xs):
    """Numbers that depend on the step count alone (bias corrections), computed once per step.

    Compiled, inductor would inline them into the fused update and recompute their powers and
    roots for every 16 weights, which made Adam's update 4x slower on a CPU; a graph break
    costs more than it saves. Numbers, and tensors outside compilation, pass as they are."""
    if not torch.compiler.is_compiling():
        return xs
    return tuple(_realize(x) if isinstance(x, torch.Tensor) else x for x in xs)


def rule(*state, **run_state):
    """Declare an update rule's state: ``state`` names tensors shaped like the parameter (zero at
    the start), ``run_state`` one number per run with its initial value (float64).

    The decorated ``step(theta, grad, state, t=None, **hp)`` updates ``theta`` and ``state`` in
    place and returns ``theta``. ``state`` may start empty (missing entries are created); ``t``
    is the number of this step (1 at the first), counted in ``state['t']`` when not given.
    """
    def declare(fn):
        @functools.wraps(fn)
        def step(theta, grad, st, t=None, **hp):
            for name in state:
                if name not in st:
                    st[name] = torch.zeros_like(theta)
            for name, init in run_state.items():
                if name not in st:
                    st[name] = torch.full((), init, dtype=torch.float64, device=theta.device)
            if t is None:
                t = st["t"] = st.get("t", 0) + 1
            fn(theta, grad, st, t, **hp)
            return theta
        step.state, step.run_state = tuple(state), dict(run_state)
        return step
    return declare


# --- chapter 4's update rules ----------------------------------------------------------

@rule("v")
def sgd_step(theta, grad, state, t, *, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    """SGD with momentum in PyTorch's form, Eq. 4.15: v = gamma v + g; theta -= eta v.

    Nesterov (torch.optim's ``nesterov=True``): theta -= eta (g + gamma v).
    """
    g = _decayed(grad, theta, weight_decay)
    if _is(momentum, 0):  # plain SGD: v would be g
        step = g
    else:
        v = state["v"]
        v.mul_(_like(momentum, v)).add_(g)  # zero at the start: v_1 = g, as torch.optim
        step = g + _like(momentum, g) * v if nesterov else v
    _sub(theta, lr, step)


@rule("v")
def sgd_step_text(theta, grad, state, t, *, lr, momentum=0.0):
    """SGD with momentum as Eq. 4.14 writes it: v = gamma v + eta g; theta -= v.

    Identical to Eq. 4.15 while eta is constant (v_4.14 = eta v_4.15).
    """
    v = state["v"]
    v.mul_(momentum).add_(lr * grad)
    theta.sub_(v)


@rule("G")
def adagrad_step(theta, grad, state, t, *, lr, eps=1e-10, weight_decay=0.0, eps_inside_sqrt=False):
    """Adagrad, Eq. 4.17: G += g*g; theta -= eta g / sqrt(G + eps).

    PyTorch adds eps outside the root, ``sqrt(G) + eps`` (the default here); pass
    ``eps_inside_sqrt=True`` for the text's form.
    """
    adagrad_p_step.__wrapped__(theta, grad, state, t, lr=lr, eps=eps, weight_decay=weight_decay,
                               k=1.0, p=0.0, eps_inside_sqrt=eps_inside_sqrt)


@rule("G")
def adagrad_p_step(theta, grad, state, t, *, lr, eps=1e-10, weight_decay=0.0, k=1.0, p=0.0,
                   eps_inside_sqrt=False):
    """Adagrad times k G^p, generalising section 6.3.1's modified Adagrad (Eq. 6.1):

        G_t = G_{t-1} + g_t^2;   theta_{t+1} = theta_t - eta k G_t^p g_t / (sqrt(G_t) + eps).

    p = 0, k = 1 is Adagrad (Eq. 4.17, PyTorch's eps) exactly; p = 2 is Eq. 6.1 as written,
    theta_{t+1} = theta_t - eta k G_t^2 / (sqrt(G_t) + eps) g_t. On a constant gradient G_t grows
    like t, so the step grows like t^(p - 1/2): Eq. 6.1's like t^1.5, Adagrad's falls like 1/sqrt(t).
    """
    g = _decayed(grad, theta, weight_decay)
    G = state["G"]
    G.addcmul_(g, g)
    denom = (G + _like(eps, G)).sqrt() if eps_inside_sqrt else G.sqrt().add_(_like(eps, G))
    if not (_is(k, 1) and _is(p, 0)):
        g = g * (_like(k, G) * G.pow(_like(p, G)))
    _sub(theta, lr, g, denom)


@rule("G")
def rmsprop_step(theta, grad, state, t, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0):
    """RMSprop, Eq. 4.18 (the text's gamma is torch.optim's alpha):
    G = alpha G + (1 - alpha) g*g; theta -= eta g / (sqrt(G) + eps)."""
    g = _decayed(grad, theta, weight_decay)
    G = state["G"]
    _average_sq(G, g, alpha)
    _sub(theta, lr, g, G.sqrt().add_(_like(eps, G)))


@rule("eg2", "edx2")
def adadelta_step(theta, grad, state, t, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    """Adadelta with PyTorch's learning rate, Eqs 4.19-4.23.

    E[g2] = rho E[g2] + (1 - rho) g^2; delta = sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) * g;
    E[dx2] = rho E[dx2] + (1 - rho) delta^2; theta -= eta delta.
    """
    adadelta_p_step.__wrapped__(theta, grad, state, t, lr=lr, rho=rho, eps=eps,
                                weight_decay=weight_decay, k=1.0, p=0.0)


def adagrad_p_rate(p, t, g2=1e-4, lr=0.1, k=1.0, eps=1e-10):
    """The Adagrad p-family's effective learning rate at step(s) ``t`` on a constant gradient
    of square ``g2``: the factor eta k G^p / (sqrt(G) + eps) that multiplies g, with G = t g2.
    It grows like t^(p - 1/2): falls for Adagrad (p = 0), is constant for p = 1/2 (plain SGD at
    rate eta k), grows as t^1.5 for Eq. 6.1 (p = 2). ``t``: array of step counts (>= 1)."""
    G = torch.as_tensor(t, dtype=torch.float64) * g2
    return lr * k * G ** p / (G.sqrt() + eps)


@rule("eg2", "edx2")
def adadelta_p_step(theta, grad, state, t, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, k=1.0, p=0.0):
    """Adadelta's step times k E[g^2]^p, generalising section 6.3.1's modified Adadelta (Eq. 6.2):

        E[g2]_t = rho E[g2]_{t-1} + (1 - rho) g_t^2;
        delta_t = sqrt(E[dx2]_{t-1} + eps) / sqrt(E[g2]_t + eps) g_t;
        E[dx2]_t = rho E[dx2]_{t-1} + (1 - rho) delta_t^2;
        theta_{t+1} = theta_t - eta k (E[g2]_t)^p delta_t.

    p = 0, k = 1 is Adadelta exactly; p = 2 is Eq. 6.2 as written,
    theta_{t+1} = theta_t - eta k (E[g2]_t)^2 sqrt(E[dx2]_{t-1} + eps) / sqrt(E[g2]_t + eps) g_t.
    E[dx2] averages Adadelta's own delta (Eq. 4.22; Eq. 6.2 keeps Eqs 4.21's recursion and does
    not redefine delta), so k E[g2]^p scales the step taken, not the step remembered.
    """
    g = _decayed(grad, theta, weight_decay)
    eg2, edx2 = state["eg2"], state["edx2"]
    _average_sq(eg2, g, rho)
    std = (eg2 + _like(eps, eg2)).sqrt_()
    delta = (edx2 + _like(eps, edx2)).sqrt_().div_(std).mul_(g)
    _average_sq(edx2, delta, rho)
    if not (_is(k, 1) and _is(p, 0)):
        delta = delta * (_like(k, eg2) * eg2.pow(_like(p, eg2)))
    _sub(theta, lr, delta)


@rule("p", "q")
def adam_step(theta, grad, state, t, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
              decoupled=False):
    """Adam with bias correction, Eqs 4.24-4.25: theta -= eta p_hat / (sqrt(q_hat) + eps), with
    p_hat = p / (1 - beta1^t), q_hat = q / (1 - beta2^t).

    ``decoupled=True`` is AdamW (torch.optim's): theta *= 1 - eta lambda before the step,
    instead of lambda theta added to the gradient.
    """
    if decoupled:
        g = grad
        if not _is(weight_decay, 0):
            theta.mul_(_like(1 - lr * weight_decay, theta))
    else:
        g = _decayed(grad, theta, weight_decay)
    p, q = state["p"], state["q"]
    p.lerp_(g, _like(1 - beta1, p))
    _average_sq(q, g, beta2)
    # per-run numbers, in float64 where they are tensors
    step_size, bc2_sqrt = _per_step(lr / (1 - beta1 ** t), (1 - beta2 ** t) ** 0.5)
    _sub(theta, step_size, p, (q.sqrt() / _like(bc2_sqrt, q)).add_(_like(eps, q)))


@rule("p", "u")
def adamax_step(theta, grad, state, t, *, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adamax (Adam's infinity-norm variant, torch.optim's form):
    p = beta1 p + (1 - beta1) g; u = max(beta2 u, |g| + eps); theta -= eta / (1 - beta1^t) p / u."""
    g = _decayed(grad, theta, weight_decay)
    p, u = state["p"], state["u"]
    p.lerp_(g, _like(1 - beta1, p))
    torch.maximum(u.mul_(_like(beta2, u)), g.abs().add_(_like(eps, u)), out=u)
    step_size, = _per_step(lr / (1 - beta1 ** t))
    _sub(theta, step_size, p, u)


@rule("p", "q", mu_product=1.0)
def nadam_step(theta, grad, state, t, *, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
               momentum_decay=4e-3):
    """NAdam (Adam with Nesterov momentum, torch.optim's form), with psi = ``momentum_decay``:

        mu_t = beta1 (1 - 0.5 * 0.96^(t psi)); P_t = mu_1 ... mu_t;
        p, q as Adam; d = sqrt(q / (1 - beta2^t)) + eps;
        theta -= eta (1 - mu_t) / (1 - P_t) g / d + eta mu_{t+1} / (1 - P_t mu_{t+1}) p / d.
    """
    g = _decayed(grad, theta, weight_decay)
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    mu_product = state["mu_product"]
    mu_product.mul_(mu)
    p, q = state["p"], state["q"]
    p.lerp_(g, _like(1 - beta1, p))
    _average_sq(q, g, beta2)
    bc2, a_g, a_p = _per_step(1 - beta2 ** t, lr * (1.0 - mu) / (1.0 - mu_product),
                              lr * mu_next / (1.0 - mu_product * mu_next))
    denom = (q / _like(bc2, q)).sqrt_().add_(_like(eps, q))
    _sub(theta, a_g, g, denom)
    _sub(theta, a_p, p, denom)


# --- section 6.3.1's 'no more pesky learning rates' --------------------------------------

def _slow_start(model_size):
    """The paper's slow-start factor C = max(2, d / 10), d the network's number of parameters."""
    return max(2.0, model_size / 10)


def _vsgd_averages(state, grad, grad_sq, curvature, fresh, model_size, live=None):
    """vSGD's running averages, in place, with weight 1/tau (1 where ``fresh``, so they become
    this batch's values, vbar and hbar times the slow-start factor max(2, d / 10)); where
    ``live`` is False nothing moves. Returns gbar^2."""
    gbar, vbar, hbar, tau = state["gbar"], state["vbar"], state["hbar"], state["tau"]
    slow = 1 + (_slow_start(model_size) - 1) * fresh.to(gbar.dtype)
    f = tau.clamp(min=1).reciprocal()
    if live is not None:
        f = f * live
    gbar.lerp_(grad, f)
    vbar.lerp_(grad_sq * slow, f)
    hbar.lerp_(curvature * slow, f)
    return gbar * gbar


@rule("gbar", "vbar", "hbar", "tau")
def vsgd_step(theta, grad, state, t, *, grad_sq, curvature, batch_size, model_size, run_dims=0, eps=1e-30):
    """vSGD (Schaul, Zhang & LeCun 2013, "No more pesky learning rates"; their Algorithm 1,
    element-wise, in its minibatch form): a learning rate per parameter from running averages,
    no learning rate to tune. With memory ``tau`` (f = 1/tau):

        gbar = (1 - f) gbar + f g;   vbar = (1 - f) vbar + f mean_s(g_s^2);   hbar = (1 - f) hbar + f h;
        r = gbar^2 / (vbar / n + (n - 1) / n gbar^2);   eta = r / hbar;
        tau = (1 - r) tau + 1;   theta -= eta g.

    ``grad`` g is the minibatch's mean gradient, ``grad_sq`` the mean over its n = ``batch_size``
    samples of each sample's squared gradient, ``curvature`` h the batch's mean diagonal
    Gauss-Newton estimate (bbprop); the engine computes the three in one backward pass.
    r in [0, 1] is the share of the gradient that is signal rather than sampling noise: on a
    noiseless problem r -> 1 and the step tends to Newton's, g / h; where samples disagree r and
    the rate fall and the memory tau, the number of steps the averages span, grows.
    Slow start, as the paper's, weight by weight: a weight's first batch with curvature sets
    its averages to that batch's values with
    vbar and hbar C = max(2, d / 10) times too large, d = ``model_size`` (the network's number
    of parameters): the rate starts about C^2 too small and grows as the memory forgets the
    overestimate (tau grows by about 1 a step while r is small, so over about C steps). Without
    it the first, consistent gradients (r near 1) take diagonal Newton steps, which overshoot
    when many weights feed one unit. ``eps`` only keeps 0 / 0 at 0 (a weight whose input pixel
    is always 0 has g = v = h = 0).
    """
    gbar, vbar, hbar, tau = state["gbar"], state["vbar"], state["hbar"], state["tau"]
    # A weight starts (tau 0 -> >= 1) at its first batch with any curvature: a weight from a
    # pixel no image of the batch has ink in sees g = v = h = 0 and would start from zeros,
    # then take an unslowed (Newton) step the first time the pixel is inked.
    fresh = (tau == 0) & (curvature > 0)
    live = (tau > 0) | fresh
    gg = _vsgd_averages(state, grad, grad_sq, curvature, fresh, model_size, live)
    r = gg / ((vbar + (batch_size - 1) * gg) / batch_size + eps)
    tau.copy_(torch.where(live, tau.clamp(min=1) * (1 - r) + 1, tau))
    theta.sub_(r / (hbar + eps) * grad)


@rule("gbar", "vbar", "hbar", "tau")
def vsgd_b_step(theta, grad, state, t, *, grad_sq, curvature, batch_size, model_size, run_dims=0, eps=1e-30):
    """vSGD-b: one rate per block of parameters (here each weight matrix and each bias vector),
    after the paper's per-block variant, with the block's largest averaged curvature as the
    divisor, as in the block-variant code of one of its authors (Sixin Zhang's ``vsgd-bb.m``,
    2012, in the public repository rlowrance/vsgd; its numerator sums the squared minibatch
    gradient where ours takes the paper's minibatch form): the element-wise averages of
    ``vsgd_step``, then

        r = sum gbar^2 / sum (vbar / n + (n - 1) / n gbar^2);   eta = r / h+,   h+ = max hbar;
        tau = (1 - r) tau + 1 (one memory for the block);   theta -= eta g.

    Dividing by the block's largest curvature instead of each weight's own bounds the step
    along every direction, where the element-wise rule takes a Newton step along each weight
    alone (on MNIST, huge steps for the weights of faintly inked pixels, whose own curvature
    is tiny). The first ``run_dims`` dimensions index runs (the engine's stack): sums and
    maxima are taken per run. Slow start as ``vsgd_step``'s, for the block at once.
    """
    gbar, vbar, hbar, tau = state["gbar"], state["vbar"], state["hbar"], state["tau"]
    dims = tuple(range(run_dims, theta.dim()))
    gg = _vsgd_averages(state, grad, grad_sq, curvature, tau == 0, model_size)  # tau == 0: the first step
    signal = gg.sum(dims, keepdim=True)
    r = signal / (((vbar + (batch_size - 1) * gg) / batch_size).sum(dims, keepdim=True) + eps)
    h_max = hbar.amax(dims, keepdim=True) if dims else hbar
    tau.copy_((tau.clamp(min=1) * (1 - r) + 1).expand_as(tau))
    theta.sub_(r / (h_max + eps) * grad)


@rule("gbar", "vbar", "hbar", "tau")
def vsgd_authors_step(theta, grad, state, t, *, grad_sq, curvature, batch_size, model_size, run_dims=0,
                      eps=1e-9, init_batches=10, outlier=1.0, paper_slow_start=False):
    """Element-wise vSGD as its authors' code runs it (the class ``vSGD`` of Tom Schaul's public
    py-optim, ``PyOptim/algorithms/vsgd.py``), which departs from the paper's Algorithm 1
    (``vsgd_step``) in four ways:

    * warm-up: the first ``init_batches`` batches only estimate the averages (equal-weight
      means over their samples) and move no weight; then vbar = 2 (vbar + eps) (the slow start,
      ``slow`` = 2, on vbar alone: hbar is the plain mean) and tau = 2;
    * outliers: before each later step, a weight whose batch gradient lies more than
      ``outlier`` standard deviations from gbar, (g - gbar)^2 > (vbar - gbar^2) / n, gets one
      step more memory (tau += 1), so the averages move less towards it;
    * then, with f = 1/tau: gbar, hbar as the paper's; vbar = (1 - f) vbar + f mean_s(g_s^2) + eps;
      r = gbar^2 / (vbar / n + (n - 1) / n gbar^2); tau = (1 - r) tau + 1 + eps;
    * theta -= r / (hbar + eps) g, with eps = 1e-9 (the paper's rule has no eps).

    The code takes its warm-up samples from the training stream as one batch of
    ``init_batches`` x n and takes no step with them; here they are the first ``init_batches``
    batches of epoch 1 (the same means), seen again in later epochs.

    Two of the departures can be undone, to tell which matters: ``outlier=None`` drops the
    outlier test (the code's own class ``vSGD_original``, "the original version from 2012");
    ``paper_slow_start=True`` starts vbar and hbar both C = max(2, d / 10) times too large,
    d = ``model_size``, as the paper's slow start does (no setting of the code does this: its
    own fallback, ``slow_constant=None``, scales vbar alone)."""
    gbar, vbar, hbar = state["gbar"], state["vbar"], state["hbar"]
    odd = None if outlier is None else (grad - gbar) ** 2 > outlier ** 2 * ((vbar - gbar * gbar) / batch_size)
    C = _slow_start(model_size) if paper_slow_start else 2.0  # the code's slow_constant = 2
    warm, last, _, r = _authors_averages(state, grad, grad_sq, curvature, t, batch_size, eps, init_batches, C, odd)
    if paper_slow_start:
        hbar.copy_(torch.where(last, hbar * C, hbar))
    theta.sub_(torch.where(warm, 0.0, r / (hbar + eps)) * grad)


def _authors_averages(state, grad, grad_sq, curvature, t, n, eps, init_batches, C, odd):
    """What the authors' vSGD code (``vsgd_authors_step``, ``vsgd_fd_step``) does before its
    step, in place: one step more memory where ``odd`` (outliers; None: no test), then gbar,
    hbar, vbar averaged with weight f (a running mean in the warm-up, 1/tau after), vbar + eps,
    times ``C`` at the warm-up's end; r; the new memory. Returns (warm, last, f, r)."""
    gbar, vbar, hbar, tau = state["gbar"], state["vbar"], state["hbar"], state["tau"]
    # the step count is a number, or a 0-d tensor the engine advances on the device: no host read
    warm = torch.as_tensor(t <= init_batches, device=gbar.device)
    last = torch.as_tensor(t == init_batches, device=gbar.device)
    if odd is not None:
        tau.add_(odd & ~warm)
    f = torch.where(warm, 1.0 / t, tau.reciprocal())  # warm-up: equal weights, a running mean
    gbar.lerp_(grad, f)
    hbar.lerp_(curvature, f)
    vbar.lerp_(grad_sq, f)
    vbar.copy_(torch.where(last, (vbar + eps) * C, torch.where(warm, vbar, vbar + eps)))
    r = _signal_share(gbar, vbar, n)
    tau.copy_(torch.where(last, 2 * (1 + eps), torch.where(warm, 0.0, tau * (1 - r) + (1 + eps))))
    return warm, last, f, r


def _signal_share(gbar, vbar, n):
    """r = gbar^2 / (vbar / n + (n - 1) / n gbar^2): the share of a batch-``n`` gradient that is
    signal rather than sampling noise, in [0, 1] (the authors' code's form)."""
    gg = gbar * gbar
    return gg / (vbar / n + (n - 1) / n * gg)


def _fd_rate(r, hbar, vhbar, eps):
    """vSGD-fd's rate r (hbar + eps) / (vhbar + eps)."""
    return r * (hbar + eps) / (vhbar + eps)


def vsgd_rate(state, t, *, batch_size, eps=1e-9, init_batches=10, **_) -> torch.Tensor:
    """The learning rate per weight that ``vsgd_authors_step`` (bbprop: r / (hbar + eps)) or
    ``vsgd_fd_step`` (a state with ``vhbar``: r (hbar + eps) / (vhbar + eps)) applied at step
    ``t``, from the state that step left: the weight moved by rate x its batch gradient. 0 in
    the warm-up (the first ``init_batches`` steps), where no weight moves. Shaped like the
    weights: the step's change of a weight per unit of its batch gradient."""
    r = _signal_share(state["gbar"], state["vbar"], batch_size)
    eta = _fd_rate(r, state["hbar"], state["vhbar"], eps) if "vhbar" in state else r / (state["hbar"] + eps)
    return torch.zeros_like(eta) if t <= init_batches else eta


def vsgd_fd_probe(grad, state, t, *, eps=1e-9, init_batches=10, **_):
    """The direction delta along which ``vsgd_fd_step`` measures curvature before step ``t``:
    gbar + eps, the average gradient so far (its value before this step's update), as the
    authors' code takes it (py-optim's ``vSGDfd._fdDirection``). During the warm-up, where the
    code measures its one warm-up collection along that collection's mean gradient, this
    batch's mean gradient ``grad`` + eps. Shaped like ``grad``, in float64: the code's averages
    are float64, ours float32, and a float32 gbar lands exactly on -eps often enough (once in a
    few epochs of a 200,000-weight network) that delta = 0 would make the curvature 0 / 0; no
    float32 value is -1e-9 in float64."""
    gbar = state.get("gbar")
    base = grad if gbar is None else torch.where(torch.as_tensor(t <= init_batches, device=grad.device), grad, gbar)
    return base.double() + eps


@rule("gbar", "vbar", "hbar", "vhbar", "tau")
def vsgd_fd_step(theta, grad, state, t, *, grad_sq, fd_curvature, fd_curvature_sq, batch_size, model_size,
                 run_dims=0, eps=1e-9, init_batches=10, outlier=1.0, paper_slow_start=False):
    """vSGD-fd (Schaul & LeCun 2013, "Adaptive learning rates and parallelization for
    stochastic, sparse, non-smooth gradients") as its authors' code runs it (the class
    ``vSGDfd`` of py-optim): ``vsgd_authors_step`` with the curvature measured by finite
    differences instead of bbprop, and the rate divided by the curvature's second moment.

    Each sample s's curvature is h_s = |g_s(theta) - g_s(theta + delta)| / |delta|, weight by
    weight, along delta = gbar + eps (``vsgd_fd_probe``); the engine passes its batch mean
    ``fd_curvature`` and the batch mean of its square ``fd_curvature_sq``. As the code:

    * warm-up as ``vsgd_authors_step``'s, with vhbar the mean of h_s^2 (not slowed);
    * outliers: a weight gets one step more memory where its gradient lies more than
      ``outlier`` SDs from gbar, or its curvature h more than ``outlier`` SDs from hbar,
      (h - hbar)^2 > (vhbar - hbar^2) / n;
    * gbar, vbar, hbar, tau as ``vsgd_authors_step``; vhbar = (1 - f) vhbar + f mean_s(h_s^2);
    * theta -= r (hbar + eps) / (vhbar + eps) g.

    Where the curvature does not vary between samples, (hbar + eps) / (vhbar + eps) is about
    1 / hbar, vSGD's rate; the more it varies, the smaller the rate. ``paper_slow_start=True``
    starts both second moments, vbar and vhbar, C = max(2, d / 10) times too large (d =
    ``model_size``), which slows the first rates by C^2, as the paper's slow start does for
    vSGD (our analogue: the code has no such setting; its own slows vbar by 2)."""
    gbar, vbar, hbar, vhbar = (state[k] for k in ("gbar", "vbar", "hbar", "vhbar"))
    n, h = batch_size, fd_curvature
    odd = None
    if outlier is not None:
        odd = ((grad - gbar) ** 2 > outlier ** 2 * (vbar - gbar * gbar) / n) | \
              ((h - hbar) ** 2 > outlier ** 2 * (vhbar - hbar * hbar) / n)
    C = _slow_start(model_size) if paper_slow_start else 2.0
    warm, last, f, r = _authors_averages(state, grad, grad_sq, h, t, n, eps, init_batches, C, odd)
    vhbar.lerp_(fd_curvature_sq, f)
    if paper_slow_start:
        vhbar.copy_(torch.where(last, vhbar * C, vhbar))
    theta.sub_(torch.where(warm, 0.0, _fd_rate(r, hbar, vhbar, eps)) * grad)


# --- the registry ------------------------------------------------------------------------

@dataclass(frozen=True)
class OptimizerDef:
    """One optimizer: everything the reference loop, the engine, specs and the book need.

    ``defaults``: its hyper-parameters (each a ``RunSpec`` field) and their default values;
    ``fixed``: keyword arguments ``step`` always gets (not hyper-parameters);
    ``reference``: ``(params, hp) -> torch.optim.Optimizer``, torch's own implementation, or
    None where torch.optim has none (``make_optimizer`` then wraps ``step``);
    ``check``: ``hp -> (field, message)`` for hyper-parameters it cannot take, or None;
    ``needs``: per-sample statistics ``step`` takes besides the gradient (``NEEDS``), which only
    the stacked engine computes; ``probe``: ``(grad, state, t, **fixed) -> delta``, for a rule
    whose statistics are measured at theta + delta (``fd_curvature``), else None.
    """
    name: str
    step: Callable
    defaults: dict
    formula: str
    defaults_from: str
    fixed: dict = field(default_factory=dict)
    reference: Callable | None = None
    check: Callable | None = None
    needs: tuple = ()
    probe: Callable | None = None

    @property
    def state(self) -> tuple:
        """Names of the state tensors shaped like a parameter, in order."""
        return self.step.state

    @property
    def run_state(self) -> dict:
        """Names of the one-number-per-run states and their initial values."""
        return self.step.run_state


REGISTRY: dict[str, OptimizerDef] = {}


def register(opt: OptimizerDef) -> OptimizerDef:
    REGISTRY[opt.name] = opt
    return opt


def _torch(cls, **rename):
    """A reference factory: torch.optim ``cls`` with our hyper-parameters (betas as a pair),
    foreach=False: the plain per-tensor loop, the same arithmetic on every device."""
    def make(params, hp):
        kw = {rename.get(k, k): v for k, v in hp.items() if k not in ("beta1", "beta2")}
        if "beta1" in hp:
            kw["betas"] = (hp["beta1"], hp["beta2"])
        return cls(params, foreach=False, **kw)
    return make


_T51 = "Table 5.1; torch.optim's defaults for the rest"
_SIX = "lr of the optimizer it modifies, Table 5.1; k = 1, as the dissertation gives no value"
register(OptimizerDef(
    "sgd", sgd_step, dict(lr=0.1, momentum=0.0, weight_decay=0.0),
    r"$v_t = \gamma v_{t-1} + g_t,\ \theta_{t+1} = \theta_t - \eta v_t$ (Eq. 4.15)", _T51,
    reference=_torch(torch.optim.SGD)))
register(OptimizerDef(
    "adagrad", adagrad_step, dict(lr=0.1, eps=1e-10, weight_decay=0.0),
    r"$G_t = G_{t-1} + g_t^2,\ \theta_{t+1} = \theta_t - \eta\, g_t / (\sqrt{G_t} + \epsilon)$ (Eq. 4.17)", _T51,
    reference=_torch(torch.optim.Adagrad)))
register(OptimizerDef(
    "adadelta", adadelta_step, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
    r"$\Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1}+\epsilon}}{\sqrt{E[g^2]_t+\epsilon}} g_t,\ "
    r"\theta_{t+1} = \theta_t - \eta \Delta_t$ (Eqs 4.19-4.23)", _T51,
    reference=_torch(torch.optim.Adadelta)))
register(OptimizerDef(
    "adam", adam_step, dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    r"$\theta_{t+1} = \theta_t - \eta\, \hat p_t / (\sqrt{\hat q_t} + \epsilon)$ (Eqs 4.24-4.25)", _T51,
    reference=_torch(torch.optim.Adam)))
register(OptimizerDef(
    "rmsprop", rmsprop_step, dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0),
    r"$G_t = \alpha G_{t-1} + (1-\alpha) g_t^2,\ \theta_{t+1} = \theta_t - \eta\, g_t / (\sqrt{G_t} + \epsilon)$",
    "torch.optim.RMSprop's defaults", reference=_torch(torch.optim.RMSprop)))
register(OptimizerDef(
    "nesterov", sgd_step, dict(lr=0.1, momentum=0.9, weight_decay=0.0),
    r"$v_t = \gamma v_{t-1} + g_t,\ \theta_{t+1} = \theta_t - \eta (g_t + \gamma v_t)$",
    "SGD's lr of Table 5.1; momentum 0.9, section 5.12's: torch.optim's default, 0, is refused with Nesterov",
    fixed=dict(nesterov=True),
    reference=lambda params, hp: torch.optim.SGD(params, nesterov=True, foreach=False, **hp),
    check=lambda hp: None if hp["momentum"] > 0 else ("momentum", "Nesterov momentum needs momentum > 0")))
register(OptimizerDef(
    "adamw", adam_step, dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2),
    r"$\theta_t \leftarrow (1 - \eta\lambda)\theta_t$, then Adam without weight decay",
    "torch.optim.AdamW's defaults", fixed=dict(decoupled=True), reference=_torch(torch.optim.AdamW)))
register(OptimizerDef(
    "adamax", adamax_step, dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    r"$u_t = \max(\beta_2 u_{t-1}, \lvert g_t\rvert + \epsilon),\ "
    r"\theta_{t+1} = \theta_t - \frac{\eta}{1-\beta_1^t}\, p_t / u_t$",
    "torch.optim.Adamax's defaults", reference=_torch(torch.optim.Adamax)))
register(OptimizerDef(
    "nadam", nadam_step, dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, momentum_decay=4e-3),
    # in pieces a table cell can wrap between (one long formula overflowed the book's page)
    r"$\theta_{t+1} = \theta_t - \eta\,(a_t g_t + b_t p_t) / (\sqrt{\hat q_t} + \epsilon)$ with "
    r"$a_t = (1-\mu_t) / (1-\prod_{i\le t}\mu_i)$, $b_t = \mu_{t+1} / (1-\prod_{i\le t+1}\mu_i)$, "
    r"$\mu_t = \beta_1(1 - \frac12 0.96^{t\psi})$", "torch.optim.NAdam's defaults", reference=_torch(torch.optim.NAdam)))
register(OptimizerDef(
    "adagrad_mod", adagrad_p_step, dict(lr=0.1, eps=1e-10, weight_decay=0.0, k=1.0),
    r"$\theta_{t+1} = \theta_t - \frac{\eta k G_t^2}{\sqrt{G_t} + \epsilon} g_t$ (Eq. 6.1)", _SIX,
    fixed=dict(p=2.0)))
register(OptimizerDef(
    "adadelta_mod", adadelta_p_step, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, k=1.0),
    r"$\theta_{t+1} = \theta_t - \eta k (E[g^2]_t)^2 \frac{\sqrt{E[\Delta\theta^2]_{t-1}+\epsilon}}"
    r"{\sqrt{E[g^2]_t+\epsilon}} g_t$ (Eq. 6.2)", _SIX, fixed=dict(p=2.0)))
register(OptimizerDef(
    "adagrad_p", adagrad_p_step, dict(lr=0.1, eps=1e-10, weight_decay=0.0, k=1.0, p=0.0),
    r"$\theta_{t+1} = \theta_t - \frac{\eta k G_t^p}{\sqrt{G_t} + \epsilon} g_t$",
    _SIX + "; p = 0, so the defaults are Adagrad's"))
register(OptimizerDef(
    "adadelta_p", adadelta_p_step, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, k=1.0, p=0.0),
    r"$\theta_{t+1} = \theta_t - \eta k (E[g^2]_t)^p \Delta_t$",
    _SIX + "; p = 0, so the defaults are Adadelta's"))

register(OptimizerDef(
    "vsgd", vsgd_step, {},
    r"$\eta_i = \frac{\bar g_i^2}{\bar h_i\,(\bar v_i / n + (n-1)\bar g_i^2 / n)},\ "
    r"\theta_{t+1} = \theta_t - \eta \odot g_t$ (running averages over an adaptive memory)",
    "none to tune: Schaul et al.'s vSGD, slow start C = max(2, d / 10)", fixed=dict(eps=1e-30),
    needs=("grad_sq", "curvature")))
register(OptimizerDef(
    "vsgd_b", vsgd_b_step, {},
    r"$\eta_b = \frac{\sum_{i \in b} \bar g_i^2}{\max_{i \in b} \bar h_i \sum_{i \in b}"
    r"(\bar v_i / n + (n-1)\bar g_i^2 / n)}$ per layer $b$",
    "none to tune: Schaul et al.'s vSGD-b, slow start C = max(2, d / 10)", fixed=dict(eps=1e-30),
    needs=("grad_sq", "curvature")))

# The authors' code, then with each of two of its departures from the paper undone.
for name, formula, source, fixed in (
        ("vsgd_authors",
         r"vSGD's $\eta_i$ after 10 batches of warm-up, $\bar v$ started 2 times too large, "
         r"$\tau_i \mathrel{+}= 1$ where $(g_i - \bar g_i)^2 > (\bar v_i - \bar g_i^2)/n$",
         "vSGD as its authors' code (py-optim) runs it", {}),
        ("vsgd_authors_original", r"as `vsgd_authors`, without the outlier test",
         "the authors' code's vSGD_original, their 2012 version", dict(outlier=None)),
        ("vsgd_authors_slow",
         r"as `vsgd_authors`, but $\bar v$ and $\bar h$ started $C = \max(2, d/10)$ times too large",
         "the authors' code with the paper's slow start", dict(paper_slow_start=True))):
    register(OptimizerDef(name, vsgd_authors_step, {}, formula, "none to tune: " + source,
                          fixed=dict(eps=1e-9, **fixed), needs=("grad_sq", "curvature")))

_FD = "Schaul & LeCun's vSGD-fd as its authors' code (py-optim's vSGDfd) runs it"
for name, formula, source, fixed in (
        ("vsgd_fd",
         r"$\eta_i = r_i\,(\bar h_i + \epsilon) / (\bar v^h_i + \epsilon)$, $r_i$ as `vsgd_authors`; $\bar h$, $\bar v^h$ "
         r"the averages of $h = \lvert g(\theta) - g(\theta + \bar g)\rvert / \lvert \bar g\rvert$ and $h^2$ per sample",
         _FD, {}),
        ("vsgd_fd_slow", r"as `vsgd_fd`, but $\bar v$ and $\bar v^h$ started $C = \max(2, d/10)$ times too large",
         _FD + ", with a slow start like the paper's", dict(paper_slow_start=True))):
    register(OptimizerDef(name, vsgd_fd_step, {}, formula, "none to tune: " + source,
                          fixed=dict(eps=1e-9, **fixed), needs=("grad_sq", "fd_curvature", "fd_curvature_sq"),
                          probe=vsgd_fd_probe))

OPTIMIZERS = ("sgd", "adagrad", "adadelta", "adam")  # the dissertation's four: experiments and plots
ALL_OPTIMIZERS = tuple(REGISTRY)
BASELINE = {name: dict(opt.defaults) for name, opt in REGISTRY.items()}
# The hyper-parameters each optimizer reads; anything else set away from its default is an error.
REFERENCE_STEPS = {name: REGISTRY[name].step for name in OPTIMIZERS}


def hyperparameters(name: str, **overrides) -> dict:
    """The full hyper-parameter set of optimizer ``name``: baseline values, then ``overrides``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(ALL_OPTIMIZERS)}")
    hp = dict(BASELINE[name])
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in hp:
            raise ValueError(f"optimizer {name!r} has no hyper-parameter {k!r}; it takes {', '.join(hp)}")
        hp[k] = float(v)
    problem = REGISTRY[name].check(hp) if REGISTRY[name].check else None
    if problem:
        raise ValueError(f"{problem[0]}: {problem[1]}")
    return hp


class RuleOptimizer(torch.optim.Optimizer):
    """A registered rule as a torch.optim optimizer (one state dict and step count per
    parameter, plain-number hyper-parameters): the reference loop's optimizer where
    torch.optim has none."""

    def __init__(self, params, name: str, **hp):
        self.rule = REGISTRY[name]
        super().__init__(params, hyperparameters(name, **hp))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hp = {k: group[k] for k in self.rule.defaults}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                self.rule.step(p, p.grad, state, state["step"], **hp, **self.rule.fixed)
        return loss


# What a rule with ``needs`` takes, per parameter (shaped like it), from one minibatch of n samples.
NEEDS = {"grad_sq": "mean over the batch of each sample's squared gradient",
         "curvature": "mean over the batch of the diagonal Gauss-Newton curvature (bbprop)",
         "fd_curvature": "mean over the batch of each sample's finite-difference curvature "
                         "|g_s(theta) - g_s(theta + delta)| / |delta|, delta the rule's probe",
         "fd_curvature_sq": "mean over the batch of the square of each sample's finite-difference curvature"}
# ... and, as plain numbers, ``batch_size`` (the batch's n), ``model_size`` (one network's
# number of parameters) and ``run_dims`` (1 in the engine: the leading dimension indexes runs).


def make_optimizer(name: str, params, **hp) -> torch.optim.Optimizer:
    """The reference loop's optimizer ``name`` with its baseline settings, overridden by ``hp``:
    torch.optim's own where it has one, else ``RuleOptimizer``."""
    hp = hyperparameters(name, **hp)
    opt = REGISTRY[name]
    if opt.needs:
        raise ValueError(f"optimizer {name!r} needs {' and '.join(opt.needs)} of every minibatch, which only "
                         "the stacked engine computes (sparsel.engine): train it as an MLP on one task with "
                         "the engine (the default; not use_engine=False)")
    return opt.reference(params, hp) if opt.reference else RuleOptimizer(params, name, **hp)
