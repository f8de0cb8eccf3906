"""End to end, embedded mode, all real parts: a real HTTP feed server on
127.0.0.1 serving the seed article, the real ingest/enrich/index/alerts
stages wired by the composition root, a real SQLite index, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from newswatch.app import build_embedded, run_once
from newswatch.ingest import FeedConfig
from newswatch.pipeline.query import parse_query
from newswatch.pipeline.settings import Settings
from newswatch.pipeline.text import fold
from support.feedserver import FeedServer
from support.seed import seed_text

pytestmark = pytest.mark.integration


REPO = Path(__file__).resolve().parents[2]


def seed_feed() -> bytes:
    paras = "".join(f"<p>{p}</p>" for p in seed_text().split("\n") if p.strip())
    when = format_datetime(datetime.now(timezone.utc))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Seed Feed</title>'
        "<link>https://seed.example.org/</link>"
        f"<item><title>Seed article</title><link>https://seed.example.org/2017/seed.html?utm_source=rss</link>"
        f"<guid>seed-1</guid><pubDate>{when}</pubDate><description>{escape(paras)}</description></item>"
        "</channel></rss>"
    ).encode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", config_dir=REPO / "config", allow_private_hosts="127.0.0.1")


def test_seed_article_is_searchable_with_mek_and_ncri_evidence(settings: Settings) -> None:
    with FeedServer() as srv:
        srv.add("/seed.xml", seed_feed(), headers={"Content-Type": "application/rss+xml"})
        app = build_embedded(settings, feeds=[FeedConfig(id="seed", url=srv.url("/seed.xml"), name="Seed Feed")])
        try:
            run_once(app)
            result = app.index.search(parse_query("entity:mek AND entity:ncri AND Albania"))
        finally:
            app.close()
    assert result.total == 1
    article = result.hits[0].article
    assert article.url.startswith("https://seed.example.org/2017/seed.html")
    tags = {e.id: e for e in article.entities}
    assert {"mek", "ncri"} <= set(tags)
    assert tags["mek"].count >= 20  # the seed names the MEK on almost every line
    for entity in (tags["mek"], tags["ncri"]):
        assert entity.matches, entity
        for m in entity.matches:
            found = getattr(article, m.field)[m.start:m.end]
            # the evidence points at the alias in the stored text (case/accents aside)
            assert fold(found).replace("-", " ") == fold(m.alias).replace("-", " "), (found, m)
    assert any(getattr(article, m.field)[m.start:m.end] == "National Council of Resistance of Iran"
               for m in tags["ncri"].matches)
    assert "\x02" in result.hits[0].snippet  # the snippet marks the matched word


def _cli(*args: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "newswatch", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=180, env=env, cwd=str(REPO),
    )


def test_demo_command_works_offline_and_second_run_sends_nothing(tmp_path: Path) -> None:
    first = _cli("demo", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    seed_block = out[out.index("(seed article)"):]
    assert "    mek (organisation)" in seed_block and "    ncri (organisation)" in seed_block
    assert "duplicate of" in out  # the syndicated wire copy
    trial = out[out.index("Trial of MEK inhibitor"):].split("\n* ", 1)[0]
    assert "entities: none" in trial  # the oncology sense of MEK is not tagged
    sent = int(out.split("Alerts delivered this run: ")[1].split(",")[0])
    assert sent >= 1
    maildir = tmp_path / "maildir" / "new"
    assert len(list(maildir.iterdir())) == sent

    second = _cli("demo", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Alerts delivered this run: 0" in second.stdout
    assert len(list(maildir.iterdir())) == sent

    found = _cli("search", "--json", "entity:mek AND Albania", data_dir=tmp_path)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert any("seed article" in h["title"] for h in hits)
    assert all("mek" in h["entities"] for h in hits)


def test_bad_query_is_a_clear_error(tmp_path: Path) -> None:
    r = _cli("search", "title:(unclosed", data_dir=tmp_path)
    assert r.returncode == 2
    assert "query" in (r.stderr + r.stdout).lower()
