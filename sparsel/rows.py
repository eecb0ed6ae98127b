"""Batch-1 updates of a first layer that touch only the weights of inked pixels.

At batch 1 the gradient of a first-layer weight matrix is the outer product of the layer's
error d [H] and the image x [784], and about 81 % of an MNIST image's pixels are exactly 0:
their weights get a zero gradient. Under SGD without momentum or weight decay, Adagrad without
weight decay and Adadelta without weight decay, a zero gradient leaves the weight where it is;
Adagrad's sum is unchanged too, and Adadelta's two running averages are only multiplied by rho.
So those rules can update just the rows of inked pixels (19 % of the weights on average) and,
for Adadelta, replay a row's missed multiplications by rho when its pixel is next inked (and for
every row at the end of an epoch). That is the same arithmetic in the same order: the weights
and states come out bit for bit as the compiled dense update leaves them, the one full-scale
CPU groups run (``tests/test_rows.py``; inductor compiles without fused multiply-adds, as here,
while ATen's eager kernels fuse some, so the eager update differs from both in the last bit).
That holds for finite errors: where a run's error is inf or NaN, the dense update also writes
NaN into blank pixels' weights (0 inf), these kernels only into inked ones; either way the run
is recorded as diverged.
At batch 1 the update is most of a step's memory traffic, and the batch-1 runs most of the
study's time on a CPU.

The row loops are a few lines of C, compiled once with the system's C compiler into
``~/.cache/sparsel/rows`` (``SPARSEL_CACHE`` moves it) and called through ctypes: torch.compile
cannot update rows picked at run time in place (it gathers them, computes, and scatters them
back, three times the traffic of an in-place pass). Without a C compiler, or with
``SPARSEL_ROWS=0``, the engine updates every weight, as before.

Each C expression is the one ``sparsel.optim``'s rule evaluates, in float32, with contraction
into fused multiply-adds turned off; rows are the weights fed by one pixel, so the engine keeps
the first layer's weights (and these rules' states) stored pixel-major, [R, 784, H], and shows
them as the usual [R, H, 784] views.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

SOURCE = r"""
#include <math.h>
#include <stdint.h>

/* W [R, D, H]: row i holds the weights fed by input i; x [R, D] the runs' images;
   d [R, H] the layer's error (the gradient of row i is x_i d). Per-run numbers are float32. */

/* z [R, H]: the first layer's pre-activations for one image per run, b + x W, summed over
   the inked inputs only, in input order (each run's sum is its own: alone or stacked, the same). */
void first_layer_rows(float *z, const float *W, const float *b, const float *x,
                      int64_t R, int64_t D, int64_t H)
{
    for (int64_t r = 0; r < R; r++) {
        float *zr = z + r * H;
        for (int64_t h = 0; h < H; h++) zr[h] = 0.0f;
        for (int64_t i = 0; i < D; i++) {
            const float xi = x[r * D + i];
            if (xi == 0.0f) continue;
            const float *w = W + (r * D + i) * H;
            for (int64_t h = 0; h < H; h++) zr[h] = zr[h] + xi * w[h];
        }
        for (int64_t h = 0; h < H; h++) zr[h] = zr[h] + b[r * H + h];
    }
}

void sgd_rows(float *W, const float *x, const float *d, const float *lr,
              int64_t R, int64_t D, int64_t H)
{
    for (int64_t r = 0; r < R; r++) {
        const float a = lr[r], *dr = d + r * H;
        for (int64_t i = 0; i < D; i++) {
            const float xi = x[r * D + i];
            if (xi == 0.0f) continue;
            float *w = W + (r * D + i) * H;
            for (int64_t h = 0; h < H; h++) {
                const float g = dr[h] * xi;
                w[h] = w[h] - a * g;
            }
        }
    }
}

void adagrad_rows(float *W, float *G, const float *x, const float *d, const float *lr,
                  const float *eps, int64_t R, int64_t D, int64_t H)
{
    for (int64_t r = 0; r < R; r++) {
        const float a = lr[r], e = eps[r], *dr = d + r * H;
        for (int64_t i = 0; i < D; i++) {
            const float xi = x[r * D + i];
            if (xi == 0.0f) continue;
            float *w = W + (r * D + i) * H, *s = G + (r * D + i) * H;
            for (int64_t h = 0; h < H; h++) {
                const float g = dr[h] * xi;
                const float sum = s[h] + g * g;
                s[h] = sum;
                w[h] = w[h] - (a * g) / (sqrtf(sum) + e);
            }
        }
    }
}

/* n idle steps of a running average: v = rho v + (1 - rho) 0^2, n times. Stops early once the
   whole row is zero, which 0 rho keeps (NaN and inf are not zero); with denormals flushed to
   zero, as training runs, a row decaying geometrically gets there within some hundred steps. */
static void decay(float *v, int64_t H, float rho, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        int any = 0;
        for (int64_t h = 0; h < H; h++) {
            v[h] = v[h] * rho;
            any |= v[h] != 0.0f;
        }
        if (!any) return;
    }
}

/* last [R, D]: the step up to which each row's averages are current. Rows of inked pixels are
   brought up to step t - 1 and then take step t; with flush != 0 every row is brought up to t
   and none is updated (the end of an epoch). */
void adadelta_rows(float *W, float *E, float *X, int64_t *last, const float *x, const float *d,
                   const float *lr, const float *rho, const float *c, const float *eps,
                   int64_t t, int flush, int64_t R, int64_t D, int64_t H)
{
    for (int64_t r = 0; r < R; r++) {
        const float a = lr[r], p = rho[r], q = c[r], e = eps[r], *dr = d ? d + r * H : 0;
        for (int64_t i = 0; i < D; i++) {
            const int64_t k = r * D + i;
            const float xi = flush ? 0.0f : x[k];
            if (!flush && xi == 0.0f) continue;
            float *w = W + k * H, *eg2 = E + k * H, *edx2 = X + k * H;
            const int64_t idle = t - last[k] - (flush ? 0 : 1);
            decay(eg2, H, p, idle);
            decay(edx2, H, p, idle);
            last[k] = t;
            if (flush) continue;
            for (int64_t h = 0; h < H; h++) {
                const float g = dr[h] * xi;
                const float avg = eg2[h] * p + g * (g * q);
                eg2[h] = avg;
                const float delta = sqrtf(edx2[h] + e) / sqrtf(avg + e) * g;
                edx2[h] = edx2[h] * p + delta * (delta * q);
                w[h] = w[h] - a * delta;
            }
        }
    }
}
"""

# optimizer -> (its states the kernel updates, what a run must take for a zero gradient to leave
# its weight alone: no momentum or weight decay; eps > 0, else 0 / (sqrt(0) + 0) = NaN there)
KERNELS = {
    "sgd": ((), lambda s: s.momentum == 0 and s.weight_decay == 0),
    "adagrad": (("G",), lambda s: s.weight_decay == 0 and s.eps > 0),
    "adadelta": (("eg2", "edx2"), lambda s: s.weight_decay == 0 and s.eps > 0),
}

_LIB: ctypes.CDLL | None | bool = False  # False: not tried yet
_WHY = ""


def _cache_dir() -> Path:
    return Path(os.environ.get("SPARSEL_CACHE", Path.home() / ".cache" / "sparsel")) / "rows"


def library() -> ctypes.CDLL | None:
    """The compiled row kernels (built on first use, then loaded from the cache), or None where
    they cannot be had: ``SPARSEL_ROWS=0``, or no working C compiler (``why_not`` says which)."""
    global _LIB, _WHY
    if os.environ.get("SPARSEL_ROWS", "1") == "0":
        _WHY = "SPARSEL_ROWS=0"
        return None
    if _LIB is not False:
        return _LIB
    # as inductor compiles the dense update: no fused multiply-adds, IEEE arithmetic, this
    # CPU's vector width (-fno-math-errno only lets sqrtf be vectorised: it sets no errno)
    flags = ["-O3", "-march=native", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno"]
    # -march=native: a build is for this machine only (a home directory may be shared)
    tag = hashlib.sha256((SOURCE + " ".join(flags) + platform.node() + platform.machine()).encode()).hexdigest()[:16]
    so = _cache_dir() / f"rows-{tag}.so"
    try:
        if not so.exists():
            cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
            if cc is None:
                raise OSError("no C compiler (cc, gcc or clang) on PATH; set CC to one")
            so.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=so.parent) as tmp:  # same filesystem: os.replace works
                src = Path(tmp) / "rows.c"
                src.write_text(SOURCE)
                out = Path(tmp) / so.name
                done = subprocess.run([cc, *flags, "-o", str(out), str(src), "-lm"], capture_output=True, text=True)
                if done.returncode:
                    raise OSError(f"{cc} could not build them: {done.stderr.strip()[:300]}")
                os.replace(out, so)  # atomic: concurrent workers never load half a file
        lib = ctypes.CDLL(str(so))
    except OSError as err:  # FileNotFoundError too: CC names no program
        _LIB, _WHY = None, f"{type(err).__name__}: {err}"
        return None
    i64, p = ctypes.c_int64, ctypes.c_void_p
    lib.first_layer_rows.argtypes = [p, p, p, p, i64, i64, i64]
    lib.sgd_rows.argtypes = [p, p, p, p, i64, i64, i64]
    lib.adagrad_rows.argtypes = [p, p, p, p, p, p, i64, i64, i64]
    lib.adadelta_rows.argtypes = [p, p, p, p, p, p, p, p, p, p, i64, ctypes.c_int, i64, i64, i64]
    for f in (lib.first_layer_rows, lib.sgd_rows, lib.adagrad_rows, lib.adadelta_rows):
        f.restype = None
    _LIB = lib
    return lib


def why_not() -> str:
    """Why ``library()`` returned None ('' if it did not)."""
    return _WHY


_TOLD = False


def notice_once() -> None:
    """One line, once per process, where batch-1 runs train without the row kernels."""
    global _TOLD
    if not _TOLD and why_not() != "SPARSEL_ROWS=0":
        _TOLD = True
        print(f"sparsel: batch-1 row kernels unavailable ({why_not()}); updating every first-layer "
              "weight instead (the same rules, slower)", flush=True)


def applies(name: str, specs) -> bool:
    """Whether optimizer ``name``'s runs ``specs`` can update only the rows of inked pixels:
    it has a kernel, and every run takes the hyper-parameters under which a zero gradient
    changes neither weight nor state (beyond Adadelta's decay)."""
    return name in KERNELS and all(KERNELS[name][1](s) for s in specs)


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _check(what, t, shape):
    """C reads ``t`` as a contiguous float32 CPU array of ``shape``: anything else is refused,
    never read out of bounds."""
    if t.device.type != "cpu" or t.dtype != torch.float32 or tuple(t.shape) != tuple(shape):
        raise ValueError(f"{what} must be float32 on the CPU, shaped {tuple(shape)}; "
                         f"got {t.dtype} on {t.device}, shaped {tuple(t.shape)}")


@torch.library.custom_op("sparsel::first_layer", mutates_args=())
def first_layer(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pre-activations [R, H] of a first layer for one image per run, ``x`` [R, 784], from its
    pixel-major weights ``W`` [R, 784, H] and biases ``b`` [R, H] (float32, CPU): b + x W, read
    only from the rows of inked pixels. An opaque op to compiled code, so the step's compiled
    graph calls it as it is."""
    lib = library()
    if lib is None:
        raise RuntimeError(f"row kernels unavailable ({why_not()})")
    x, W, b = x.contiguous(), W.contiguous(), b.contiguous()
    if W.dim() != 3:
        raise ValueError(f"first_layer takes weights [R, inputs, units]; got {tuple(W.shape)}")
    _check("weights", W, W.shape)
    _check("images", x, W.shape[:2])
    _check("biases", b, (W.shape[0], W.shape[2]))
    z = torch.empty(W.shape[0], W.shape[2], dtype=W.dtype)
    lib.first_layer_rows(_ptr(z), _ptr(W), _ptr(b), _ptr(x), W.shape[0], W.shape[1], W.shape[2])
    return z


@first_layer.register_fake
def _(x, W, b):
    return W.new_empty(W.shape[0], W.shape[2])


class FirstLayerRows:
    """One optimizer's runs of a stack: updates their first-layer weights ``W`` (a [R, H, 784]
    view of pixel-major storage) and its states row by row, given each step's images and errors.

    ``state``: that rule's state tensors of W, by name, stored like W; ``specs``: the runs.
    """

    def __init__(self, name, W, state, specs):
        self.lib, self.name = library(), name
        if self.lib is None:
            raise RuntimeError(f"row kernels unavailable ({why_not()})")
        self.W = self._rows(W, "the first layer's weights")
        self.states = [self._rows(state[n], f"{name}'s state {n!r}") for n in KERNELS[name][0]]
        if len(specs) != W.shape[0] or any(st.shape != self.W.shape for st in self.states):
            raise ValueError(f"{len(specs)} runs' specs and states shaped "
                             f"{[tuple(st.shape) for st in self.states]} for weights of {W.shape[0]} runs "
                             f"shaped {tuple(self.W.shape)} (pixel-major)")
        f32 = lambda k: torch.tensor([float(getattr(s, k)) for s in specs], dtype=torch.float32)  # noqa: E731
        self.lr = f32("lr")
        self.R, self.D, self.H = self.W.shape
        if name == "adagrad":
            self.eps = f32("eps")
        if name == "adadelta":
            self.rho, self.eps = f32("rho"), f32("eps")
            # optim._average_sq multiplies by (1 - rho) computed in float64, then rounded
            self.c = torch.tensor([1 - float(s.rho) for s in specs], dtype=torch.float64).float()
            self.last = None  # set at the first step: the state is current up to the step before

    @staticmethod
    def _rows(t, what):
        rows = t.transpose(1, 2)
        if t.device.type != "cpu" or t.dtype != torch.float32 or not rows.is_contiguous():
            raise ValueError(f"{what} must be float32 on the CPU, stored pixel-major ([R, 784, H] "
                             f"contiguous, shown as a transposed view); got {t.dtype} on {t.device}, "
                             f"strides {tuple(t.stride())}")
        return rows

    def step(self, x, d, t: int):
        """Step ``t`` (1 at the first) of this rule, for images ``x`` [R, 784] and the first
        layer's errors ``d`` [R, H] (float32, CPU)."""
        x, d = x.contiguous(), d.contiguous()
        _check("images", x, (self.R, self.D))
        _check("first-layer errors", d, (self.R, self.H))
        W, dims = _ptr(self.W), (self.R, self.D, self.H)
        if self.name == "sgd":
            self.lib.sgd_rows(W, _ptr(x), _ptr(d), _ptr(self.lr), *dims)
        elif self.name == "adagrad":
            self.lib.adagrad_rows(W, _ptr(self.states[0]), _ptr(x), _ptr(d), _ptr(self.lr), _ptr(self.eps), *dims)
        else:
            if self.last is None:
                self.last = torch.full((self.R, self.D), t - 1, dtype=torch.int64)
            self._adadelta(x, d, t, 0)

    def flush(self, t: int):
        """Bring every row's state up to step ``t`` (Adadelta's averages of rows not inked
        since), so the states are what the dense update would hold, as a checkpoint saves them."""
        if self.name == "adadelta" and self.last is not None:
            self._adadelta(None, None, t, 1)

    def _adadelta(self, x, d, t, flush):
        E, X = self.states
        self.lib.adadelta_rows(_ptr(self.W), _ptr(E), _ptr(X), _ptr(self.last),
                               None if x is None else _ptr(x), None if d is None else _ptr(d),
                               _ptr(self.lr), _ptr(self.rho), _ptr(self.c), _ptr(self.eps),
                               int(t), flush, self.R, self.D, self.H)
