"""Paper metadata from the arXiv API, through the `arxiv` package, with a local cache and polite retries.

* `parse_arxiv_ref` turns what a contributor types (``arxiv:2402.01109``, ``2402.01109v3``,
  ``https://arxiv.org/abs/2402.01109``, ``https://arxiv.org/pdf/2402.01109v2.pdf``, ``hep-th/9901001``)
  into a bare id, or raises `BadArxivRef` with a one-line message.
* `fetch_arxiv` answers ``{id: ArxivPaper | None}`` (None: arXiv has no such paper). Answers are cached as
  JSON in ``$HFTKB_ARXIV_CACHE`` (default ``~/.cache/hftkb/arxiv``), so a second ``hftkb add`` of the same id
  needs no network.
* `search_arxiv` runs one search query (``hftkb discover``) and answers its papers, newest first; each paper it
  finds is cached like a `fetch_arxiv` answer, so adding it afterwards needs no request. Searches themselves
  are not cached: their answer changes every day.
* The `arxiv` package (4.x) retries a failed request right away and then raises ``arxiv.HTTPError``
  (with ``.status``); it does not wait longer after a 429 "slow down" or a 503. So its own retries are off
  (``num_retries=0``) and this module retries 429/5xx itself with exponential back-off. A connection error
  or timeout means offline: `ArxivUnavailable` with a one-line message, no retries (the user is waiting).

Tests never reach the network: they plug recorded Atom replies in at the HTTP layer (the `requests`
session the `arxiv` package uses), so the package's own feed parser runs on them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Seconds between two requests: arXiv's terms of use ask for at most one request every three seconds.
REQUEST_DELAY_S = 3.0
#: First wait after a 429/5xx answer; doubled after each further one.
BACKOFF_S = 5.0
#: Attempts per request before giving up (1 + retries).
ATTEMPTS = 4
#: Seconds before an unanswered request counts as offline.
TIMEOUT_S = 30.0
#: Ids per API request (the API pages at up to 2000; 100 keeps URLs short).
BATCH = 100

RETRYABLE_STATUS = {429, 500, 502, 503, 504}

_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ID_WITH_VERSION = re.compile(rf"^(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?$")
_URL = re.compile(
    rf"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<rest>(?:{_NEW_ID}|{_OLD_ID})(?:v\d+)?)(?:\.pdf)?/?$",
    flags=re.IGNORECASE,
)


class BadArxivRef(ValueError):
    """What the user typed is not an arXiv id or URL."""


class ArxivUnavailable(RuntimeError):
    """The arXiv API could not be reached or kept refusing; the message is one line for the user."""


@dataclass
class ArxivPaper:
    """The parts of an arXiv API answer a record is built from (all plain data, so it caches as JSON)."""

    arxiv_id: str
    version: int | None
    title: str
    authors: list[str]
    published: str  # ISO date of v1
    updated: str  # ISO date of the latest version
    summary: str = ""
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    primary_category: str = ""
    categories: list[str] = field(default_factory=list)

    @property
    def published_date(self) -> dt.date:
        return dt.date.fromisoformat(self.published)

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"


def parse_arxiv_ref(text: str) -> str:
    """``arxiv:2402.01109v2`` / an arXiv URL / a bare id -> ``2402.01109`` (raises BadArxivRef)."""
    raw = text.strip()
    candidate = raw
    if candidate.lower().startswith("arxiv:"):
        candidate = candidate[len("arxiv:") :].strip()
    match = _URL.match(candidate)
    if match:
        candidate = match.group("rest")
    match = _ID_WITH_VERSION.match(candidate)
    if not match:
        raise BadArxivRef(
            f"{raw!r} is not an arXiv id or URL (expected e.g. arxiv:2402.01109 or https://arxiv.org/abs/2402.01109)"
        )
    arxiv_id = match.group("id")
    if re.match(_NEW_ID, arxiv_id):
        month = int(arxiv_id[2:4])
        if not 1 <= month <= 12:
            raise BadArxivRef(f"{raw!r} is not an arXiv id: '{arxiv_id[:4]}' is not a YYMM month")
    return arxiv_id


# ---------------------------------------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """Where answers are kept: $HFTKB_ARXIV_CACHE, else $XDG_CACHE_HOME/hftkb/arxiv, else ~/.cache/hftkb/arxiv."""
    override = os.environ.get("HFTKB_ARXIV_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hftkb" / "arxiv"


def _cache_path(directory: Path, arxiv_id: str) -> Path:
    return directory / (arxiv_id.replace("/", "_") + ".json")  # old-style ids hold a slash


def _read_cache(directory: Path, arxiv_id: str) -> ArxivPaper | None:
    path = _cache_path(directory, arxiv_id)
    try:
        return ArxivPaper(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # missing or unreadable (an older format): ask arXiv again


def cached_paper(arxiv_id: str) -> ArxivPaper | None:
    """The cached answer for a bare arXiv id, or None; never asks arXiv (`validate --strict` reads abstracts here)."""
    return _read_cache(cache_dir(), arxiv_id)


def _write_cache(directory: Path, paper: ArxivPaper) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = _cache_path(directory, paper.arxiv_id)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(paper), indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home is no reason to fail an import; the answer is just not cached


# ---------------------------------------------------------------------------------------------------------
# The API


def _session():
    """A requests session with a timeout on every request (the arxiv package sets none)."""
    import requests

    class _TimeoutSession(requests.Session):
        def request(self, method, url, **kwargs):
            kwargs.setdefault("timeout", TIMEOUT_S)
            return super().request(method, url, **kwargs)

    return _TimeoutSession()


def _to_paper(result, arxiv_id: str) -> ArxivPaper:
    short = result.get_short_id()
    match = re.search(r"v(\d+)$", short)
    return ArxivPaper(
        arxiv_id=arxiv_id,
        version=int(match.group(1)) if match else None,
        title=" ".join((result.title or "").split()),
        authors=[" ".join(a.name.split()) for a in result.authors if a.name and a.name.strip()],
        published=result.published.date().isoformat(),
        updated=result.updated.date().isoformat(),
        summary=" ".join((result.summary or "").split()),
        comment=" ".join(result.comment.split()) if result.comment else None,
        journal_ref=" ".join(result.journal_ref.split()) if result.journal_ref else None,
        doi=result.doi.strip() if result.doi else None,
        primary_category=result.primary_category or "",
        categories=list(result.categories),
    )


def new_client():
    """An `arxiv.Client` with this module's settings: no own retries (see `_query`), a timeout on each request."""
    import arxiv

    client = arxiv.Client(page_size=BATCH, delay_seconds=REQUEST_DELAY_S, num_retries=0)
    client._session = _session()  # the package's only hook for transport settings (timeout)
    return client


def _query(client, ids: list[str], sleep, search=None, what: str | None = None) -> list:
    """One API request for `ids` (or for `search`, described as `what` in messages), retried with back-off on
    429/5xx; returns the package's Result objects."""
    import arxiv
    import requests

    if search is None:
        search = arxiv.Search(id_list=ids, max_results=len(ids))
    what = what or ", ".join(ids)
    wait = BACKOFF_S
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return list(client.results(search))
        except arxiv.HTTPError as err:
            if err.status not in RETRYABLE_STATUS:
                raise ArxivUnavailable(f"arXiv API answered HTTP {err.status} for {what}") from None
            if attempt == ATTEMPTS:
                why = "rate limited: too many requests" if err.status == 429 else "service unavailable"
                raise ArxivUnavailable(
                    f"arXiv API answered HTTP {err.status} ({why}) {ATTEMPTS} times; try again in a few minutes"
                ) from None
            sleep(wait)
            wait *= 2
        except arxiv.UnexpectedEmptyPageError:
            # A later page of a search came back empty: arXiv's known hiccup; asking again usually works.
            if attempt == ATTEMPTS:
                raise ArxivUnavailable(f"arXiv API sent empty pages for {what} {ATTEMPTS} times; try again later") from None
            sleep(wait)
            wait *= 2
        except (requests.ConnectionError, requests.Timeout) as err:
            kind = "timed out" if isinstance(err, requests.Timeout) else "cannot connect"
            raise ArxivUnavailable(
                f"cannot reach the arXiv API (export.arxiv.org: {kind}); are you offline? "
                "Ids fetched before are answered from the cache."
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_arxiv(ids: list[str], *, use_cache: bool = True, sleep=time.sleep) -> dict[str, ArxivPaper | None]:
    """Metadata for bare arXiv ids: ``{id: ArxivPaper}``, None for an id arXiv does not know.

    Raises ArxivUnavailable when the API cannot be reached or keeps refusing.
    """
    directory = cache_dir()
    answers: dict[str, ArxivPaper | None] = {}
    missing = []
    for arxiv_id in dict.fromkeys(ids):  # keep order, drop repeats
        cached = _read_cache(directory, arxiv_id) if use_cache else None
        if cached is not None:
            answers[arxiv_id] = cached
        else:
            missing.append(arxiv_id)
    if not missing:
        return answers

    client = new_client()
    for start in range(0, len(missing), BATCH):
        batch = missing[start : start + BATCH]
        for result in _query(client, batch, sleep):
            found = re.sub(r"v\d+$", "", result.get_short_id())
            if found in batch:  # error entries ("incorrect id format") carry no requested id
                paper = _to_paper(result, found)
                answers[found] = paper
                if paper.title:
                    _write_cache(directory, paper)
    return {arxiv_id: answers.get(arxiv_id) for arxiv_id in dict.fromkeys(ids)}


def search_arxiv(query: str, *, max_results: int, sleep=time.sleep, client=None) -> list[ArxivPaper]:
    """The papers matching an arXiv API `search_query` (e.g. ``abs:"harmful fine-tuning" AND cat:cs.CL``),
    newest submission first, at most `max_results`. Each is cached for a later `fetch_arxiv`.

    Raises ArxivUnavailable when the API cannot be reached or keeps refusing. Pass one `client` to several
    calls so that the package keeps its three seconds between them.
    """
    import arxiv

    search = arxiv.Search(
        query=query, max_results=max_results,
        sort_by=arxiv.SortCriterion.SubmittedDate, sort_order=arxiv.SortOrder.Descending,
    )
    directory = cache_dir()
    papers = []
    for result in _query(client or new_client(), [], sleep, search=search, what=f"the search {query!r}"):
        arxiv_id = re.sub(r"v\d+$", "", result.get_short_id())
        paper = _to_paper(result, arxiv_id)
        if paper.title:
            _write_cache(directory, paper)
            papers.append(paper)
    return papers
