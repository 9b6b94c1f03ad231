"""The charts: every series drawn where its numbers say, bars per group and model, the same chart
as a PNG of its size and as inline SVG with its text, nothing to plot refused."""

import base64
import io
import xml.etree.ElementTree as ElementTree

import pytest
from PIL import Image

from twin_assets.models.plots import DPI, SIZE_INCHES, bar_panels, grouped_bars, inline_svg, line_chart, markdown_image, png

SVG = "{http://www.w3.org/2000/svg}"


def _bars(axes) -> list[tuple[float, float]]:
    """(position, value) of each bar, in drawing order."""
    return [(round(p.get_x() + p.get_width() / 2, 6), p.get_height()) for p in axes.patches]


def test_each_series_is_a_line_through_its_points():
    figure = line_chart({"train": [(1, 3.0), (2, 2.5), (3, 2.0)], "eval": [(3, 2.4)]}, "Loss <sft>", "step", "loss")
    (axes,) = figure.axes
    train, evaluation = axes.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3] and list(train.get_ydata()) == [3.0, 2.5, 2.0]
    assert evaluation.get_marker() == "o"  # a one-point series still shows
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["train", "eval"]
    assert (axes.get_title(), axes.get_xlabel(), axes.get_ylabel()) == ("Loss <sft>", "step", "loss")


def test_grouped_bars_put_each_model_in_each_group_on_one_axis():
    figure = grouped_bars({"all": {"candidate": 10.0, "base": 20.0}, "post": {"base": 18.0}}, "Perplexity", "perplexity")
    (axes,) = figure.axes
    bars = _bars(axes)
    assert [value for _, value in bars] == [10.0, 20.0, 18.0]  # a model without a value in a group gets no bar
    assert bars[0][0] < 0 < bars[1][0] < 1 < bars[2][0]  # candidate left of base inside the first group
    assert [t.get_text() for t in axes.get_xticklabels()] == ["all", "post"]
    labels = {t.get_text() for t in axes.texts}
    assert {"10", "20", "18"} <= labels  # the values are written on the bars


def test_horizontal_bars_with_a_reference_line_read_top_down():
    figure = grouped_bars({"sentence_words": {"twin": -0.25}, "emoji": {"twin": 0.5}}, "Style", "difference", horizontal=True,
                          reference=0.0)
    (axes,) = figure.axes
    widths = [p.get_width() for p in axes.patches]
    assert widths == [-0.25, 0.5]
    assert axes.yaxis_inverted() and [t.get_text() for t in axes.get_yticklabels()] == ["sentence_words", "emoji"]
    (line,) = axes.get_lines()
    assert list(line.get_xdata()) == [0.0, 0.0]


def test_panels_give_each_metric_its_own_scale_and_each_model_its_slot():
    figure = bar_panels({"perplexity": {"candidate": 10.0, "base": 20.0}, "rouge_l": {"base": 0.4}}, "Scores")
    perplexity, rouge = figure.axes
    assert _bars(perplexity) == [(0.0, 10.0), (1.0, 20.0)]
    assert _bars(rouge) == [(1.0, 0.4)]  # base keeps its slot where the candidate has no value
    assert rouge.get_ylim()[1] < 1 < perplexity.get_ylim()[1]
    assert [a.get_title() for a in figure.axes] == ["perplexity", "rouge_l"]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["candidate", "base"]


def test_png_is_the_chart_at_its_size_and_markdown_carries_it():
    image = png(line_chart({"train": [(0, 1.0), (1, 0.5)]}, "t", "x", "y"))
    with Image.open(io.BytesIO(image)) as decoded:
        assert decoded.format == "PNG" and decoded.size == (SIZE_INCHES[0] * DPI, SIZE_INCHES[1] * DPI)
    text = markdown_image(image, "loss curve")
    assert text.startswith("![loss curve](data:image/png;base64,")
    assert base64.b64decode(text.split(",", 1)[1].rstrip(")")) == image


def test_inline_svg_is_one_element_with_its_text_as_text():
    svg = inline_svg(grouped_bars({"post": {"v2 <second>": 1.5}}, "Perplexity & more", "perplexity"))
    root = ElementTree.fromstring(svg)  # well-formed, with no prolog before the element
    assert svg.startswith("<svg") and root.tag == f"{SVG}svg"
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"Perplexity & more", "v2 <second>", "post"} <= texts


def test_nothing_to_plot_is_an_error():
    with pytest.raises(ValueError, match="at least one point"):
        line_chart({"train": []}, "t", "x", "y")
    with pytest.raises(ValueError, match="at least one bar"):
        grouped_bars({"perplexity": {}}, "t")
    with pytest.raises(ValueError, match="at least one bar"):
        bar_panels({}, "t")


def test_charts_drawn_at_once_on_many_threads_all_keep_their_text():
    from concurrent.futures import ThreadPoolExecutor

    def draw(index: int) -> str:
        return inline_svg(line_chart({f"series {index}": [(0, 1.0), (1, float(index))]}, f"chart {index}", "x", "y"))

    with ThreadPoolExecutor(8) as pool:
        drawn = list(pool.map(draw, range(32)))
    assert all(f">chart {index}<" in svg for index, svg in enumerate(drawn))
