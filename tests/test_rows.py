"""Batch-1 first layers updated row by row (sparsel.rows): the same numbers as the dense update."""
import pytest
import torch

from sparsel import engine, rows
from sparsel.spec import RunSpec
from test_engine import stop_after_first_epoch

pytestmark = pytest.mark.skipif(rows.library() is None, reason=f"no row kernels: {rows.why_not()}")


def _images(small, R, steps, seed=0):
    """``steps`` batches of one real image per run: [steps, R, 784]; some pixels stay blank
    for many steps (Adadelta's replayed decay), the corners for all of them."""
    g = torch.Generator().manual_seed(seed)
    return small.x_train[torch.randint(0, len(small.x_train), (steps, R), generator=g)]


def _specs(name, R, **per_run):
    return [RunSpec(optimizer=name, batch_size=1, hidden=(40,), seed=r + 1,
                    **{k: v[r] for k, v in per_run.items()}) for r in range(R)]


CASES = {  # per-run hyper-parameters: equal in all runs (a plain number to the rule) or not (float64 tensors)
    "sgd": dict(lr=[0.1, 0.1, 0.1]),
    "adagrad": dict(lr=[0.1, 0.05, 0.1], eps=[1e-10, 1e-10, 1e-6]),
    "adadelta": dict(lr=[1.0, 0.5, 1.0], rho=[0.9, 0.9, 0.5]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_row_updates_equal_the_compiled_dense_update_bit_for_bit(name, small):
    """80 steps of each rule on three runs, the dense update (the registered rule on every
    weight, compiled as full-scale CPU groups compile it) against the row kernels: the same
    weights and states, bit for bit, step by step (Adadelta's after bringing every row up to
    date). The eager rule fuses some multiply-adds (ATen's kernels), so it agrees to rounding."""
    R, H, steps = 3, 40, 80
    specs = _specs(name, R, **CASES[name])
    g = torch.Generator().manual_seed(1)
    W0 = torch.randn(R, H, 784, generator=g) * 0.05
    xs = _images(small, R, steps)
    ds = torch.randn(steps, R, H, generator=g) * 0.1

    def dense_run(compiled):
        W = W0.clone()
        opt = engine.StackedOptimizer(specs, [W], "cpu")
        step = torch.compile(opt.step, dynamic=False) if compiled else opt.step
        out = []
        for x, d in zip(xs, ds):
            step([W], [d[:, :, None] * x[:, None, :]])
            out.append((W.clone(), [s[0].clone() for s in opt.parts[0].state]))
        return out

    Wr = W0.transpose(1, 2).contiguous().transpose(1, 2)  # pixel-major, as engine.Stack(rows=True)
    opt = engine.StackedOptimizer(specs, [Wr], "cpu")
    by_rows = rows.FirstLayerRows(name, Wr, opt.parts[0].param_state[0], specs)
    want, roughly = dense_run(True), dense_run(False)
    moved = torch.zeros(R, H, 784, dtype=torch.bool)
    for t, (x, d) in enumerate(zip(xs, ds), start=1):
        by_rows.step(x, d, t)
        by_rows.flush(t)  # a no-op but for Adadelta, whose flushed state is the dense one
        W, states = want[t - 1]
        assert torch.equal(Wr, W), (name, t)
        for mine, theirs in zip([s[0] for s in opt.parts[0].state], states):
            assert torch.equal(mine, theirs), (name, t)
        moved |= Wr != W0
    torch.testing.assert_close(Wr, roughly[-1][0], rtol=1e-5, atol=1e-7)
    blank = (xs == 0).all(0)  # [R, 784]: pixels blank in every image of the run
    assert bool(moved.any()) and not bool(moved.transpose(1, 2)[blank].any())


def test_adadelta_replays_a_blank_pixels_decay_when_it_is_next_inked(small):
    """Without flushing in between: a row caught up only when its pixel is inked again holds,
    after its update, what the dense update holds; the others are what they were when last
    touched, until the end-of-epoch flush brings them up to date. With rho = 0.3 some rows
    decay all the way to zero (denormals flushed), where the replay stops early."""
    R, H, steps = 2, 16, 150
    specs = _specs("adadelta", R, rho=[0.9, 0.3])
    g = torch.Generator().manual_seed(2)
    W0 = torch.randn(R, H, 784, generator=g) * 0.05
    xs, ds = _images(small, R, steps, seed=3), torch.randn(steps, R, H, generator=g) * 0.1
    W = W0.clone()
    dense = engine.StackedOptimizer(specs, [W], "cpu")
    step = torch.compile(dense.step, dynamic=False)
    Wr = W0.transpose(1, 2).contiguous().transpose(1, 2)
    opt = engine.StackedOptimizer(specs, [Wr], "cpu")
    by_rows = rows.FirstLayerRows("adadelta", Wr, opt.parts[0].param_state[0], specs)
    for t, (x, d) in enumerate(zip(xs, ds), start=1):
        step([W], [d[:, :, None] * x[:, None, :]])
        by_rows.step(x, d, t)
    inked = xs[-1] != 0  # [R, 784]: caught up and updated at the last step
    for mine, theirs in zip(opt.parts[0].state, dense.parts[0].state):
        a, b = mine[0].transpose(1, 2), theirs[0].transpose(1, 2)  # [R, 784, H]
        assert torch.equal(a[inked], b[inked])
        stale = ~inked & (b != 0).any(2)
        assert bool(stale.any()) and not torch.equal(a[stale], b[stale])  # not yet decayed
    by_rows.flush(steps)
    assert torch.equal(Wr, W)
    for mine, theirs in zip(opt.parts[0].state, dense.parts[0].state):
        assert torch.equal(mine[0], theirs[0])
        rows_of = theirs[0].transpose(1, 2)  # [R, 784, H]
        once = (xs != 0).any(0)  # inked at least once: its averages were non-zero
        assert bool(((rows_of == 0).all(2) & once)[1].any())  # rho = 0.3: some decayed to exactly 0


def test_the_forward_pass_reads_only_inked_pixels_rows(small):
    """b + x W from the rows of inked pixels: the float64 product to float32 rounding; a run's
    result alone is its result stacked, bit for bit; NaN in a blank pixel's row is never read."""
    R, H = 4, 24
    g = torch.Generator().manual_seed(4)
    W = torch.randn(R, 784, H, generator=g)
    b = torch.randn(R, H, generator=g)
    x = small.x_train[:R]
    z = rows.first_layer(x, W, b)
    want = (x.double()[:, None, :] @ W.double())[:, 0] + b.double()
    torch.testing.assert_close(z.double(), want, rtol=1e-5, atol=1e-5)
    for r in range(R):
        assert torch.equal(rows.first_layer(x[r:r + 1], W[r:r + 1], b[r:r + 1]), z[r:r + 1])
    W[x == 0] = float("nan")
    assert torch.equal(rows.first_layer(x, W, b), z)


def test_only_rules_a_zero_gradient_leaves_alone_take_rows():
    ok = [RunSpec(optimizer=o, batch_size=1) for o in ("sgd", "adagrad", "adadelta")]
    assert all(rows.applies(s.optimizer, [s]) for s in ok)
    moved = [RunSpec(optimizer="sgd", batch_size=1, momentum=0.9), RunSpec(optimizer="adagrad", weight_decay=1e-4),
             RunSpec(optimizer="adadelta", weight_decay=1e-4),
             RunSpec(optimizer="adagrad", eps=0.0), RunSpec(optimizer="adadelta", eps=0.0)]  # 0 / 0 on blank pixels
    assert not any(rows.applies(s.optimizer, [s]) for s in moved)
    assert not rows.applies("sgd", [ok[0], moved[0]])  # one run that cannot: none of them
    assert not rows.applies("adam", [RunSpec(optimizer="adam", batch_size=1)])  # its moments move every weight
    # every batch-1 CPU stack is stored pixel-major, whatever its optimizers (a run's rounding
    # must not depend on its stack); only the rules above get kernels
    assert engine.use_rows([RunSpec(optimizer="adam", batch_size=1)], "cpu")
    assert not engine.use_rows([RunSpec(optimizer="sgd", batch_size=2)], "cpu")
    assert not engine.use_rows([RunSpec(optimizer="sgd", batch_size=1)], "meta")


def _spec(opt, seed, **kw):
    fields = dict(epochs=2, train_size=1000, test_size=500, batch_size=1, hidden=(32,))
    return RunSpec(optimizer=opt, seed=seed, **{**fields, **kw})


def test_training_by_rows_gives_each_run_its_numbers_alone_and_the_dense_ones(small, monkeypatch):
    """A five-run batch-1 group: each run, alone or stacked, bit for bit (a row-updated run's
    forward sum is its own; Adam's and AdamW's products read the same pixel-major
    layout either way); every run as with every weight updated and the usual layout, to
    rounding (the forward pass sums in another order); the trainer says how it trained."""
    group = [_spec(o, i + 1) for i, o in enumerate(("sgd", "adagrad", "adadelta", "adam"))]
    group.append(_spec("adamw", 5))  # no kernel either (nor would a momentum SGD run, which would also
    # keep the plain SGD run of its part from its kernel: applies() asks every run)
    got = engine.train_group(group, "cpu", data=small)
    assert [r.trainer for r in got] == ["engine+rows"] * 3 + ["engine"] * 2
    for s, res in zip(group, got):
        alone = engine.train_group([s], "cpu", data=small)[0]
        assert [x["loss"] for x in alone.rows] == [y["loss"] for y in res.rows], s.optimizer
        assert [x["sparsity"] for x in alone.rows] == [y["sparsity"] for y in res.rows], s.optimizer
    monkeypatch.setenv("SPARSEL_ROWS", "0")
    dense = engine.train_group(group, "cpu", data=small)
    assert [r.trainer for r in dense] == ["engine"] * 5
    for s, a, b in zip(group, got, dense):
        for x, y in zip(a.rows, b.rows):
            for m in ("loss", "accuracy", "sparsity", "gini", "selectivity_avg"):
                # 2,000 batch-1 steps amplify rounding, as in test_engine; accuracy counts images
                t = max(2e-3, 1.001 / (s.test_size if x["split"] == "test" else s.train_size))
                assert x[m] == pytest.approx(y[m], abs=t), (s.optimizer, x["epoch"], x["split"], m)


def test_a_row_updated_group_resumes_bit_exact(small, tmp_path):
    """Stopped after epoch 1 and resumed from its checkpoint (Adadelta's stale rows flushed
    into it at the epoch's end, and counted afresh): the uninterrupted numbers."""
    group = [_spec("adadelta", 1, epochs=3), _spec("sgd", 2, epochs=3)]
    want = engine.train_group(group, "cpu", data=small)
    stop_after_first_epoch(group, small, tmp_path)
    assert list(tmp_path.glob("group-*.pt"))
    got = engine.train_group(group, "cpu", data=small, checkpoint_dir=tmp_path, checkpoint_every=0)
    for a, b in zip(want, got):
        assert a.trainer == b.trainer == "engine+rows"
        for x, y in zip(a.rows, b.rows):
            assert all(x[k] == y[k] or (x[k] != x[k] and y[k] != y[k]) for k in x), (x["epoch"], x["split"])


def test_without_a_compiler_batch_1_trains_every_weight_after_a_notice(small, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(rows, "_LIB", False)  # not built yet in this process
    monkeypatch.setattr(rows, "_TOLD", False)
    monkeypatch.setenv("SPARSEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert rows.library() is None and "no-such-cc" in rows.why_not()
    got = engine.train_group([_spec("sgd", 1, epochs=1)], "cpu", data=small)[0]
    engine.train_group([_spec("sgd", 2, epochs=1)], "cpu", data=small)
    out = capsys.readouterr().out
    assert out.count("row kernels unavailable") == 1 and "no-such-cc" in out
    assert got.trainer == "engine" and not got.diverged
    with pytest.raises(RuntimeError, match="row kernels unavailable"):
        rows.FirstLayerRows("sgd", torch.zeros(1, 4, 784), {}, [RunSpec(batch_size=1)])
