"""Optional full text for feeds that only carry a teaser.

trafilatura is an optional extra (``newswatch[fulltext]``) and slow to import,
so it is imported on first use; without it, articles keep their summary and a
single warning says how to get full text.  The extracted text is stored as
escaped ``<p>`` paragraphs so ``content_format`` stays ``html`` like the rest
of a raw Article.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

from newswatch.pipeline.article import Article

from .fetcher import HTML_ACCEPT, Fetcher

log = logging.getLogger(__name__)

_lock = threading.Lock()
_module: Any = None
_missing_warned = False


def _trafilatura() -> Any | None:
    global _module, _missing_warned
    with _lock:
        if _module is None:
            try:
                import trafilatura  # noqa: PLC0415 -- lazy on purpose

                _module = trafilatura
            except ImportError:
                _module = False
                if not _missing_warned:
                    _missing_warned = True
                    log.warning("full_text is on for some feeds but trafilatura is not installed -- "
                                "`pip install newswatch[fulltext]`; keeping summaries")
        return _module or None


def available() -> bool:
    return _trafilatura() is not None


def extract_main_text(page: bytes | str, url: str = "") -> str | None:
    """The article's main text from an HTML page, or None if none was found."""
    t = _trafilatura()
    if t is None or not page:
        return None
    try:
        text = t.extract(page, url=url or None, include_comments=False, include_tables=False,
                         favor_precision=True)
    except Exception as exc:  # noqa: BLE001 -- hostile HTML must not break the poll
        log.debug("trafilatura failed on %s: %s", url, exc)
        return None
    return text.strip() if text and text.strip() else None


def text_to_html(text: str) -> str:
    paras = [p.strip() for p in text.split("\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paras)


def add_full_text(article: Article, fetcher: Fetcher) -> bool:
    """Fetch the article page and put its main text in ``content``.

    Only when the feed gave no content of its own.  Returns True if content was added."""
    if article.content or not article.url or _trafilatura() is None:
        return False
    res = fetcher.fetch(article.url, accept=HTML_ACCEPT)
    if not res.ok:
        log.info("full text for %s not fetched: %s", article.url, res.reason or res.status)
        return False
    text = extract_main_text(res.body, res.final_url or article.url)
    if not text:
        return False
    article.content = text_to_html(text)
    return True
