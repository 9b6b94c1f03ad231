"""Loss curves as SVG: every series drawn, ranges labelled, text escaped, nothing to plot refused."""

import base64
import xml.etree.ElementTree as ElementTree

import pytest

from twin_assets.models.plots import bar_chart_svg, line_chart_svg, markdown_image

SVG = "{http://www.w3.org/2000/svg}"


def test_each_series_is_a_line_through_its_points_inside_the_canvas():
    svg = line_chart_svg({"train": [(1, 3.0), (2, 2.5), (3, 2.0)], "eval": [(3, 2.4)]}, "Loss <sft>", "step", "loss")
    root = ElementTree.fromstring(svg)  # well-formed, the title's "<" escaped
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    coordinates = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert len(coordinates) == 3 and all(0 <= x <= 480 and 0 <= y <= 240 for x, y in coordinates)
    assert coordinates[0][1] < coordinates[-1][1]  # a falling loss is drawn going down the page
    texts = [t.text for t in root.findall(f"{SVG}text")]
    assert {"Loss <sft>", "train", "eval", "1", "3", "2", "3"} <= set(texts)
    assert len(root.findall(f"{SVG}circle")) == 1  # a one-point series still shows


def test_markdown_image_carries_the_svg():
    svg = line_chart_svg({"train": [(0, 1.0), (1, 0.5)]}, "t", "x", "y")
    image = markdown_image(svg, "loss curve")
    assert image.startswith("![loss curve](data:image/svg+xml;base64,")
    assert base64.b64decode(image.split(",", 1)[1].rstrip(")")).decode() == svg


def test_nothing_to_plot_is_an_error():
    with pytest.raises(ValueError, match="at least one point"):
        line_chart_svg({"train": []}, "t", "x", "y")


def test_bars_are_drawn_per_metric_and_model_each_group_on_its_own_scale():
    svg = bar_chart_svg({"perplexity": {"candidate": 10.0, "base": 20.0}, "rouge_l": {"candidate": 0.5}}, "Metrics & more")
    root = ElementTree.fromstring(svg)
    bars = [r for r in root.findall(f"{SVG}rect") if r.get("fill") != "white"]
    assert len(bars) == 3  # a model without the metric gets no bar
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == pytest.approx(heights[1] / 2) and heights[2] == pytest.approx(heights[1])  # scaled per group
    texts = {t.text for t in root.findall(f"{SVG}text")}
    assert {"Metrics & more", "perplexity", "rouge_l", "candidate", "base", "10", "20", "0.5"} <= texts
    with pytest.raises(ValueError, match="at least one bar"):
        bar_chart_svg({"perplexity": {}}, "t")
