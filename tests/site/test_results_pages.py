"""Reported results compared: a page per metric, each number next to its paper's own SFT baseline, and the plot."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from hftkb.site.results_pages import METRICS, harmful_ratio
from hftkb.validate import load_corpus

ROW = re.compile(r"<tr data-model=\"([^\"]*)\" data-ratio=\"([^\"]*)\" data-task=\"([^\"]*)\" data-stage=\"([^\"]*)\">(.*?)</tr>", re.S)


@pytest.mark.parametrize("setting, ratio", [
    ("p=0.1, n=1000", "0.1"), ("p = 0.05", "0.05"), ("harmful ratio 10%", "0.1"), ("ratio: 0.2", "0.2"),
    ("fine-tuning lr 1e-4", ""), (None, ""), ("p=20", "0.2"),
])
def test_harmful_ratio_is_read_from_the_setting(setting, ratio):
    assert harmful_ratio(setting) == ratio


@pytest.mark.parametrize("metric", list(METRICS))
def test_every_reported_number_is_on_its_metric_page_with_its_own_baseline(fabricated_site: Path, fabricated_kb: Path, metric):
    corpus = load_corpus(fabricated_kb)
    expected = [(p, r) for p in corpus.papers.values() for r in p.results if r.metric == metric]
    page = (fabricated_site / f"results/{METRICS[metric][0]}/index.html").read_text()
    rows = ROW.findall(page)
    assert len(rows) == len(expected) > 0
    with_baseline = without = 0
    for model, ratio, task, stage, cells in rows:
        values = re.findall(r'<td data-value="([^"]*)">', cells)
        value, baseline, diff = values
        shown_diff = re.findall(r'<td data-value="[^"]*">([^<]*)</td>', cells)[-1]
        paper_id = re.search(r'href="\.\./\.\./papers/([^/]+)/"', cells).group(1)
        match = [r for p, r in expected if p.id == paper_id and f"{r.value:g}" == value and (r.model or "") == html.unescape(model)]
        assert match, (paper_id, value)
        if baseline:
            assert diff and float(diff) == pytest.approx(float(value) - float(baseline))
            assert shown_diff.startswith(("+", "-"))
            with_baseline += 1
        else:
            assert diff == "" and shown_diff == ""  # no baseline: no difference, never a wrong one
            without += 1
        # the cell names its source table
        assert any(r.table and html.escape(r.table) in cells for r in match) or "not stated" in cells
    if metric == "harmful_score":
        assert with_baseline and without  # the fabricated records have both kinds
    for name in ("model", "ratio", "task", "stage"):
        if len({row[["model", "ratio", "task", "stage"].index(name)] for row in rows}) > 1:
            assert f'data-filter="{name}"' in page


def test_scatter_plot_has_one_dot_per_defense_setting_with_both_baselines(fabricated_site: Path, fabricated_kb: Path):
    corpus = load_corpus(fabricated_kb)
    pairs = 0
    for paper in corpus.papers.values():
        fa = {(r.method, r.model, r.task, r.setting) for r in paper.results if r.metric == "finetune_accuracy" and r.baseline is not None}
        pairs += sum(1 for r in paper.results if r.metric == "harmful_score" and r.baseline is not None
                     and (r.method, r.model, r.task, r.setting) in fa)
    page = (fabricated_site / "results/index.html").read_text()
    assert pairs > 0 and f'data-points="{pairs}"' in page
    assert page.count('<circle class="hftkb-dot"') == pairs
    assert "<script" not in page.split('<svg class="hftkb-chart hftkb-scatter"')[1].split("</svg>")[0]
    # the results pages are in the navigation (Explore)
    assert 'href="harmful-score/"' in page and 'href="finetune-accuracy/"' in page and 'href="attack-success-rate/"' in page
