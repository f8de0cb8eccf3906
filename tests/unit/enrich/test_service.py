"""The Enricher end to end on one process, in-memory dedupe store (a fake of
the SQLite store, which test_dedupe covers) and the default config."""

from pathlib import Path

from newswatch.enrich import MemoryDedupeStore, build_enricher
from newswatch.pipeline.article import Article
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.stage import Processor
from support.seed import seed_text

SEED = seed_text()
ROOT = Path(__file__).resolve().parents[3]


def make(tmp_path, store=None):
    s = Settings(data_dir=tmp_path, config_dir=ROOT / "config")
    return build_enricher(s, dedupe_store=store if store is not None else MemoryDedupeStore())


def test_enriches_html_article(tmp_path):
    e = make(tmp_path)
    assert isinstance(e, Processor)
    html = "<p>" + SEED.replace("\n", "</p><p>") + "</p><script>var MEK=1</script>"
    raw = Article(id="a1", url="https://ex.example/a", title="<b>MEK</b> &amp; Iran", content=html)
    [out] = e.process(raw)
    assert raw.content_format == "html"  # input not mutated
    assert out.content_format == "text" and "<p>" not in out.content and "var MEK" not in out.content
    assert out.language == "en"
    assert {"mek", "ncri"} <= set(out.entity_ids())
    for t in out.entities:
        for m in t.matches:
            assert getattr(out, m.field)[m.start:m.end]
    assert "terrorism" in out.topic_ids()
    assert out.content_hash and out.duplicate_of is None and out.enriched_at
    # idempotent: a replay of the enriched article gives the same tags
    [again] = e.process(out)
    assert again.model_dump(exclude={"enriched_at"}) == out.model_dump(exclude={"enriched_at"})
    # a syndicated copy is marked, not dropped
    [copy] = e.process(Article(id="a2", url="https://other.example/x", title="Different headline", content=html))
    assert copy.duplicate_of == "a1" and copy.story_id == "a1"
    e.close()


def test_default_factory_uses_sqlite_in_data_dir(tmp_path):
    e = build_enricher(Settings(data_dir=tmp_path, config_dir=ROOT / "config"))
    e.process(Article(id="x", content="hello world", content_format="text"))
    e.close()
    assert (tmp_path / "dedupe.sqlite3").exists()


def test_an_article_without_any_text_is_refused_not_indexed_empty():
    import pytest

    from newswatch.pipeline.stage import PermanentError

    from newswatch.enrich import Enricher, EntityTagger, TopicTagger

    enricher = Enricher(EntityTagger([]), TopicTagger([]), None)
    with pytest.raises(PermanentError, match="no text"):
        enricher.process(Article(id="e1", url="https://x.test/e", title="", summary="<p> <script>x()</script></p>"))
