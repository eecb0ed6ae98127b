"""The stacked engine against the reference loop, run by run, and its grouping."""
import math

import pytest
import torch

from sparsel import engine
from sparsel import optim as O
from sparsel.metrics import FIELDS, PRECISION_K
from sparsel.spec import RunSpec
from sparsel.train import train_run

METRICS = ("loss", "accuracy", *FIELDS)
# Metrics that count comparisons (ranks, thresholds, top-k): a rounding-level change can flip
# one comparison and move a unit's value by one count (1/P for informedness, 1/k for precision).
COUNTING = {"informedness", "informedness_std", "precision100", "precision100_std", "auroc", "auroc_std",
            "active_fraction", "active_fraction_std", "dead_fraction", "localist_fraction"}
# Stated tolerance: SGD, Adadelta and Adam agree to fp32 rounding. Adagrad's first steps divide
# by the root of a near-empty accumulator, so rounding-level differences in near-zero gradients
# grow into lr-sized steps; its numbers agree to 2e-3. Accuracy may differ by one image of a split.
TOL = {"sgd": 1e-5, "adadelta": 1e-5, "adam": 1e-5, "adagrad": 2e-3}
# The added optimizers (issue 11), against torch.optim where it has them, else against the same
# registered rule wrapped as a torch.optim optimizer (RuleOptimizer) in the reference loop.
# RMSprop's first steps, like Adagrad's, divide by the root of a near-empty average (here
# 0.01 g^2), so it and the Adagrad p-family share Adagrad's tolerance.
# vSGD divides by its curvature average, small for weights from faint pixels: rounding in the
# statistics grows like Adagrad's.
TOL["vsgd"] = TOL["vsgd_b"] = TOL["vsgd_authors"] = TOL["vsgd_fd"] = TOL["vsgd_fd_slow"] = 2e-3
TOL.update({"nesterov": 1e-5, "adamw": 1e-5, "adamax": 1e-5, "nadam": 1e-5, "rmsprop": 2e-3,
            "adagrad_p": 2e-3, "adadelta_p": 1e-5})


def spec(opt, seed, **kw):
    fields = dict(epochs=2, train_size=1000, test_size=500, batch_size=10, hidden=(32, 16))
    return RunSpec(optimizer=opt, seed=seed, **{**fields, **kw})


GROUPS = [
    [spec("sgd", 1), spec("sgd", 2, momentum=0.9, weight_decay=1e-3), spec("sgd", 3, lr=0.5)],
    [spec("adagrad", 1), spec("adagrad", 2, lr=0.01)],
    [spec("adadelta", 1), spec("adadelta", 2, rho=0.5, weight_decay=1e-4)],
    [spec("adam", 1), spec("adam", 2, beta1=0.5, beta2=0.9, lr=3e-3)],
    [spec("adam", 1, order="classes", order_k=2), spec("adam", 4, order="classes", order_k=2)],
    [spec("sgd", 1, batch_size=1, order="consecutive", order_k=5, hidden=(16,), activation="relu")],
    # every order but 'consecutive' feeds each image once per epoch: they share a stack
    [spec("sgd", 1), spec("adam", 2, order="sorted"), spec("adagrad", 3, order="classes", order_k=2),
     spec("sgd", 4, order="classes_even", order_k=5)],
    [spec("rmsprop", 1), spec("rmsprop", 2, alpha=0.9, lr=3e-3, weight_decay=1e-4)],
    [spec("nesterov", 1), spec("nesterov", 2, momentum=0.5, lr=0.3, weight_decay=1e-3)],
    [spec("adamw", 1), spec("adamw", 2, beta1=0.5, beta2=0.9, weight_decay=0.1, lr=3e-3)],
    [spec("adamax", 1), spec("adamax", 2, beta2=0.9, lr=1e-2)],
    [spec("nadam", 1), spec("nadam", 2, beta1=0.8, momentum_decay=0.01, weight_decay=1e-4)],
    # section 6.3.1's optimizers and their p-family (no torch.optim: the reference loop wraps the rule).
    # Eq. 6.1 at k = 1 barely moves in 200 steps and blows up from k = 100; Eq. 6.2 trains at k = 1e4.
    [spec("adagrad_p", 1, p=0.5, lr=0.01), spec("adagrad_p", 2, p=0.25, k=2.0, lr=0.01), spec("adagrad_mod", 3)],
    [spec("adadelta_p", 1, p=0.5), spec("adadelta_p", 2, p=1.0, k=50.0, rho=0.8), spec("adadelta_mod", 3, k=1e4)],
]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: f"{g[0].optimizer}-{g[0].order}")
def test_stacked_runs_equal_the_same_runs_alone(group, small):
    stacked = engine.train_group(group, "cpu", data=small)
    # 2,000 sequential batch-1 steps amplify rounding further; still far below any real effect.
    # The engine's batch-1 forward pass sums each unit over inked pixels in pixel order
    # (sparsel.rows), not as the reference's matrix-vector product does: the two drift apart
    # from the first step (on localist_margin_std, checked relative to its value, by 3.6e-3,
    # against 7e-4 for the dense engine).
    tol = TOL[group[0].optimizer] if group[0].batch_size > 1 else 5e-3
    for s, got in zip(group, stacked):
        want = train_run(s, small, "cpu")
        assert got.diverged == want.diverged
        assert len(got.rows) == len(want.rows) == 3 * (s.epochs + 1) * (len(s.hidden) + 2) - (len(s.hidden) + 2)
        for a, b in zip(got.rows, want.rows):
            assert (a["epoch"], a["split"], a["layer"]) == (b["epoch"], b["split"], b["layer"])
            n_images = s.test_size if a["split"] == "test" else s.train_size
            units = min(s.hidden) if a["layer"] in ("mean", "weighted") else s.hidden[int(a["layer"]) - 1]
            for m in METRICS:
                # accuracy is counted in whole images: a flipped prediction moves it by 1/n
                t = max(tol, 1.001 / n_images) if m == "accuracy" else tol
                if m in COUNTING:  # two flipped comparisons in one unit of the layer
                    t = max(tol, 2.001 / (min(n_images // 10, PRECISION_K) * units))
                # kurtosis and the localist margin (in ReLU activation units) are unbounded: relative
                rel = tol if m.startswith(("lifetime_kurtosis", "localist_margin")) else None
                assert a[m] == pytest.approx(b[m], abs=t, rel=rel, nan_ok=True), (s.seed, a["epoch"], a["split"], m)


def test_a_runs_numbers_do_not_depend_on_its_group(small):
    a, b, c = spec("adam", 1), spec("adam", 2, lr=1e-2), spec("adam", 3, beta2=0.9)
    alone = engine.train_group([a], "cpu", data=small)[0].rows
    grouped = engine.train_group([b, a, c], "cpu", data=small)[1].rows
    for x, y in zip(alone, grouped):
        for m in METRICS:
            assert x[m] == pytest.approx(y[m], abs=1e-6, nan_ok=True)


def test_one_diverging_run_does_not_disturb_the_others(small):
    from sparsel.data import MNIST
    good = [spec("sgd", 1), spec("sgd", 2)]
    ref = engine.train_group(good, "cpu", data=small)
    # A run with an infinite learning rate: NaN weights after its first step.
    mixed = engine.train_group([good[0], spec("sgd", 3, lr=float("inf")), good[1]], "cpu", data=small)
    assert mixed[1].diverged and not mixed[0].diverged and not mixed[2].diverged
    assert all(math.isnan(r["sparsity"]) for r in mixed[1].rows if r["epoch"] >= 1 and r["split"] == "test")
    for want, got in ((ref[0], mixed[0]), (ref[1], mixed[2])):
        for x, y in zip(want.rows, got.rows):
            assert x["sparsity"] == pytest.approx(y["sparsity"], abs=1e-6)


def test_plan_groups_packs_compatible_runs_only():
    specs = [spec("sgd", s) for s in (1, 2, 3)] + [spec("adam", 1), spec("sgd", 1, batch_size=50),
                                                   RunSpec(model="cnn", epochs=1, train_size=100, test_size=100)]
    groups = engine.plan_groups(specs, torch.device("cpu"), max_group=2)
    # optimizers share a group; batch size and model do not
    assert sorted(len(g) for g in groups) == [1, 1, 2, 2]
    for g in groups:
        assert len({engine.group_key(s) for s in g}) == 1
    with pytest.raises(ValueError, match="one group"):
        engine.train_group([spec("sgd", 1), spec("sgd", 1, batch_size=50)], "cpu")


def test_plan_groups_mixes_orders_of_equal_epochs_and_splits_evenly():
    shuffled = [spec("sgd", s, batch_size=2) for s in range(1, 10)]
    others = [spec("adam", s, batch_size=2, order=o, order_k=2)
              for s, o in enumerate(("sorted", "classes", "classes_even"))]
    # con k trims each class to a multiple of k: shorter epochs, apart from the rest at batch 1
    con = [spec("sgd", s, batch_size=1, order="consecutive", order_k=k) for s, k in ((1, 2), (2, 2), (3, 3))]
    con.append(spec("sgd", 4, batch_size=1))
    groups = engine.plan_groups(shuffled + others + con, torch.device("cpu"), max_group=8)
    # 12 runs of full epochs under a cap of 8: two stacks of 6, not 8 + 4
    assert sorted(len(g) for g in groups) == [1, 1, 2, 6, 6]
    assert sorted((g[0].order, g[0].order_k) for g in groups if g[0].batch_size == 1) == \
        [("consecutive", 2), ("consecutive", 3), ("shuffled", 1)]
    assert {s.order for g in groups if len(g) == 6 for s in g} == {"shuffled", "sorted", "classes", "classes_even"}


def test_mixed_optimizer_group_equals_single_optimizer_groups(small):
    """Four optimizers in one stack (one forward/backward) give each run's numbers as its own group."""
    mixed = [spec("adam", 1), spec("sgd", 2, momentum=0.5), spec("adadelta", 3), spec("sgd", 4), spec("adagrad", 5)]
    together = engine.train_group(mixed, "cpu", data=small)
    assert [r.spec for r in together] == mixed  # results come back in the order asked
    for s, got in zip(mixed, together):
        alone = engine.train_group([s], "cpu", data=small)[0]
        for x, y in zip(alone.rows, got.rows):
            for m in ("loss", "accuracy", "sparsity", "selectivity_avg", "gini", "informedness"):
                assert x[m] == pytest.approx(y[m], abs=1e-6, nan_ok=True), (s.optimizer, m)


def test_mixed_old_and_new_optimizers_give_each_run_its_numbers_alone(small):
    """The four optimizers and the added ones in one stack: each run's numbers as in its own group."""
    mixed = [spec("nadam", 1), spec("adam", 2, beta1=0.5), spec("rmsprop", 3, alpha=0.9), spec("sgd", 4),
             spec("adagrad_p", 5, p=0.5, lr=0.01), spec("nesterov", 6), spec("adamax", 7), spec("adadelta", 8),
             spec("adamw", 9), spec("adadelta_mod", 10, k=1e4), spec("nadam", 11, lr=1e-3)]
    together = engine.train_group(mixed, "cpu", data=small)
    assert [r.spec for r in together] == mixed
    for s, got in zip(mixed, together):
        alone = engine.train_group([s], "cpu", data=small)[0]
        for x, y in zip(alone.rows, got.rows):
            for m in ("loss", "accuracy", "sparsity", "selectivity_avg", "gini", "informedness"):
                assert x[m] == pytest.approx(y[m], abs=1e-6, nan_ok=True), (s.optimizer, m)


def test_stacked_optimizer_equals_the_reference_optimizers_for_every_registered_name():
    """One run of every optimizer (two of some, with other settings) in one StackedOptimizer, on
    random parameters and gradients: each run's slice of the stack, updated in place through the
    engine's views, equals make_optimizer's optimizer (torch.optim or RuleOptimizer) on that run.
    (vSGD takes per-sample statistics no reference loop computes: see the vSGD tests below.)"""
    specs = [RunSpec(optimizer=n, seed=i) for i, n in enumerate(O.ALL_OPTIMIZERS) if not O.REGISTRY[n].needs]
    specs += [RunSpec(optimizer="adam", beta2=0.9, weight_decay=0.1), RunSpec(optimizer="nesterov", momentum=0.5),
              RunSpec(optimizer="adagrad_p", p=1.0, k=3.0), RunSpec(optimizer="nadam", momentum_decay=0.1)]
    specs.sort(key=lambda s: O.ALL_OPTIMIZERS.index(s.optimizer))
    R, g = len(specs), torch.Generator().manual_seed(0)
    W, b = torch.randn(R, 6, 5, generator=g), torch.randn(R, 6, generator=g)
    W0 = W.clone()
    refs = [torch.nn.Parameter(W[r].clone()) for r in range(R)], [torch.nn.Parameter(b[r].clone()) for r in range(R)]
    opts = [O.make_optimizer(s.optimizer, [refs[0][r], refs[1][r]], **s.hp) for r, s in enumerate(specs)]
    stacked = engine.StackedOptimizer(specs, [W, b], "cpu")
    for _ in range(14):  # past the authors' vSGD's 10 batches of warm-up
        gW, gb = 0.1 * torch.randn(R, 6, 5, generator=g), 0.1 * torch.randn(R, 6, generator=g)
        stacked.step([W, b], [gW, gb])
        for r, opt in enumerate(opts):
            refs[0][r].grad, refs[1][r].grad = gW[r].clone(), gb[r].clone()
            opt.step()
    for r, s in enumerate(specs):
        torch.testing.assert_close(W[r], refs[0][r].detach(), rtol=1e-5, atol=1e-6, msg=s.optimizer)
        torch.testing.assert_close(b[r], refs[1][r].detach(), rtol=1e-5, atol=1e-6, msg=s.optimizer)
        assert not torch.equal(W[r], W0[r]), s.optimizer  # it trained


def stop_after_first_epoch(group, data, checkpoint_dir):
    """Train ``group`` with checkpoints in ``checkpoint_dir`` until a deadline that passes after
    its first epoch's checkpoint: stopped there (``engine.Stopped``), as a killed campaign is."""
    calls = {"n": 0}
    real_time = engine.time.time

    def clock():
        return real_time() + (1e6 if calls["n"] >= 1 else 0)

    def count(_r):
        calls["n"] += 1
    engine.time.time = clock
    try:
        with pytest.raises(engine.Stopped):
            engine.train_group(group, "cpu", data=data, on_epoch=count, checkpoint_dir=checkpoint_dir,
                               deadline=real_time() + 1e5, checkpoint_every=0)
    finally:
        engine.time.time = real_time


def test_resume_from_a_checkpoint_is_bit_exact(small, tmp_path):
    """Kill a group after epoch k (here: stop at the deadline) and resume: the same numbers."""
    group = [spec("adam", 1, epochs=3), spec("sgd", 2, epochs=3, momentum=0.9)]
    want = engine.train_group(group, "cpu", data=small)
    stop_after_first_epoch(group, small, tmp_path)
    assert list(tmp_path.glob("group-*.pt"))
    import sparsel.store as store_mod
    first, later = store_mod.code_version(), "0.1.0+src.bbbbbbbbbb.g2222222"
    with pytest.MonkeyPatch.context() as m:  # the sources changed between the stop and the resume
        m.setattr(store_mod, "_CODE_VERSION", later)
        got = engine.train_group(group, "cpu", data=small, checkpoint_dir=tmp_path, checkpoint_every=0)
        st = store_mod.Store(tmp_path / "s.sqlite")
        st.put(got[0])
        st.put(want[1])
        recorded = dict(st.db.execute("SELECT key, code_version FROM runs").fetchall())
    chain = f"{later}.resumed-{first.split('+', 1)[1]}"
    assert [r.code_version for r in want] == [None, None] and [r.code_version for r in got] == [chain, chain]
    assert recorded == {group[0].key: chain, group[1].key: later}  # an uninterrupted run: the code that stored it
    for a, b in zip(want, got):
        assert len(a.rows) == len(b.rows)
        for x, y in zip(a.rows, b.rows):
            assert x.keys() == y.keys()
            assert all(x[k] == y[k] or (x[k] != x[k] and y[k] != y[k]) for k in x), (x["epoch"], x["split"])
    engine.drop_checkpoint(group, tmp_path)
    assert not list(tmp_path.glob("group-*.pt"))


def test_resumed_code_names_every_code_that_trained_a_group():
    a, b, c = "0.1.0+src.aaaa.g111", "0.1.0+src.bbbb.g222", "0.1.0+src.cccc.g333.dirty"
    assert engine.resumed_code(a, a) == a  # stopped and resumed by the same code: nothing to say
    assert engine.resumed_code(a, b) == "0.1.0+src.bbbb.g222.resumed-src.aaaa.g111"
    ab = engine.resumed_code(a, b)
    assert engine.resumed_code(ab, b) == ab  # stopped again, resumed again by b: the chain stays
    assert engine.resumed_code(ab, c) == "0.1.0+src.cccc.g333.dirty.resumed-src.bbbb.g222.resumed-src.aaaa.g111"
    assert engine.resumed_code(None, b) == "0.1.0+src.bbbb.g222.resumed-unknown"  # a checkpoint from before


def test_a_swallowed_signal_still_stops_the_group_at_an_epoch_boundary(small, tmp_path):
    """A SIGTERM handler's KeyboardInterrupt that lands in a finalizer is printed and lost;
    ``request_stop`` (which the handler calls first) must still stop the group, with its
    checkpoint, and the resumed group must give the uninterrupted numbers."""
    import gc
    import sys
    group = [spec("adam", 1, epochs=3), spec("sgd", 2, epochs=3)]
    want = engine.train_group(group, "cpu", data=small)

    class Finalized:
        def __del__(self):
            engine.request_stop()
            raise KeyboardInterrupt("signal 15")  # where a real signal can land: Python swallows it

    def after_epoch_1(_r):
        if not engine.stop_requested():
            Finalized()
            gc.collect()
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: None
    try:
        with pytest.raises(engine.Stopped, match="stop requested before epoch 2"):
            engine.train_group(group, "cpu", data=small, on_epoch=after_epoch_1, checkpoint_dir=tmp_path,
                               checkpoint_every=0)
    finally:
        sys.unraisablehook = hook
        engine._STOP.clear()
    assert list(tmp_path.glob("group-*.pt"))
    got = engine.train_group(group, "cpu", data=small, checkpoint_dir=tmp_path, checkpoint_every=0)
    for a, b in zip(want, got):
        assert [x["accuracy"] for x in a.rows] == [y["accuracy"] for y in b.rows]
        assert [x["sparsity"] for x in a.rows] == pytest.approx([y["sparsity"] for y in b.rows], nan_ok=True, abs=0)


@pytest.mark.parametrize("names", [("sgd", "adagrad", "adadelta", "adam"), ("adamax", "nadam", "adamw", "nesterov"),
                                   ("vsgd_b",), ("vsgd_fd", "vsgd_fd_slow")])
def test_compiled_step_gives_the_eager_numbers(small, names):
    """torch.compile fuses each step's kernels (the CPU engine's speed-up); the maths must not
    change: a mixed four-optimizer group, compiled vs eager, within the alone-vs-stacked
    tolerances, and the compiled runs say so in their trainer. The second group's rules take
    per-step numbers (bias corrections, NAdam's momentum products) through ``_per_step``."""
    group = [spec(o, i + 1, **({"momentum": 0.9} if o == "sgd" else {})) for i, o in enumerate(names)]
    eager = engine.train_group(group, "cpu", data=small, compile=False)
    fused = engine.train_group(group, "cpu", data=small, compile=True)
    for s, a, b in zip(group, eager, fused):
        assert (a.trainer, b.trainer) == ("engine", "engine+compile")
        for x, y in zip(a.rows, b.rows):
            for m in ("loss", "accuracy", "sparsity", "gini", "selectivity_avg"):
                t = max(TOL[s.optimizer], 1.001 / (s.test_size if x["split"] == "test" else s.train_size))
                assert x[m] == pytest.approx(y[m], abs=t, nan_ok=True), (s.optimizer, x["epoch"], x["split"], m)


@pytest.mark.parametrize("opts", [("adam",), ("adagrad",), ("sgd", "adagrad", "adam", "adadelta")])
def test_batch_1_stacks_compile_whole(small, opts, capsys):
    """At batch 1 the compiled step is most of the campaign's time. Unpatched, inductor 2.11-2.14
    cannot compile the whole step of an Adam or Adagrad stack (pytorch#188228, a KeyError in
    its loop fusion) and would fall back to body and update apart; a mixed stack goes through
    the step optimizer by optimizer (views of their own runs). Whole, with no fallback
    notice, and the eager numbers."""
    group = [spec(o, s, batch_size=1, epochs=1, hidden=(256,)) for o in opts for s in (1, 2)]
    eager = engine.train_group(group, "cpu", data=small, compile=False)
    fused = engine.train_group(group, "cpu", data=small, compile=True)
    assert "torch.compile failed" not in capsys.readouterr().out
    for s, a, b in zip(group, eager, fused):
        by_rows = engine.use_rows(group, "cpu") and engine.row_kernels.applies(s.optimizer, [s])
        assert b.trainer == "engine+compile" + ("+rows" if by_rows else "")
        for x, y in zip(a.rows, b.rows):
            for m in ("loss", "accuracy", "sparsity", "gini", "selectivity_avg"):
                t = max(TOL[s.optimizer], 1.001 / (s.test_size if x["split"] == "test" else s.train_size))
                assert x[m] == pytest.approx(y[m], abs=t, nan_ok=True), (s.optimizer, x["epoch"], x["split"], m)


def test_a_compiler_failure_falls_back_with_a_notice(small, monkeypatch, capsys):
    """Where torch.compile fails (no compiler, an inductor bug), the step runs uncompiled after a
    one-line notice: first body and update compiled apart, then eagerly; the eager group's
    numbers (to float rounding: a group meant for compiling goes through the step optimizer by
    optimizer), since the failing compiles ran nothing."""
    def broken(fn, **kw):
        def run(*a):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return run
    monkeypatch.setattr(engine.torch, "compile", broken)
    group = [spec("sgd", 1), spec("adam", 2)]
    eager = engine.train_group(group, "cpu", data=small, compile=False)
    fell = engine.train_group(group, "cpu", data=small, compile=True)
    out = capsys.readouterr().out
    assert "torch.compile failed on the whole step (RuntimeError: no C++ compiler found)" in out
    assert "torch.compile failed on the step's forward and backward" in out and "more detail" not in out
    for s, a, b in zip(group, eager, fell):
        assert len(a.rows) == len(b.rows)
        for x, y in zip(a.rows, b.rows):
            for m in ("loss", "accuracy", "sparsity", "gini", "selectivity_avg"):
                assert x[m] == pytest.approx(y[m], abs=TOL[s.optimizer], nan_ok=True), (x["epoch"], x["split"], m)


def test_compile_is_chosen_for_long_cpu_groups_only(monkeypatch):
    monkeypatch.delenv("SPARSEL_COMPILE", raising=False)
    full = RunSpec(optimizer="sgd", seed=1, batch_size=50, epochs=30)  # 36,000 steps
    smoke = RunSpec(optimizer="sgd", seed=1, batch_size=1, epochs=3, train_size=1000, test_size=500)
    assert engine.use_compile([full], "cpu") and not engine.use_compile([smoke], "cpu")
    assert not engine.use_compile([full], "cuda")  # CUDA graphs there
    monkeypatch.setenv("SPARSEL_COMPILE", "1")
    assert engine.use_compile([smoke], "cpu")
    monkeypatch.setenv("SPARSEL_COMPILE", "0")
    assert not engine.use_compile([full], "cpu")


def _bits(t):
    return t.view(torch.int32) if t.dtype == torch.float32 else t.view(torch.int64)


def _denormals(t):
    """Denormal float32 entries, read from the bits (with denormals flushed, the CPU compares a
    denormal as 0). Other dtypes: none."""
    if t.dtype != torch.float32:
        return torch.zeros_like(t, dtype=torch.bool)
    b = _bits(t)
    return ((b & 0x7F800000) == 0) & ((b & 0x007FFFFF) != 0)


def test_flushing_denormals_changes_no_number(small):
    """3,000 batch-1 steps of the four optimizers, with denormals kept and flushed: the same
    weights bit for bit; the states differ only where the kept run holds a denormal (0 there)."""
    specs = [spec(o, 1, batch_size=1, hidden=(32,)) for o in ("sgd", "adagrad", "adadelta", "adam")]
    order = torch.stack([torch.randperm(1000, generator=torch.Generator().manual_seed(s)) for s in range(4)])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the mode belongs to a thread: keep all the work on this one
    out = {}
    try:
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            stack = engine.Stack(specs, "cpu")
            opt = engine.StackedOptimizer(specs, stack.params(), "cpu")
            step = engine._Step(stack, opt, small, 4, 1, (32,), torch.device("cpu"))
            for epoch in range(3):
                for i in range(1000):
                    step(order[:, i: i + 1])
            out[flush] = ([p.clone() for p in stack.params()], [t.clone() for t in opt.state])
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
    (p0, s0), (p1, s1) = out[False], out[True]
    assert sum(int(_denormals(t).sum()) for t in s0) > 100  # the case this is about did occur
    assert sum(int(_denormals(t).sum()) for t in s1) == 0
    assert all(torch.equal(_bits(a), _bits(b)) for a, b in zip(p0, p1))
    for a, b in zip(s0, s1):
        d = _denormals(a)
        assert torch.equal(_bits(a)[~d], _bits(b)[~d]) and bool((b[d].abs() == 0).all())


# --- what vSGD takes: per-sample squared gradients and bbprop's curvature ----------------------

def _per_sample_oracle(stack, r, x, y):
    """Run ``r`` of ``stack`` through autograd, one sample at a time (torch.func): the batch mean
    of each sample's squared gradient, and of sum_k p_k (1 - p_k) J_k^2 with J the Jacobian of the
    logits. The latter is the exact diagonal of the Gauss-Newton matrix with the output Hessian's
    diagonal, which bbprop reproduces whenever no two paths from a weight to a logit cross
    (one hidden layer, or a later hidden layer of width 1)."""
    from torch.func import functional_call, grad, jacrev, vmap
    params = [w[r].detach().clone() for w in stack.W] + [b[r].detach().clone() for b in stack.b]
    n = len(stack.W)

    def logits(ps, xs):
        h = xs
        for i in range(n):
            h = h @ ps[i].T + ps[n + i]
            if i < n - 1:
                h = torch.relu(h) if stack.relu else torch.sigmoid(h)
        return h

    def loss(ps, xs, ys):
        return torch.nn.functional.cross_entropy(logits(ps, xs[None])[0][None], ys[None])

    per_grad = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    jac = vmap(jacrev(lambda ps, xs: logits(ps, xs[None])[0]), in_dims=(None, 0))(params, x)  # [B, 10, ...]
    p = torch.softmax(logits(params, x), dim=1)
    e = p * (1 - p)
    curv = [(e.view(*e.shape, *([1] * (j.dim() - 2))) * j * j).sum(1).mean(0) for j in jac]
    return [g.pow(2).mean(0) for g in per_grad], curv


@pytest.mark.parametrize("hidden,activation,B", [((5,), "sigmoid", 4), ((5,), "relu", 3), ((6, 1), "sigmoid", 4),
                                                 ((6, 1), "relu", 2), ((5,), "sigmoid", 1)])
def test_backward_statistics_equal_autograd_per_sample(hidden, activation, B):
    torch.manual_seed(0)
    specs = [RunSpec(seed=s, hidden=hidden, activation=activation, train_size=1000, test_size=500) for s in (1, 2)]
    stack = engine.Stack(specs, "cpu")
    with torch.no_grad():  # weights large enough that sigmoid slopes and ReLU gates vary
        for w in stack.W:
            w.mul_(3)
    x = torch.rand(2, B, 784, dtype=torch.float32) * (torch.rand(2, B, 784) < 0.3)
    y = torch.randint(0, 10, (2, B))
    logits, acts = stack.forward(x)
    gW, gb, stats = stack.backward(x, y, torch.log_softmax(logits, dim=2), acts, stats=True)
    plain = stack.backward(x, y, torch.log_softmax(logits, dim=2), acts)
    assert all(torch.equal(a, b) for a, b in zip(gW + gb, plain[0] + plain[1]))  # the gradients unchanged
    for r in range(2):
        sq, curv = _per_sample_oracle(stack, r, x[r], y[r])
        for i, (want_sq, want_h) in enumerate(zip(sq, curv)):
            torch.testing.assert_close(stats["grad_sq"][i][r], want_sq, rtol=1e-4, atol=1e-9)
            torch.testing.assert_close(stats["curvature"][i][r], want_h, rtol=1e-4, atol=1e-9)
        assert stats["curvature"][0][r].abs().sum() > 0 and stats["grad_sq"][0][r].abs().sum() > 0


def _per_sample_grads(stack, r, x, y, delta=None):
    """Run ``r``'s per-sample gradients [B, ...] (autograd, float64, torch.func), at its
    parameters or at its parameters + ``delta`` (a list matching ``W + b`` of the stack)."""
    from torch.func import grad, vmap
    n = len(stack.W)
    params = [p[r].detach().double() for p in stack.W + stack.b]
    if delta is not None:
        params = [p + d[r].double() for p, d in zip(params, delta)]

    def loss(ps, xs, ys):
        h = xs[None]
        for i in range(n):
            h = h @ ps[i].T + ps[n + i]
            if i < n - 1:
                h = torch.relu(h) if stack.relu else torch.sigmoid(h)
        return torch.nn.functional.cross_entropy(h, ys[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(params, x.double(), y)


@pytest.mark.parametrize("hidden,activation,B", [((5,), "sigmoid", 4), ((5,), "relu", 3), ((6, 4), "sigmoid", 3),
                                                 ((6, 4), "relu", 2), ((5,), "sigmoid", 1)])
def test_finite_difference_curvature_equals_autograd_per_sample(hidden, activation, B):
    """vSGD-fd's statistics: per weight, the batch means of |g_s(p) - g_s(p + delta)| / |delta|
    and of its square, each sample's gradient by autograd at both points."""
    torch.manual_seed(0)
    specs = [RunSpec(seed=s, hidden=hidden, activation=activation, train_size=1000, test_size=500) for s in (1, 2)]
    stack = engine.Stack(specs, "cpu")
    with torch.no_grad():
        for w in stack.W:
            w.mul_(3)
    x = torch.rand(2, B, 784) * (torch.rand(2, B, 784) < 0.3)
    y = torch.randint(0, 10, (2, B))
    # the probe is gbar + 1e-9: where gbar is 0 a weight's own component is 1e-9 beside others'
    delta = [torch.where(torch.rand(p.shape) < 0.2, 1e-9, 0.05 * torch.randn_like(p)) for p in stack.params()]
    got = stack.fd_stats(x, y, delta)
    chunked = stack.fd_stats(x, y, delta, budget=1)  # later layers one sample at a time
    pairs = stack.fd_stats(x, y, delta, budget=2 * 2 * 10 * hidden[-1])  # the output layer 2 samples at a time
    for r in range(2):
        at, shifted = _per_sample_grads(stack, r, x[r], y[r]), _per_sample_grads(stack, r, x[r], y[r], delta)
        for i, (g0, g1) in enumerate(zip(at, shifted)):
            diff = (g0 - g1) / delta[i][r].double()
            torch.testing.assert_close(got["fd_curvature"][i][r], diff.abs().mean(0).float(), rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(got["fd_curvature_sq"][i][r], diff.square().mean(0).float(), rtol=1e-5, atol=1e-7)
            assert got["fd_curvature"][i][r].abs().sum() > 0, i
    for k in got:
        assert all(torch.equal(a, b) for a, b in zip(got[k], chunked[k]))
        assert all(torch.equal(a, b) for a, b in zip(got[k], pairs[k]))


def test_vsgd_fd_stacks_probe_each_run_along_its_own_average():
    """Two probing optimizers in one stack: each run's direction is its own rule's, its
    statistics are measured there, and its step is the rule alone on them."""
    specs = [spec("vsgd_fd", 1, hidden=(6,)), spec("vsgd_fd", 2, hidden=(6,)), spec("vsgd_fd_slow", 3, hidden=(6,))]
    stack = engine.Stack(specs, "cpu")
    opt = engine.StackedOptimizer(specs, stack.params(), "cpu")
    alone = [[p[r].clone() for p in stack.params()] for r in range(3)]
    states = [[{} for _ in stack.params()] for _ in range(3)]
    gen = torch.Generator().manual_seed(0)
    d = sum(p[0].numel() for p in stack.params())
    for t in range(1, 15):
        x = torch.rand(3, 5, 784, generator=gen) * (torch.rand(3, 5, 784, generator=gen) < 0.3)
        y = torch.randint(0, 10, (3, 5), generator=gen)
        logits, acts = stack.forward(x)
        gW, gb, stats = stack.backward(x, y, torch.log_softmax(logits, dim=2), acts, stats=True)
        grads = gW + gb
        delta = opt.probe(grads)
        stats.update(stack.fd_stats(x, y, delta))
        for r, s in enumerate(specs):
            rule = O.REGISTRY[s.optimizer]
            own = [rule.probe(g[r], st, t, **rule.fixed) for g, st in zip(grads, states[r])]
            assert all(torch.equal(a[r], b) for a, b in zip(delta, own)), (t, r)
            for i, (p, st) in enumerate(zip(alone[r], states[r])):
                rule.step(p, grads[i][r], st, t, **{k: stats[k][i][r] for k in rule.needs}, batch_size=5,
                          model_size=d, **rule.fixed)
        opt.step(stack.params(), grads, stats, 5)
        for r in range(3):  # each step: the runs alone move as the stack (from the same parameters)
            for p, q in zip(stack.params(), alone[r]):
                torch.testing.assert_close(p[r], q, rtol=1e-6, atol=1e-7)
                q.copy_(p[r])
    assert not torch.equal(stack.W[0], engine.Stack(specs, "cpu").W[0])  # past the warm-up, weights moved


def test_bbprop_drops_the_crossing_paths_of_a_wide_second_layer():
    """With two hidden layers of width > 1 a first-layer weight reaches a logit along several
    paths; bbprop keeps only each path's own square (the diagonal it propagates), so it differs
    from the exact Gauss-Newton diagonal there, and only there."""
    torch.manual_seed(1)
    stack = engine.Stack([RunSpec(hidden=(5, 4), train_size=1000, test_size=500)], "cpu")
    x, y = torch.rand(1, 3, 784), torch.randint(0, 10, (1, 3))
    logits, acts = stack.forward(x)
    _, _, stats = stack.backward(x, y, torch.log_softmax(logits, dim=2), acts, stats=True)
    _, curv = _per_sample_oracle(stack, 0, x[0], y[0])
    for i in (1, 2, 4, 5):  # W2, W3 and their biases: one path per weight and logit
        torch.testing.assert_close(stats["curvature"][i][0], curv[i], rtol=1e-4, atol=1e-9)
    assert not torch.allclose(stats["curvature"][0][0], curv[0], rtol=1e-2)


def test_vsgd_runs_stack_with_their_kind_only_and_each_is_the_rule_alone():
    """The statistics reach each run's slice of every parameter; block sums and maxima
    (vSGD-b) are taken per run, never across the stack."""
    specs = [spec("vsgd", 1), spec("vsgd", 2), spec("vsgd_b", 3), spec("vsgd_b", 4), spec("vsgd_authors", 5),
             spec("vsgd_authors", 6)]
    plans = engine.plan_groups(specs + [spec("adam", 1), spec("sgd", 2)], "cpu")
    assert sorted(sorted(s.optimizer for s in g) for g in plans) == [
        ["adam", "sgd"], ["vsgd"] * 2 + ["vsgd_authors"] * 2 + ["vsgd_b"] * 2]
    R, g = len(specs), torch.Generator().manual_seed(0)
    W, b = torch.randn(R, 6, 5, generator=g), torch.randn(R, 6, generator=g)
    alone = [([W[r].clone(), b[r].clone()], [{}, {}]) for r in range(R)]
    stacked = engine.StackedOptimizer(specs, [W, b], "cpu")
    for _ in range(14):  # past the authors' vSGD's 10 batches of warm-up
        grads = [0.1 * torch.randn(R, 6, 5, generator=g), 0.1 * torch.randn(R, 6, generator=g)]
        stats = {"grad_sq": [x * x * (1 + torch.rand(x.shape, generator=g)) for x in grads],
                 "curvature": [torch.rand(x.shape, generator=g) for x in grads]}
        stacked.step([W, b], grads, stats, 7)
        for r, (params, states) in enumerate(alone):
            for i, (p, st) in enumerate(zip(params, states)):
                O.REGISTRY[specs[r].optimizer].step(p, grads[i][r], st, grad_sq=stats["grad_sq"][i][r],
                                                    curvature=stats["curvature"][i][r], batch_size=7,
                                                    model_size=6 * 5 + 6, **O.REGISTRY[specs[r].optimizer].fixed)
    for r, (params, _) in enumerate(alone):
        torch.testing.assert_close(W[r], params[0], rtol=1e-5, atol=1e-6, msg=specs[r].optimizer)
        torch.testing.assert_close(b[r], params[1], rtol=1e-5, atol=1e-6, msg=specs[r].optimizer)


def test_vsgd_b_stacked_runs_equal_the_same_runs_alone(small):
    """Whole training, stacked vs alone. (The element-wise vSGD is checked step by step above:
    its Newton steps on faint pixels make a run chaotic, so rounding alone moves its numbers.)"""
    group = [spec("vsgd_b", 1), spec("vsgd_b", 2), spec("vsgd_b", 3)]
    stacked = engine.train_group(group, "cpu", data=small)
    for s, got in zip(group, stacked):
        alone = engine.train_group([s], "cpu", data=small)[0]
        assert not got.diverged
        for a, b in zip(got.rows, alone.rows):
            for m in ("loss", "accuracy", "sparsity", "selectivity_avg"):
                t = max(TOL["vsgd_b"], 1.001 / (s.test_size if a["split"] == "test" else s.train_size))
                assert a[m] == pytest.approx(b[m], abs=t), (s.seed, a["epoch"], a["split"], m)
    test = [r for r in stacked[0].rows if r["split"] == "test" and r["layer"] == "mean"]
    assert test[-1]["loss"] < test[0]["loss"]  # it learns


def test_a_vsgd_fd_step_of_the_engine_is_the_rule_on_autograd_statistics(small):
    """The whole wiring of a training step (batch, backward, probe from the rule's state, the
    second pass, the update), against the rule fed with per-sample gradients from autograd at
    the weights and at the weights + probe, run by run: through the warm-up and beyond."""
    specs = [spec("vsgd_fd", 1, hidden=(8,), batch_size=5), spec("vsgd_fd_slow", 2, hidden=(8,), batch_size=5)]
    stack = engine.Stack(specs, "cpu")
    opt = engine.StackedOptimizer(specs, stack.params(), "cpu")
    step = engine._Step(stack, opt, small, 2, 5, (8,), torch.device("cpu"))
    alone = [[p[r].detach().clone() for p in stack.params()] for r in range(2)]
    states = [[{} for _ in alone[0]] for _ in range(2)]
    d, gen = sum(p.numel() for p in alone[0]), torch.Generator().manual_seed(0)
    start = [p.clone() for p in stack.params()]
    for t in range(1, 15):
        idx = torch.randint(0, len(small.y_train), (2, 5), generator=gen)
        for r, s in enumerate(specs):
            rule, x, y = O.REGISTRY[s.optimizer], small.x_train[idx[r]], small.y_train[idx[r]]
            one = engine.Stack([s], "cpu")
            for mine, p in zip(one.params(), alone[r]):
                mine.copy_(p[None])
            per = _per_sample_grads(one, 0, x, y)
            g = [q.mean(0).float() for q in per]
            delta = [rule.probe(gi, st, t, **rule.fixed)[None] for gi, st in zip(g, states[r])]
            shifted = _per_sample_grads(one, 0, x, y, delta)
            for i, (p, st) in enumerate(zip(alone[r], states[r])):
                diff = (per[i] - shifted[i]) / delta[i][0].double()
                rule.step(p, g[i], st, t, grad_sq=per[i].square().mean(0).float(),
                          fd_curvature=diff.abs().mean(0).float(), fd_curvature_sq=diff.square().mean(0).float(),
                          batch_size=5, model_size=d, **rule.fixed)
        step(idx)
        for r in range(2):
            for p, q in zip(stack.params(), alone[r]):
                torch.testing.assert_close(p[r], q, rtol=1e-4, atol=1e-6, msg=f"step {t}, run {r}")
    assert not all(torch.equal(a, b) for a, b in zip(start, stack.params()))  # it moved after the warm-up


def test_largest_weights_train_each_kind_of_optimizer_in_its_own_stack(small):
    """Rules that take different statistics (a probing vSGD-fd beside SGD) cannot share a
    stack; each is followed in its own, over the same batches, as it would be alone."""
    mixed = [spec("sgd", 1, hidden=(16,)), spec("vsgd_fd", 1, hidden=(16,))]
    rows = engine.largest_weights(mixed, small, steps=12, every=4)
    assert {r["condition"] for r in rows} == {"sgd", "vsgd_fd"}
    for s in mixed:
        alone = engine.largest_weights([s], small, steps=12, every=4)
        assert [r for r in rows if r["condition"] == s.optimizer] == alone
    fd = [r["max_abs"] for r in rows if r["condition"] == "vsgd_fd" and r["layer"] == 1]
    assert fd[0] == fd[2] != fd[3]  # still through its 10 batches of warm-up, moved by batch 12


def test_largest_weights_follow_the_weights(small):
    """At a learning rate far below float rounding the largest weight is the initial one at every step; at a real
    rate the first layer's moves, and the rows name each run, step and layer."""
    still = [spec("sgd", 1, lr=1e-30, hidden=(16,)), spec("sgd", 2, hidden=(16,))]
    rows = engine.largest_weights(still, small, steps=20, every=10)
    assert {(r["seed"], r["step"], r["layer"]) for r in rows} == {(s, t, l) for s in (1, 2) for t in (0, 10, 20)
                                                                 for l in (1, 2)}
    first = engine.Stack(still, "cpu").W[0]
    for r in rows:
        if r["layer"] == 1:
            start = first[r["seed"] - 1].abs().max().item()
            if r["seed"] == 1:
                assert r["max_abs"] == pytest.approx(start, abs=0)
            elif r["step"] == 20:
                assert r["max_abs"] != start


def test_vsgd_rates_follow_each_pixels_rate_and_refuse_other_rules(small):
    """Per pixel, the median rate over the hidden units: 0 through the warm-up; after it
    positive for every pixel inked in the warm-up's images (its average gradient is not 0), and
    0 for every pixel inked in no image the run has seen (its gradient, so its signal share r,
    has always been 0). (A pixel first inked after the warm-up may stay at 0: the authors'
    code's first steps saturate the sigmoid units, whose error is then exactly 0.) Rules
    without these statistics, and batches that would run short, are refused by name."""
    from sparsel.orders import epoch_order, run_rng
    runs = [spec("vsgd_authors", 1, hidden=(16,), batch_size=50), spec("vsgd_fd", 1, hidden=(16,), batch_size=50)]
    rows = engine.vsgd_rates(runs, small, steps=14, every=7)
    assert {(r["condition"], r["step"]) for r in rows} == {(o, t) for o in ("vsgd_authors", "vsgd_fd")
                                                           for t in (0, 7, 14)}
    for s in runs:
        order = torch.from_numpy(epoch_order(s, small.y_train.numpy(), run_rng(s.seed)))
        warm, seen = ((small.x_train[order[:k * 50]] != 0).any(0) for k in (10, 14))
        assert 0 < int(warm.sum()) < int(seen.sum()) < 784
        early = [r["rate"] for r in rows if r["condition"] == s.optimizer and r["step"] < 14]
        assert len(early) == 2 * 784 and set(early) == {0.0}
        end = torch.tensor([r["rate"] for r in rows if r["condition"] == s.optimizer and r["step"] == 14])
        assert (end[warm] > 0).all() and (end[~seen] == 0).all()
    with pytest.raises(ValueError, match="got sgd$"):
        engine.vsgd_rates([spec("sgd", 1)], small, steps=1)
    with pytest.raises(ValueError, match="batch size 30 does not divide the 1,000"):
        engine.vsgd_rates([spec("vsgd_fd", 1, batch_size=30)], small, steps=40)


def test_saturation_counts_units_that_pass_no_error_back(small):
    """At step 0 the shares are those of the spec's own initial network on the probe images
    (ReLU: about half the pairs are 0, some units never fire); under the authors' vSGD code
    nothing moves in the warm-up (10 batches), and the first steps after it saturate nearly
    every sigmoid unit, where the paper's rule saturates almost none."""
    from sparsel.models import build_model
    relu = spec("sgd", 3, hidden=(16, 8), activation="relu", batch_size=50)
    rows = engine.saturation([relu], small, steps=0, every=1, probe=300)
    net, h = build_model(relu), small.x_train[:300]
    for l, layer in enumerate(net.hidden):
        h = torch.relu(layer(h))
        got = next(r for r in rows if r["layer"] == l + 1)
        assert got["stuck"] == pytest.approx(float((h == 0).float().mean()), abs=1e-7)
        assert got["saturated"] == pytest.approx(float((h == 0).all(0).float().mean()), abs=1e-7)
    assert 0.2 < rows[0]["stuck"] < 0.8
    two = [spec("vsgd", 1, hidden=(64,), batch_size=50), spec("vsgd_authors", 1, hidden=(64,), batch_size=50)]
    rows = engine.saturation(two, small, steps=30, every=10)
    share = {(r["condition"], r["step"]): (r["stuck"], r["saturated"]) for r in rows}
    assert share[("vsgd_authors", 0)] == share[("vsgd_authors", 10)] == (0.0, 0.0)  # the warm-up moves nothing
    assert share[("vsgd_authors", 30)][0] > 0.9 and share[("vsgd_authors", 30)][1] > 0.5
    assert share[("vsgd", 30)][0] < 0.1 and share[("vsgd", 30)][1] == 0.0


def test_saturation_is_nan_for_a_run_that_diverged_and_only_for_it(small):
    """SGD at lr 1e38 saturates every unit, then overflows its weights to NaN activations; the
    run stacked beside it is measured as alone."""
    wild, calm = (spec("sgd", s, lr=lr, hidden=(16,), batch_size=10) for s, lr in ((1, 1e38), (2, 0.1)))
    rows = engine.saturation([wild, calm], small, steps=6, every=3, probe=100)
    alone = engine.saturation([calm], small, steps=6, every=3, probe=100)
    at = {(r["seed"], r["step"]): (r["stuck"], r["saturated"]) for r in rows}
    assert at[(1, 3)] == (1.0, 1.0) and all(math.isnan(v) for v in at[(1, 6)])
    assert [at[(2, r["step"])] for r in alone] == [(r["stuck"], r["saturated"]) for r in alone]
    assert all(math.isfinite(r["stuck"]) for r in alone)
