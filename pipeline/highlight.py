"""Snippets with the matched words marked, the same for every backend,
email and CLI.

Markers are the control characters STX/ETX (``\\x02`` ... ``\\x03``), which
never occur in cleaned feed text; each renderer escapes the snippet for its
medium first and then turns the markers into ``<mark>``, ``**`` or ANSI.
"""

from __future__ import annotations

import fnmatch
import html
import re

from newswatch.pipeline.article import Article
from newswatch.pipeline.query.ast import Node, Not, Phrase, Term, walk
from newswatch.pipeline.text import WORD_RE, fold_with_offsets

MARK_START, MARK_END = "\x02", "\x03"


def positive_nodes(node: Node) -> tuple[list[Term], list[Phrase]]:
    """The terms and phrases the query looks for (those not under a NOT)."""
    negated = {id(n) for x in walk(node) if isinstance(x, Not) for n in walk(x.child)}
    live = [n for n in walk(node) if id(n) not in negated]
    return [n for n in live if isinstance(n, Term)], [n for n in live if isinstance(n, Phrase)]


def positive_terms(node: Node) -> tuple[set[str], list[re.Pattern[str]]]:
    """Folded tokens and wildcard patterns the query looks for (not under
    NOT); a phrase counts as its words."""
    terms, phrases = positive_nodes(node)
    words = {t.token for t in terms if not t.wildcard} | {tok for p in phrases for tok in p.tokens}
    return words, [re.compile(fnmatch.translate(t.token)) for t in terms if t.wildcard]


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded token) for every word of *text*, offsets in *text*."""
    folded, origin = fold_with_offsets(text)
    return [(origin[m.start()], origin[m.end() - 1] + 1, m.group()) for m in WORD_RE.finditer(folded)]


def snippet(
    article: Article,
    node: Node,
    *,
    width: int = 220,
    extra_words: set[str] | None = None,
    extra_spans: dict[str, list[tuple[int, int]]] | None = None,
) -> str:
    """The *width*-character window of the article's text with the most query
    hits, hits wrapped in markers; the lead of the text when nothing matches.

    *extra_spans* (per field, character offsets) are marked too: alerts use
    them for the entity aliases enrich found, which are not query words."""
    words, globs = positive_terms(node)
    if extra_words:
        words |= extra_words

    def hit(tok: str) -> bool:
        return tok in words or any(g.match(tok) for g in globs)

    for field in ("summary", "content", "title"):
        text = getattr(article, field)
        if not text:
            continue
        spans = [(s, e) for s, e, tok in token_spans(text) if hit(tok)] if (words or globs) else []
        if extra_spans:
            spans = merge_spans(spans + extra_spans.get(field, []))
        if spans:
            return mark_window(text, spans, width)
    lead = article.summary or article.content or article.title
    return _trim(lead, 0, width)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def mark_window(text: str, spans: list[tuple[int, int]], width: int) -> str:
    """The *width* characters of *text* with the most of the (sorted,
    disjoint) *spans*, those spans marked, cut at word boundaries."""
    best_i, best_n, j = 0, 0, 0
    for i, (s, _) in enumerate(spans):
        while j < len(spans) and spans[j][1] - s <= width:
            j += 1
        if j - i > best_n:
            best_i, best_n = i, j - i
    first = spans[best_i][0]
    start = max(0, first - width // 4)
    while start > 0 and not text[start - 1].isspace() and start > first - width // 4 - 20:
        start -= 1  # don't start mid-word
    end = max(min(len(text), start + width), min(len(text), spans[best_i][1]))
    while end < len(text) and not text[end - 1].isspace() and end < start + width + 20:
        end += 1  # nor end mid-word
    out, pos = [], start
    for s, e in spans:
        if s < start or e > end:
            continue
        out.append(text[pos:s] + MARK_START + text[s:e] + MARK_END)
        pos = e
    out.append(text[pos:end])
    body = " ".join("".join(out).split())
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")


def _trim(text: str, start: int, width: int) -> str:
    body = text[start : start + width].replace("\n", " ").strip()
    return body + (" …" if len(text) > start + width else "")


def to_html(marked: str) -> str:
    """Escape a marked snippet for HTML, then turn markers into <mark>."""
    return html.escape(marked).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def to_text(marked: str, start: str = "[", end: str = "]") -> str:
    return marked.replace(MARK_START, start).replace(MARK_END, end)


def split_marks(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """The plain text of a marked snippet and the [start, end) offsets of
    its marked words in that text (for programs: no markers to parse, and
    no confusing a marker with a bracket in the article)."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos, start = 0, None
    for part in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if part == MARK_START:
            start = pos
        elif part == MARK_END:
            if start is not None:
                spans.append((start, pos))
            start = None
        else:
            out.append(part)
            pos += len(part)
    return "".join(out), spans
