"""Full-text extraction with the real trafilatura (installed as the optional extra)."""

from __future__ import annotations

import html

from newswatch.ingest import fulltext
from support.seed import seed_path

SEED = seed_path()


def test_extracts_article_body_not_navigation():
    text = SEED.read_text(encoding="utf-8")
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    page = f"<html><body><nav>Home | Sport | Weather</nav><article>{paras}</article><footer>Cookies</footer></body></html>"
    got = fulltext.extract_main_text(page.encode(), "https://x.example/a")
    assert got is not None
    assert text.split(".")[0] in got and "Weather" not in got and "Cookies" not in got


def test_text_to_html_escapes_markup():
    out = fulltext.text_to_html("a <script>alert(1)</script>\n\nb & c")
    assert out == "<p>a &lt;script&gt;alert(1)&lt;/script&gt;</p><p>b &amp; c</p>"


def test_nothing_to_extract():
    assert fulltext.extract_main_text(b"") is None
    assert fulltext.extract_main_text(b"<html><body></body></html>") is None
