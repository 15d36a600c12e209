"""Helpers for the contribution tests (add, import-bib, export-bib, sync-awesome): a fabricated knowledge base
and a replay of recorded arXiv API answers at the HTTP layer."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests

ARXIV_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv"
BIB_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bib"

TAXONOMY = {
    "kinds": """
        - id: attack
          name: Attack
        - id: defense
          name: Defense
        - id: analysis
          name: Analysis
        - id: benchmark
          name: Benchmark
        - id: survey
          name: Survey
    """,
    "stages": """
        - id: pre_training
          name: Pre-training stage
        - id: alignment
          name: Alignment stage
        - id: fine_tuning
          name: Fine-tuning stage
        - id: post_fine_tuning
          name: Post-fine-tuning stage
    """,
    "sub_families": """
        - id: representation_perturbation
          name: Perturbation-aware alignment
          parent: alignment
        - id: weight_pruning
          name: Pruning
          parent: post_fine_tuning
    """,
    "attack_types": """
        - id: harmful_data
          name: Harmful data
        - id: benign_data
          name: Benign data only
    """,
    "relation_types": """
        - id: extends
          name: extends
          inverse: extended by
        - id: compares_to
          name: compares to
          inverse: compared by
    """,
    "venues": """
        - id: arxiv
          name: arXiv
        - id: neurips
          name: NeurIPS
          description: Conference on Neural Information Processing Systems.
          aliases: [Advances in Neural Information Processing Systems, NIPS]
        - id: iclr
          name: ICLR
          aliases: [International Conference on Learning Representations]
        - id: icml
          name: ICML
        - id: acl
          name: ACL
          aliases: [Annual Meeting of the Association for Computational Linguistics]
        - id: naacl
          name: NAACL
        - id: colm
          name: COLM
        - id: tmlr
          name: Transactions on Machine Learning Research
          aliases: [TMLR]
    """,
    "tags": """
        - id: lora
          name: LoRA
        - id: rlhf
          name: RLHF
    """,
    "needs": """
        - id: alignment_data
          name: Alignment data
        - id: harmful_data
          name: Harmful data
    """,
    # the result vocabularies (issue 25), as small as the records below need
    "models": """
        - id: llama-2-7b
          name: Llama-2-7B
          aliases: [Llama2-7B]
    """,
    "tasks": """
        - id: sst2
          name: SST-2
    """,
    "metrics": """
        - id: harmful_score
          name: Harmful score
          direction: lower
          unit: percent
    """,
    "baselines": """
        - id: sft
          name: SFT (no defense)
    """,
}

VACCINE = """\
id: vaccine-2024
title: 'Vaccine: Perturbation-aware Alignment for Large Language Models against Harmful Fine-tuning Attack'
short_name: Vaccine
authors:
  - Tiansheng Huang
  - Sihao Hu
  - Ling Liu
date: 2024-02-02
venue:
  name: neurips
  year: 2024
kind: defense
stage: alignment
identifiers:
  arxiv: '2402.01109'
added: 2025-10-28
"""


def make_kb(root: Path, papers: dict[str, str] | None = None) -> Path:
    """A knowledge base with the vocabularies above and the given papers/<id>.yaml texts."""
    (root / "taxonomy").mkdir(parents=True, exist_ok=True)
    (root / "papers").mkdir(exist_ok=True)
    for name, text in TAXONOMY.items():
        (root / "taxonomy" / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    for paper_id, text in (papers or {}).items():
        (root / "papers" / f"{paper_id}.yaml").write_text(text, encoding="utf-8")
    return root


class ArxivReplay(requests.adapters.BaseAdapter):
    """A requests transport that answers arXiv API queries from tests/fixtures/arxiv/<id_list>.xml, and
    searches from tests/fixtures/arxiv/search/<title terms>.xml.

    `statuses` queues HTTP statuses to answer first (e.g. [429, 503] then the recorded feed);
    `offline=True` raises the ConnectionError a machine without network gets. Every request is in `urls`.
    """

    def __init__(self, statuses: list[int] | None = None, offline: bool = False):
        super().__init__()
        self.statuses = list(statuses or [])
        self.offline = offline
        self.urls: list[str] = []
        self.searches: list[str] = []  # the search_query of each search request

    def send(self, request, **kwargs):
        self.urls.append(request.url)
        if self.offline:
            raise requests.ConnectionError("Failed to resolve 'export.arxiv.org' (fixture: no network)")
        url = urlparse(request.url)
        assert url.hostname == "export.arxiv.org", f"unexpected request to {request.url}"
        response = requests.Response()
        response.request = request
        response.url = request.url
        if self.statuses:
            response.status_code = self.statuses.pop(0)
            response._content = b"Rate exceeded."
            return response
        params = parse_qs(url.query)
        if params.get("search_query"):
            # A search (`hftkb discover`): search/<its title terms joined by dashes>.xml, else the empty feed
            # arXiv sends when nothing matches.
            terms = re.findall(r'ti:(?:"([^"]+)"|(\S+))', params["search_query"][0])
            slug = "-".join((phrase or word).replace(" ", "-") for phrase, word in terms)
            self.searches.append(params["search_query"][0])
            path = ARXIV_FIXTURES / "search" / f"{slug}.xml"
            if not path.is_file():
                path = ARXIV_FIXTURES / "2501.99999.xml"
        else:
            id_list = params["id_list"][0]
            path = ARXIV_FIXTURES / f"{id_list}.xml"
            assert path.is_file(), f"no recorded arXiv answer for id_list={id_list}"
        response.status_code = 200
        response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
        response._content = path.read_bytes()
        return response

    def close(self):
        pass


def install_replay(monkeypatch, tmp_path: Path, **kwargs) -> ArxivReplay:
    """Route every requests session through an ArxivReplay; fresh cache dir; no waiting between requests."""
    import hftkb.arxiv_client as client

    replay = ArxivReplay(**kwargs)
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: replay)
    monkeypatch.setenv("HFTKB_ARXIV_CACHE", str(tmp_path / "arxiv-cache"))
    monkeypatch.setattr(client, "REQUEST_DELAY_S", 0.0)
    monkeypatch.setattr(client, "BACKOFF_S", 0.0)
    return replay


TODAY = dt.date.today()
