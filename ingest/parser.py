"""Feed bytes -> raw Articles.

feedparser does the format work (RSS 0.9x/1.0/2.0, Atom, encodings, dates,
relative links, sanitising).  This module decides what an Article is made of,
and turns what feedparser cannot read into an error a user can act on
("this is an HTML page; its feed is probably at ...").  One bad entry never
sinks the others: it is skipped and counted.
"""

from __future__ import annotations

import calendar
import html
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from newswatch.pipeline.article import Article, Source, utcnow
from newswatch.pipeline.urls import article_id, canonical_url, domain_of

log = logging.getLogger(__name__)

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "application/xml", "text/xml")


@dataclass
class ParseResult:
    articles: list[Article] = field(default_factory=list)
    title: str = ""
    link: str = ""
    language: str | None = None
    version: str = ""  # e.g. "rss20", "atom10"; "" when not a feed
    entries_total: int = 0
    skipped: int = 0  # entries without link or guid, or broken
    bozo: str | None = None  # feedparser's complaint when it read the feed anyway
    error: str | None = None  # set when nothing usable came out
    alternates: list[str] = field(default_factory=list)  # feed links found in an HTML page

    @property
    def ok(self) -> bool:
        return self.error is None


class _AlternateLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        rels = a.get("rel", "").lower().split()
        kind = a.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and a.get("href"):
            self.found.append((kind, a["href"].strip()))


def find_alternates(body: bytes, base_url: str = "") -> list[str]:
    """Feed URLs advertised by an HTML page with <link rel="alternate">."""
    text = body[:512 * 1024].decode("utf-8", errors="replace")
    p = _AlternateLinks()
    try:
        p.feed(text)
        p.close()
    except Exception:  # noqa: BLE001 -- HTMLParser on garbage; best effort only
        pass
    out: list[str] = []
    for _kind, href in p.found:
        u = urljoin(base_url, href) if base_url else href
        if u not in out:
            out.append(u)
    return out


def _looks_like_html(body: bytes, content_type: str) -> bool:
    if "html" in content_type.lower() and "xhtml+xml" not in content_type.lower():
        return True
    head = body[:2048].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head[:512]


def _to_datetime(t: Any) -> datetime | None:
    if not t:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(t), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _language_hint(value: str | None) -> str | None:
    if not value:
        return None
    m = re.match(r"\s*([A-Za-z]{2,3})(?:[-_]|$)", str(value))
    return m.group(1).lower() if m else None


def _http_url(value: Any, base: str) -> str:
    if not value or not isinstance(value, str):
        return ""
    value = value.strip()
    u = urljoin(base, value) if base else value
    return u if urlsplit(u).scheme.lower() in ("http", "https") and urlsplit(u).netloc else ""


def _content(entry: Any, summary: str) -> str:
    parts = entry.get("content") or []
    best = ""
    for c in parts:
        value = c.get("value") or ""
        if len(value) > len(best):
            best = value
    # RSS without content:encoded repeats the description here; don't store it twice
    return "" if best.strip() == summary.strip() else best


def parse_feed(
    body: bytes,
    *,
    feed_id: str,
    content_type: str = "",
    base_url: str = "",
    feed_name: str = "",
    feed_tags: list[str] | None = None,
    language: str | None = None,
    fetched_at: datetime | None = None,
) -> ParseResult:
    """Parse *body* (the raw response bytes) into Articles for feed *feed_id*.

    *content_type* is the response Content-Type (its charset matters when the
    XML does not declare one); *base_url* resolves relative links.
    """
    res = ParseResult()
    if not body or not body.strip():
        res.error = "empty response: the server sent no content"
        return res
    headers = {"content-location": base_url} if base_url else {}
    if content_type:
        headers["content-type"] = content_type
    try:
        # a BytesIO, never raw bytes: feedparser would try to open() bytes as a file path
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # noqa: BLE001 -- never let one feed crash the poller
        res.error = f"feed could not be parsed: {type(exc).__name__}: {exc}"
        return res

    meta = parsed.get("feed", {}) or {}
    entries = parsed.get("entries", []) or []
    res.version = parsed.get("version", "") or ""
    res.title = (meta.get("title") or "").strip()
    res.link = meta.get("link") or ""
    res.language = meta.get("language") or None
    res.entries_total = len(entries)
    exc = parsed.get("bozo_exception")
    # a missing/odd Content-Type is the server's problem, not the feed's: not worth a warning
    if parsed.get("bozo") and type(exc).__name__ != "NonXMLContentType":
        res.bozo = f"{type(exc).__name__}: {exc}" if exc else "malformed feed"

    if not entries and not res.version:
        if _looks_like_html(body, content_type):
            res.alternates = find_alternates(body, base_url)
            hint = (" It advertises these feeds: " + ", ".join(res.alternates)) if res.alternates else \
                " It advertises no feed (<link rel=\"alternate\" type=\"application/rss+xml\">)."
            res.error = "this is an HTML page, not an RSS/Atom feed." + hint
        else:
            res.error = "not an RSS/Atom feed" + (f" ({res.bozo})" if res.bozo else "")
        return res

    fetched_at = fetched_at or utcnow()
    hint = _language_hint(language) or _language_hint(res.language)
    source_name = feed_name or _plain(res.title, MAX_NAME)
    feed_domain = domain_of(base_url) or domain_of(res.link)
    base = base_url or res.link
    for entry in entries:
        try:
            art = _article(entry, feed_id=feed_id, base=base, fetched_at=fetched_at, source_name=source_name,
                           feed_domain=feed_domain, feed_tags=feed_tags or [], hint=hint)
        except Exception as exc:  # noqa: BLE001 -- untrusted data; skip and count
            log.debug("feed %s: skipping a broken entry: %s", feed_id, exc)
            art = None
        if art is None:
            res.skipped += 1
        else:
            res.articles.append(art)
    return res


# Feed text is untrusted: names shown in tables, emails and dashboards are
# plain text of sane length (a feed once sent a 20 KB title).
MAX_TITLE = 1000
MAX_NAME = 200
_TAG_RE = re.compile(r"<[^>]*>")


def _plain(text: str, limit: int) -> str:
    """Tags dropped, entities decoded, whitespace folded, length capped."""
    text = html.unescape(_TAG_RE.sub(" ", text or ""))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _article(entry: Any, *, feed_id: str, base: str, fetched_at: datetime, source_name: str,
             feed_domain: str, feed_tags: list[str], hint: str | None) -> Article | None:
    link = _http_url(entry.get("link"), base)
    if not link:
        for ln in entry.get("links") or []:
            if ln.get("rel", "alternate") == "alternate":
                link = _http_url(ln.get("href"), base)
                if link:
                    break
    guid = (entry.get("id") or "").strip() or None
    if not link and not guid:
        return None
    summary = entry.get("summary") or ""
    authors = [_plain(a.get("name", ""), MAX_NAME) for a in entry.get("authors") or [] if a.get("name")]
    if not authors and entry.get("author"):
        authors = [_plain(entry["author"], MAX_NAME)]
    categories = []
    for t in entry.get("tags") or []:
        term = _plain(t.get("term") or t.get("label") or "", MAX_NAME)
        if term and term not in categories:
            categories.append(term)
    published = _to_datetime(entry.get("published_parsed")) or _to_datetime(entry.get("updated_parsed"))
    art = Article(
        id=article_id(link or None, feed_id, guid),
        url=link,
        canonical_url=canonical_url(link) if link else "",
        guid=guid,
        feed_id=feed_id,
        source=Source(name=source_name, domain=domain_of(link) or feed_domain),
        title=(entry.get("title") or "").strip()[:MAX_TITLE],
        summary=summary,
        content=_content(entry, summary),
        content_format="html",
        published_at=published,
        fetched_at=fetched_at,
        authors=authors,
        categories=categories,
        feed_tags=list(feed_tags),
        language_hint=hint,
    )
    art.clamp_published()
    return art
