"""Record ids and title normalisation.

A paper id is short, readable and stable: the method's short name when the paper has one (`vaccine-2024`),
otherwise the first significant words of the title (`shadow-alignment-ease-subverting-2023`), then the year.
Ids never change once committed (URLs and relations use them), so the importer keeps an existing record's id.
"""

from __future__ import annotations

import re
import unicodedata

# Words that carry no meaning in an id ("on the vulnerability of ..." -> "vulnerability-...").
_STOPWORDS = frozenset(
    "a an the of on in for to and or via with from by at as is are be can do does your you we our its it this that i "
    "towards toward when what how why not no".split()
)
_ID_WORDS = 4  # words taken from a title when there is no short name
_ID_BASE_MAX = 50  # characters before the year


def normalise_title(title: str) -> str:
    """Lowercase ASCII words separated by single spaces: the key for "same paper" comparisons.

    Accents are stripped, punctuation and quotes dropped, so that "What's in your 'safe' data?" and
    "Whats in your safe data" compare equal.
    """
    text = title.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"['\u2019`]", "", text)  # "what's" -> "whats", not "what s"
    return " ".join(re.findall(r"[a-z0-9]+", text))


def slugify(text: str, max_words: int | None = None) -> str:
    words = normalise_title(text).split()
    if max_words is not None:
        words = words[:max_words]
    slug = "-".join(words)
    if len(slug) > _ID_BASE_MAX:
        slug = slug[:_ID_BASE_MAX].rsplit("-", 1)[0]
    return slug


def title_short_name(title: str) -> str | None:
    """The name before a colon when it looks like a method name: "Vaccine: Perturbation-aware ..." -> "Vaccine".

    At most three words, so that "Fine-tuning can cripple your foundation model: ..." is not taken for a name.
    """
    head, sep, _ = title.partition(":")
    if not sep:
        return None
    head = head.strip()
    if not head or len(head.split()) > 3 or len(head) > 30:
        return None
    return head


def make_paper_id(title: str, year: int, short_name: str | None = None, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A new id for a paper, unique against `taken`: `<short-name or title words>-<year>[-b|-c|...]`."""
    base = slugify(short_name) if short_name else ""
    if not base:
        significant = [w for w in normalise_title(title).split() if w not in _STOPWORDS] or normalise_title(title).split()
        base = slugify(" ".join(significant), _ID_WORDS)
    base = base or "paper"
    candidate = f"{base}-{year}"
    suffix = ord("b")
    while candidate in taken:
        if suffix > ord("z"):
            raise ValueError(f"no free id for {title!r} ({year})")
        candidate = f"{base}-{year}-{chr(suffix)}"
        suffix += 1
    return candidate
