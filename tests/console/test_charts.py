"""REP-1's charts (issue 14): pure functions from figures to SVG, accessible, escaped, without inline style."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest

from pipelines.console.charts import COLOURS, hourly_chart, status_bars

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup) -> ElementTree.Element:
    """The chart as XML: it must be well-formed (an unescaped text would break it)."""
    return ElementTree.fromstring(str(markup))


def test_rep1_status_bars_one_bar_per_status_longest_first_proportional_with_titles():
    statuses = [{"code": 20, "text": "Non délivré", "recipients": 25},
                {"code": 16, "text": "Délivré", "recipients": 100},
                {"code": 4, "text": "Doublons", "recipients": 0}]
    svg = parsed(status_bars(statuses))
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text == "Destinataires par statut"
    assert "Délivré : 100" in svg.find(f"{SVG}desc").text
    bars = svg.findall(f".//{SVG}rect")
    assert len(bars) == 2  # a status without recipients has no bar
    delivered, undelivered = bars
    assert float(delivered.get("width")) == pytest.approx(4 * float(undelivered.get("width")), abs=1)
    assert delivered.get("fill") == COLOURS["delivered"] and undelivered.get("fill") == COLOURS["not_delivered"]
    titles = [group.find(f"{SVG}title").text for group in svg.findall(f"{SVG}g")]
    assert titles == ["Délivré (16) : 100 destinataires (80,0 %)", "Non délivré (20) : 25 destinataires (20,0 %)"]
    labels = [text.text for text in svg.iter(f"{SVG}text")]
    assert labels == ["Délivré (16)", "100", "Non délivré (20)", "25"]


def test_rep1_charts_escape_text_and_use_no_inline_style():
    markup = str(status_bars([{"code": 26, "text": "<script>alert(1)</script> & co", "recipients": 3}],
                             title="Statuts <b>"))
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "&amp; co" in markup
    assert "Statuts &lt;b&gt;" in markup
    parsed(markup)
    for chart in (markup, str(hourly_chart(["26/11 14h", "26/11 15h"], [3, 5], [1, 0]))):
        assert "style=" not in chart and "<script" not in chart and not re.search(r"\son[a-z]+=", chart)


def test_rep1_hourly_chart_bars_for_deliveries_a_line_for_clicks():
    svg = parsed(hourly_chart(["26/11 14h", "26/11 15h", "26/11 16h"], [10, 0, 5], [2, 4, 0]))
    bars = [rect for rect in svg.findall(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    assert [rect.find(f"{SVG}title").text for rect in bars] == [
        "26/11 14h : 10 délivrés", "26/11 15h : 0 délivrés", "26/11 16h : 5 délivrés"]
    heights = [float(rect.get("height")) for rect in bars]
    assert heights[1] == 0 and heights[0] == pytest.approx(2 * heights[2], abs=0.2)
    points = svg.find(f"{SVG}polyline").get("points").split()
    assert len(points) == 3
    assert [circle.find(f"{SVG}title").text for circle in svg.findall(f"{SVG}circle")] == [
        "26/11 14h : 2 clics", "26/11 15h : 4 clics", "26/11 16h : 0 clics"]
    assert svg.find(f"{SVG}desc").text == "3 heures, de 26/11 14h à 26/11 16h : 15 délivrés, 6 clics"


def test_rep1_hourly_chart_without_clicks_or_deliveries():
    untracked = parsed(hourly_chart(["26/11 14h"], [1234]))
    assert untracked.find(f"{SVG}polyline") is None and "Clics" not in str(hourly_chart(["26/11 14h"], [1]))
    assert "1\u202f234" in [text.text for text in untracked.iter(f"{SVG}text")]
    empty = parsed(hourly_chart([], []))
    assert empty.find(f"{SVG}desc").text == "Aucune délivrance pour l'instant."
    with pytest.raises(ValueError):
        hourly_chart(["a", "b"], [1])
