"""Feed HTML -> clean text, before anything is matched or hashed.

Feed content is untrusted and often broken, so the converter is a flat
stdlib ``html.parser`` walk (no tree is built, nothing is fetched, no entity
is expanded twice): tags are dropped, block elements become paragraph breaks,
and the text of elements that are never prose (script, style, ...) is skipped.
Input is capped in size so a hostile feed cannot make one article slow.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from html.parser import HTMLParser

from newswatch.pipeline.article import Article
from newswatch.pipeline.text import clean_whitespace

log = logging.getLogger(__name__)

# Longer fields are truncated before parsing: the parser is linear in
# practice, but a 50 MB "article" is a feed bug, not news.
MAX_HTML_CHARS = 2_000_000

SKIP_TAGS = frozenset({"script", "style", "iframe", "noscript", "template", "svg", "math",
                       "object", "embed", "head", "select", "button", "canvas"})
BLOCK_TAGS = frozenset({
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "section", "article", "header", "footer", "aside", "nav", "main",
    "figure", "figcaption", "table", "thead", "tbody", "tfoot", "tr", "hr", "form", "fieldset",
    "address", "details", "summary", "body", "html",
})
LINE_TAGS = frozenset({"br", "td", "th"})
VOID_TAGS = frozenset({"br", "hr", "img", "input", "meta", "link", "source", "wbr", "area",
                       "base", "col", "embed", "param", "track"})

_LOOKS_HTML = re.compile(r"<[A-Za-z!/?]|&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?")
# C0/C1 controls (except tab and newline), BOM, soft hyphen and bidi
# controls: invisible, and they split words for the matcher.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\ufeff\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # attrs ignored on purpose
        if tag in SKIP_TAGS:
            if tag not in VOID_TAGS:
                self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag in BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag in LINE_TAGS:
            self.parts.append("\n" if tag == "br" else " ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if self.skip_depth or tag in SKIP_TAGS:
            return
        if tag in BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            if self.skip_depth:
                self.skip_depth -= 1
            return
        if not self.skip_depth and tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(raw: str) -> str:
    """Readable text of an HTML fragment (or of plain text, unchanged but
    for whitespace).  Never raises on bad markup."""
    if not raw:
        return ""
    if len(raw) > MAX_HTML_CHARS:
        log.warning("field of %d chars truncated to %d before HTML parsing", len(raw), MAX_HTML_CHARS)
        raw = raw[:MAX_HTML_CHARS]
    if _LOOKS_HTML.search(raw):
        parser = _TextExtractor()
        try:
            parser.feed(raw)
            parser.close()
            text = "".join(parser.parts)
        except Exception as exc:  # html.parser is lenient, but be sure
            log.warning("HTML parser failed (%s); stripping tags crudely", exc)
            text = html.unescape(re.sub(r"<[^>]*>?", " ", raw))
    else:
        text = raw
    return normalize_text(text)


def normalize_text(text: str) -> str:
    """Unicode NFC, invisible characters removed, whitespace collapsed with
    paragraph breaks kept."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return clean_whitespace(text)


def one_line(text: str) -> str:
    return " ".join(text.split())


def normalize_article(article: Article) -> Article:
    """Turn an article's fields into clean text in place (idempotent).

    When the feed repeats the same text as summary and content (many do),
    the summary is emptied so the text is tagged and scored once, not twice."""
    if article.content_format == "html":
        article.title = one_line(html_to_text(article.title))
        article.summary = html_to_text(article.summary)
        article.content = html_to_text(article.content)
        article.content_format = "text"
    else:
        article.title = one_line(normalize_text(article.title))
        article.summary = normalize_text(article.summary)
        article.content = normalize_text(article.content)
    if article.summary and article.content and article.summary == article.content:
        article.summary = ""
    return article
