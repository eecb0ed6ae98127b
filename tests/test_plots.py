"""The figure functions on small hand-made tables: what they draw, at full and at smoke scale."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from sparsel import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _table(conditions, se=0.01, epochs=3, param="batch_size", values=None):
    """A ``summary.table``-shaped frame: one row per condition and epoch."""
    rows = []
    for i, c in enumerate(conditions):
        for e in range(epochs):
            row = dict(condition=c, epoch=e, optimizer=c.split()[0], param=param,
                       value=(values or list(range(1, len(conditions) + 1)))[i], n=3 if se else 1)
            for m in plots.TRIO:
                row[m], row[f"{m}_se"] = 0.1 * i + 0.01 * e, se
            rows.append(row)
    return pd.DataFrame(rows)


def _bands(fig):
    return sum(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)


def _legend_texts(fig):
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_one_run_draws_no_band_or_error_bar():
    one = _table(["sgd bs=1", "sgd bs=50"], se=0.0)  # mean_se's SE of a single run
    assert _bands(plots.curves(one)) == 0
    assert _bands(plots.curves_by(one.assign(panel="x"), panel="panel")) == 0
    last = one[one.epoch == 2]
    fig = plots.versus(last, x="value", hue="optimizer")
    assert not any(ax.containers for ax in fig.axes)  # no ErrorbarContainer at all
    several = _table(["sgd bs=1", "sgd bs=50"])
    assert _bands(plots.curves(several)) == 3 * 2
    assert any(ax.containers for ax in plots.versus(several[several.epoch == 2], x="value", hue="optimizer").axes)


def test_missing_se_draws_no_band():
    t = _table(["adam baseline"], se=np.nan, param="optimizer", values=["adam"])
    assert _bands(plots.curves(t)) == 0


def test_ordered_condition_gets_sequential_colours_in_order():
    t = _table(["sgd bs=1", "sgd bs=1000", "sgd bs=50"], values=[1, 1000, 50])
    fig = plots.curves(t, title=plots.label("sgd"))
    assert _legend_texts(fig) == ["1", "50", "1000"]
    assert fig.legends[0].get_title().get_text() == plots.XLABELS["batch_size"]
    colours = [tuple(line.get_color()) for line in fig.axes[0].lines]
    assert len(set(colours)) == 3
    assert fig._suptitle.get_text() == "SGD"


def test_ordered_condition_at_smoke_scale_one_value():
    fig = plots.curves(_table(["adam bs=50"], values=[50]))
    assert _legend_texts(fig) == ["50"]


def test_several_optimizers_or_words_keep_optimizer_colours():
    t = _table(["sgd bs=1", "adam bs=1"])
    assert _legend_texts(plots.curves(t)) == ["SGD bs=1", "Adam bs=1"]
    t = _table(["sgd single", "sgd original"], param="diversity", values=["single", "original"])
    assert _legend_texts(plots.curves(t)) == ["SGD single", "SGD shuffled"]


def test_dissertation_runs_and_shuffled_condition_are_named_apart():
    ours = _table(["sgd single", "sgd original"], param="diversity", values=["single", "original"])
    theirs = ours.drop(columns=["param", "value"])
    texts = _legend_texts(plots.curves(ours, original=theirs))
    assert "SGD shuffled" in texts and "SGD shuffled (dissertation)" in texts
    assert not any("original" in t for t in texts)
    fig = plots.versus(ours[ours.epoch == 2], x="value", hue="optimizer", categorical=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["single", "shuffled"]


def test_scatters_factor_a_crossed_legend():
    conds = [f"{o} HL{n}" for o in ("sgd", "adagrad", "adadelta", "adam") for n in range(1, 6)]
    t = _table(conds, param="layers", values=[int(c[-1]) for c in conds])
    fig = plots.scatters(t, [("sparsity", "selectivity_avg"), ("accuracy", "sparsity")])
    assert not any(ax.get_legend() for ax in fig.axes)
    assert len(fig.legends) == 2
    assert _legend_texts(fig) == ["SGD", "Adagrad", "Adadelta", "Adam", "HL1", "HL2", "HL3", "HL4", "HL5"]
    # smoke scale: a few conditions get one plain legend
    small = plots.scatters(t[t.condition.isin(["sgd HL1", "adam HL1"])], [("sparsity", "selectivity_avg")])
    assert _legend_texts(small) == ["SGD HL1", "Adam HL1"]
    assert plots.scatters(t.iloc[:0], [("sparsity", "selectivity_avg")]) is not None


def test_layer_bars_number_the_layers():
    rows = [dict(optimizer=o, layer=str(n), sparsity=0.3, sparsity_se=0.01, selectivity_avg=0.4,
                 selectivity_avg_se=0.0) for o in ("sgd", "adam") for n in range(1, 5)]
    fig = plots.layer_bars(pd.DataFrame(rows))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "3", "4"]
    assert "hidden layer" in fig.axes[0].get_xlabel()
    assert len(fig.axes[0].containers) > len(fig.axes[1].containers)  # no bars on the SE-0 metric


def test_empty_tables_draw_a_note():
    empty = _table(["sgd bs=1"]).iloc[:0]
    for fig in (plots.curves(empty), plots.versus(empty), plots.curves_by(empty)):
        assert fig.axes


def test_a_legend_wider_than_one_panel_wraps_inside_the_figure():
    rows = [dict(panel="adam", layer=f"hidden layer {n}", epoch=e, sparsity=0.1 * n, sparsity_se=0.0)
            for n in range(1, 5) for e in range(3)]
    fig = plots.curves_by(pd.DataFrame(rows), panel="panel", hue="layer", metric="sparsity")
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width


def test_a_knob_is_named_with_its_optimizer_only_when_one_optimizer_is_drawn():
    one = pd.DataFrame({"param": ["beta1"] * 2, "value": [0.5, 0.9], "optimizer": ["adamw"] * 2})
    two = pd.DataFrame({"param": ["beta1"] * 2, "value": [0.5, 0.9], "optimizer": ["adamw", "nadam"]})
    assert plots._xlabel(one, "value") == "AdamW beta1"
    assert plots._xlabel(one.assign(optimizer="adam"), "value") == "Adam beta1"
    assert plots._xlabel(two, "value") == "beta1"
    assert plots._xlabel(one.assign(param="batch_size"), "value") == "batch size (images)"


def test_log_and_symlog_axes_where_asked():
    t = _table(["sgd", "adam"]).assign(loss=lambda d: 10.0 ** -d.epoch, loss_se=0.0, gap=lambda d: d.sparsity - 0.1)
    assert {ax.get_yscale() for ax in plots.curves_by(t, metric="loss", logy=True).axes if ax.has_data()} == {"log"}
    assert {ax.get_yscale() for ax in plots.curves_by(t, metric="loss").axes if ax.has_data()} == {"linear"}
    fig = plots.scatters(t, [("sparsity", "gap")], hue="optimizer", yscale=dict(value="symlog", linthresh=0.01))
    assert fig.axes[0].get_yscale() == "symlog"  # the gap can be negative: log would drop those points


def test_provenance_names_few_code_versions_and_counts_many():
    df = pd.DataFrame(dict(seed=[1, 1, 100], run_key=["a", "b", "c"], code_version=["v1", "v1", "v2"],
                           train_size=[1000] * 3, epochs=[3] * 3))
    line = plots.provenance(df, "smoke")
    assert line == "SMOKE SCALE: 1,000 training images, 3 epochs, seeds 1, 100, 3 runs, code v1, v2"
    many = pd.DataFrame(dict(seed=1, run_key=list("abcdef"), code_version=[f"v{i}" for i in range(6)],
                             train_size=1000, epochs=3))
    assert plots.provenance(many, "smoke").endswith("code 6 versions (v0, v1, ...; `sparsel export` lists each run's)")


def test_vsgd_rates_draw_both_panels_on_log_scales_without_zero_rates():
    rows = [dict(condition=c, seed=1, step=s, pixel=p, rate=(0.0 if p == 0 or s == 0 else f * (s + 1) * (p + 1)))
            for c, f in (("vsgd_authors", 1.0), ("vsgd_fd", 1e-4)) for s in (0, 10, 20) for p in range(4)]
    fig = plots.vsgd_rates(pd.DataFrame(rows), [0.0, 0.001, 0.2, 0.9])
    left, right = fig.axes[:2]
    assert left.get_yscale() == right.get_yscale() == "log" and right.get_xscale() == "log"
    assert _legend_texts(fig) == ["vSGD (authors' code)", "vSGD-fd (authors' code)"]
    points = np.concatenate([c.get_offsets() for c in right.collections])
    assert len(points) == 2 * 3 and (points[:, 1] > 0).all()  # pixel 0 (never inked, rate 0) left off
    assert left.lines[0].get_ydata().tolist() == [11 * 3.0, 21 * 3.0]  # median over inked pixels 1-3; step 0's 0 left off


def test_saturation_draws_one_line_per_condition_and_share():
    rows = [dict(condition=c, seed=s, step=st, layer=1, stuck=f * st / 10, saturated=f * st / 20)
            for c, f in (("vsgd", 0.1), ("vsgd_authors", 1.0)) for s in (1, 2) for st in (0, 5, 10)]
    rows += [dict(condition="vsgd", seed=1, step=10, layer=2, stuck=0.5, saturated=0.5)]
    fig = plots.saturation(pd.DataFrame(rows))
    pairs, units = fig.axes[:2]
    assert _legend_texts(fig) == ["vSGD", "vSGD (authors' code)"]
    assert units.lines[1].get_ydata().tolist() == [0.0, 0.25, 0.5]  # authors': f * step / 20, layer 1 only
    assert pairs.lines[0].get_ydata().tolist() == pytest.approx([0.0, 0.05, 0.1])
