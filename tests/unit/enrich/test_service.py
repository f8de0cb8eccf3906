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


def test_a_batch_gives_what_one_by_one_gives(tmp_path):
    """process_batch (one dedupe transaction) = process per article on a
    fresh store: same outputs, duplicates found inside the batch, and an
    empty article fails alone without failing the batch."""
    from newswatch.pipeline.stage import PermanentError

    html = "<p>" + SEED.replace("\n", "</p><p>") + "</p>"
    batch = [
        Article(id="a1", url="https://ex.example/a", title="MEK and NCRI", content=html),
        Article(id="e1", url="https://ex.example/empty", title="", content="<p> </p>"),
        Article(id="a2", url="https://other.example/x", title="Different headline", content=html),
        Article(id="b1", url="https://ex.example/b", title="Weather in Tirana", content="<p>Rain in Tirana today.</p>"),
    ]
    batched = make(tmp_path / "one").process_batch(batch)
    single = make(tmp_path / "two")
    assert isinstance(batched[1], PermanentError)
    for article, got in zip(batch, batched):
        if article.id == "e1":
            continue
        [want] = single.process(article)
        [out] = got
        assert out.model_dump(exclude={"enriched_at"}) == want.model_dump(exclude={"enriched_at"})
    assert batched[2][0].duplicate_of == "a1"


def test_a_dedupe_outage_fails_the_batch_and_decides_nothing(tmp_path):
    import sqlite3

    from newswatch.enrich.dedupe import SQLiteDedupeStore

    store = SQLiteDedupeStore(tmp_path / "d.sqlite3")
    e = make(tmp_path, store)
    locked = sqlite3.connect(str(tmp_path / "d.sqlite3"), timeout=0)
    locked.execute("BEGIN IMMEDIATE")  # another worker holds the write lock
    store.db.execute("PRAGMA busy_timeout=50")
    arts = [Article(id=f"x{i}", title=f"Story {i}", content=f"text number {i}", content_format="text")
            for i in range(3)]
    results = e.process_batch(arts)
    assert all(isinstance(r, sqlite3.OperationalError) and "locked" in str(r) for r in results)
    locked.execute("ROLLBACK")
    assert all(not isinstance(r, Exception) for r in e.process_batch(arts))
    assert store.get("x0") is not None
    e.close()
