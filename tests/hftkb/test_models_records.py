"""The record models alone: strict types, http(s) links, identifiers as text, canonical dumps."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from hftkb.models import Identifiers, Link, Paper, Venue
from hftkb.yamlio import dump_record, parse_yaml

BASE = {"id": "x-2024", "title": "X", "date": dt.date(2024, 1, 2), "kind": "defense", "added": dt.date(2024, 2, 1)}


def test_minimal_paper() -> None:
    paper = Paper.model_validate(BASE)
    assert paper.identifiers == Identifiers() and paper.links == [] and paper.venue is None


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "ftp://x.org", "http:// x"])
def test_links_are_http_only(url: str) -> None:
    with pytest.raises(ValidationError):
        Link(kind="paper", url=url)


def test_identifiers_must_be_text_and_well_formed() -> None:
    with pytest.raises(ValidationError):
        Identifiers.model_validate({"arxiv": 2310.0369})
    with pytest.raises(ValidationError):
        Identifiers.model_validate({"arxiv": "2310.03690v2"})  # no version suffix
    assert Identifiers(arxiv="2310.03690").arxiv == "2310.03690"
    # ACL Anthology volumes may hold digits (workshop volumes: CALCS 2025 is '2025.calcs-1').
    assert Identifiers(acl="2025.calcs-1.5").acl == "2025.calcs-1.5"
    with pytest.raises(ValidationError):
        Identifiers.model_validate({"acl": "2025.calcs 1.5"})


@pytest.mark.parametrize("bad", [{"id": "Vaccine-2024"}, {"id": "a_b"}, {"kind": "Defense"}, {"extra": 1}, {"date": "2024-01-02"}])
def test_strict_fields(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Paper.model_validate({**BASE, **bad})


def test_venue_tracks() -> None:
    assert Venue(name="iclr", year=2026, track="submission").track == "submission"
    with pytest.raises(ValidationError):
        Venue(name="iclr", track="poster")


def test_dump_round_trip_keeps_identifiers_as_text() -> None:
    paper = Paper.model_validate({**BASE, "identifiers": {"arxiv": "2310.03690"}, "short_name": "no",
                                  "summary": "A long summary. " * 12, "mechanism": "Line one.\nLine two."})
    text = dump_record(paper)
    assert text.startswith("# yaml-language-server: $schema=_schema.json\n")
    assert "arxiv: '2310.03690'" in text and "short_name: 'no'" in text
    data, _ = parse_yaml(text)
    assert Paper.model_validate(data) == paper
    assert dump_record(Paper.model_validate(data)) == text


def test_quoted_date_gets_a_hint(tmp_path) -> None:
    from hftkb.records import validate_record

    data, positions = parse_yaml("id: x-2024\ntitle: X\ndate: '2024-01-02'\nkind: defense\nadded: 2024-02-01\n")
    record, problems = validate_record(Paper, data, positions, "x.yaml")
    assert record is None
    assert [(p.line, p.code) for p in problems] == [(3, "E203")]
    assert "write dates unquoted" in problems[0].message
