"""How close a candidate paper is to the knowledge base: TF-IDF (scikit-learn) over titles and abstracts.

`hftkb discover` ranks the papers arXiv found by their likeness to what the knowledge base already holds. Each
record is one document: its title, short name, summary and mechanism; each candidate one too: its title and
abstract. scikit-learn's `TfidfVectorizer` (English stop words, words and word pairs, sublinear term
frequency) is fitted on all of them together, and cosine similarity compares each candidate with each record.

* the candidate's `score` is the mean similarity to its three most similar records: a paper close to several
  records is on topic, one that merely shares a rare word with a single record is not;
* `similar` names those three records (those with any word in common);
* the suggested `kind` (and, for a defense, `stage`) is the similarity-weighted vote of the five most similar
  records: a suggestion for the curator, who checks it.

scikit-learn is an optional dependency (the `discover` extra, in `all`); `MissingRanker` says so in one line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

SIMILAR_SHOWN = 3
VOTERS = 5


class MissingRanker(RuntimeError):
    """scikit-learn is not installed; the message is one line for the user."""


@dataclass
class Ranking:
    score: float
    similar: list[tuple[str, float]] = field(default_factory=list)  # (record id, cosine similarity)
    kind: str | None = None
    stage: str | None = None


def record_text(paper) -> str:
    """The text a record is known by: title, short name, summary, mechanism."""
    return " ".join(part for part in (paper.title, paper.short_name, paper.summary, paper.mechanism) if part)


def rank(candidate_texts: list[str], papers: list) -> list[Ranking]:
    """One Ranking per candidate text, against the records `papers` (hftkb.models.Paper)."""
    if not candidate_texts:
        return []
    if not papers:
        return [Ranking(score=0.0) for _ in candidate_texts]
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics.pairwise import cosine_similarity
    except ImportError:
        raise MissingRanker(
            "ranking needs scikit-learn, which is not installed: pip install 'hftkb[discover]' (or scikit-learn)"
        ) from None

    record_texts = [record_text(paper) for paper in papers]
    vectorizer = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    matrix = vectorizer.fit_transform(record_texts + candidate_texts)
    similarities = cosine_similarity(matrix[len(record_texts):], matrix[: len(record_texts)])

    rankings = []
    for row in similarities:
        order = sorted(range(len(papers)), key=lambda i: (-row[i], papers[i].id))
        top = order[:SIMILAR_SHOWN]
        score = sum(row[i] for i in top) / len(top)
        kind = _vote([(papers[i].kind, row[i]) for i in order[:VOTERS]])
        stage = None
        if kind == "defense":
            stage = _vote([(papers[i].stage, row[i]) for i in order if papers[i].kind == "defense" and papers[i].stage][:VOTERS])
        rankings.append(Ranking(
            score=round(float(score), 3),
            similar=[(papers[i].id, round(float(row[i]), 3)) for i in top if row[i] > 0],
            kind=kind, stage=stage,
        ))
    return rankings


def _vote(weighted: list[tuple[str | None, float]]) -> str | None:
    totals: dict[str, float] = defaultdict(float)
    for label, weight in weighted:
        if label:
            totals[label] += weight
    if not totals or max(totals.values()) <= 0:
        return None
    return max(sorted(totals), key=lambda label: totals[label])
