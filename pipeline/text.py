"""Text normalisation and tokenisation shared by every stage and backend.

The Python matcher, the SQLite FTS5 index and the entity tagger must agree on
what a "word" is, or a rule would match an article the search does not find.
So there is exactly one definition here: fold (NFKC, strip combining marks,
casefold, unify Arabic/Persian letter variants) then split on anything that is
not a letter or a digit.  The SQLite backend stores folded text and lets FTS5
split it with the same rule; Elasticsearch uses an analyzer built to match.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Arabic-script letters that Persian and Arabic write differently for the same
# word; folding them lets one alias match both spellings.
_LETTER_FOLD = str.maketrans(
    {
        "\u0643": "\u06a9",  # ARABIC KAF -> KEHEH (Persian kaf)
        "\u064a": "\u06cc",  # ARABIC YEH -> FARSI YEH
        "\u0649": "\u06cc",  # ALEF MAKSURA -> FARSI YEH
        "\u0629": "\u0647",  # TEH MARBUTA -> HEH
        "\u0623": "\u0627",  # ALEF WITH HAMZA ABOVE -> ALEF
        "\u0625": "\u0627",  # ALEF WITH HAMZA BELOW -> ALEF
        "\u0622": "\u0627",  # ALEF WITH MADDA -> ALEF
        "\u0640": None,  # TATWEEL (kashida) is decoration
        "\u2019": "'",
        "\u2018": "'",
        "\u00df": "ss",
    }
)

WORD_RE = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of *text* used for all matching.

    Not length-preserving; use :func:`fold_with_offsets` when positions in the
    original text matter (entity evidence)."""
    n = len(text)
    if n < 64:
        return _fold_cached(text)
    # One article's body is folded by dedupe, topics, the index and alerts in
    # turn; a few recent bodies are kept (the same str object hits at once).
    return _fold_recent(text) if n <= 20_000 and not text.isascii() else _fold(text)


class _CombiningMarks(dict):
    """``str.translate`` table deleting combining marks (canonical combining
    class != 0), filled on first sight of each code point: after warm-up the
    stripping runs in C instead of a Python loop over every character."""

    LIMIT = 65536  # hostile text may use every code point: stop remembering

    def __missing__(self, cp: int) -> int | None:
        out = None if unicodedata.combining(chr(cp)) else cp
        if len(self) < self.LIMIT:
            self[cp] = out
        return out


_STRIP_COMBINING = _CombiningMarks()


def _fold_run(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTER_FOLD))
    stripped = decomposed.translate(_STRIP_COMBINING)
    return unicodedata.normalize("NFC", stripped).casefold().translate(_LETTER_FOLD)


# Non-ASCII runs between ASCII characters are mostly whole words (Persian,
# Arabic, Cyrillic) or single accented letters (French, German): they repeat.
# Long runs (CJK prose has no spaces) are not worth keeping.
_fold_short_run = lru_cache(maxsize=65536)(_fold_run)


def _fold_run_cached(run: str) -> str:
    return _fold_short_run(run) if len(run) <= 40 else _fold_run(run)


_RUNS_RE = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]+")


def _fold(text: str) -> str:
    # Same result as _fold_run(text), much faster on mostly-ASCII news text:
    # ASCII folds to lower() and nothing composes across an ASCII/non-ASCII
    # boundary once combining marks are stripped, so runs fold independently.
    if text.isascii():
        return text.lower()
    if len(text) > 64 and len(text.encode("utf-8", "surrogatepass")) - len(text) > len(text) // 5:
        # Text in another script (Persian, Arabic, Russian) changes run at
        # every word.  Nothing composes across an ASCII space either: fold
        # word by word, each distinct word once per process (a cache hit is a
        # call in C, not a turn of a Python loop): 5 KB of Persian 1 ms -> 0.1.
        words = text.split(" ")
        if max(map(len, words)) <= 40:
            return " ".join(map(_fold_cached, words))
    return "".join(
        run.lower() if run[0] < "\x80" else _fold_run_cached(run) for run in _RUNS_RE.findall(text)
    )


_fold_cached = lru_cache(maxsize=65536)(_fold)
_fold_recent = lru_cache(maxsize=128)(_fold)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold *text* and return, for each character of the result, the index of
    the character in *text* it came from (plus a final entry for the end).

    Lets a match found in folded text be reported at its place in the text the
    user sees.  ASCII runs (most of most news text) fold one-to-one with
    lower(), so only the other characters are folded one by one."""
    if text.isascii():
        return text.lower(), list(range(len(text) + 1))
    out: list[str] = []
    origin: list[int] = []
    pos = 0
    for run in _RUNS_RE.findall(text):
        if run[0] < "\x80":
            out.append(run.lower())
            origin.extend(range(pos, pos + len(run)))
        else:
            for i, ch in enumerate(run, pos):
                f = _fold_run_cached(ch)
                out.append(f)
                origin.extend([i] * len(f))
        pos += len(run)
    origin.append(len(text))
    return "".join(out), origin


def tokens(text: str) -> list[str]:
    """Folded word tokens of *text*, in order (a fresh list: callers may
    change it)."""
    if len(text) > _CACHE_MAX_CHARS:  # a huge text is not kept: the cache stays a few MB
        return tokenize_folded(fold(text))
    return list(_tokens(text))


_CACHE_MAX_CHARS = 50_000


# One article's text is tokenised by dedupe, the topic and alert matchers and
# the index, moments apart: remembering the last few hundred texts makes that
# one tokenisation (a fifth of the embedded pipeline's CPU time before).
# Bounded: a few hundred news texts are a few MB.
@lru_cache(maxsize=384)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(tokenize_folded(fold(text)))


# WORD_RE's [^\W_] is exactly str.isalnum(); on ASCII, mapping every other
# character to a space and splitting is the same split, ~6x faster.
_ASCII_SPLIT = str.maketrans({chr(i): chr(i) if chr(i).isalnum() else " " for i in range(128)})
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def tokenize_folded(folded: str) -> list[str]:
    """``WORD_RE.findall(folded)``, fast on mostly-ASCII text."""
    if not folded.isascii():
        # English news still has a few dashes and quotes: those split words
        # like spaces; any non-ASCII letter or digit takes the regex (and
        # text in another script is not worth looking through first)
        if len(folded.encode("utf-8", "surrogatepass")) - len(folded) > len(folded) // 20:
            return WORD_RE.findall(folded)
        odd = set(_NON_ASCII_RE.findall(folded))
        if any(c.isalnum() for c in odd):
            return WORD_RE.findall(folded)
        folded = _NON_ASCII_RE.sub(" ", folded)
    return folded.translate(_ASCII_SPLIT).split()


_WS_RE = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
# _WS_RE's characters other than the space; text with none of them and no
# double space has nothing to collapse, and `in` is far cheaper than the regex
_WS_ODD_ASCII = ("\t", "\r", "\f", "\v")
_WS_ODD = _WS_ODD_ASCII + ("\u00a0", *map(chr, range(0x2000, 0x200C)), "\u202f", "\u205f", "\u3000")
_NL_RE = re.compile(r"\n\s*\n\s*")


def clean_whitespace(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks as one blank line."""
    text = unicodedata.normalize("NFC", text)
    if "  " in text or any(c in text for c in (_WS_ODD_ASCII if text.isascii() else _WS_ODD)):
        text = _WS_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _NL_RE.sub("\n\n", text)
    return text.strip()
