"""`newswatch feeds list` as a user reads it: columns that line up whatever
the values, and the interval a feed is really polled at (real state file and
config files in tmp_path; no network)."""

from datetime import datetime, timezone

from click.testing import CliRunner

from newswatch.cli_feeds import feeds as feeds_group
from newswatch.ingest.state import STATE_FILE, FeedState, FeedStateStore


def test_columns_line_up_and_an_adapted_interval_is_starred(tmp_path, monkeypatch):
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n"
        "  - {id: quiet-weekly-bulletin-of-a-ministry, url: 'https://quiet.example/rss', interval: 15m}\n"
        "  - {id: busy, url: 'https://busy.example/rss', interval: 15m}\n"
    )
    monkeypatch.setenv("NEWSWATCH_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    store = FeedStateStore(tmp_path / "data" / STATE_FILE)
    now = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    store.save(FeedState(feed_id="quiet-weekly-bulletin-of-a-ministry", url="https://quiet.example/rss",
                         last_attempt=now, last_success=now, next_due=now, interval=3600))
    store.save(FeedState(feed_id="busy", url="https://busy.example/rss", last_attempt=now, last_success=now,
                         next_due=now, interval=900))
    store.save(FeedState(feed_id="removed", url="https://gone.example/rss", last_attempt=now, interval=1800))
    store.close()

    out = CliRunner().invoke(feeds_group, ["list"]).output
    lines = out.splitlines()
    header = lines[0]
    rows = {line.split()[0]: line for line in lines[1:4]}
    for name in ("HEALTH", "EVERY", "URL"):  # every row's value starts under its header
        col = header.index(name)
        for line in rows.values():
            assert line[col - 1] == " " and line[col] != " ", (name, line)
    assert "1h*" in rows["quiet-weekly-bulletin-of-a-ministry"]
    assert " 15m " in rows["busy"] and "*" not in rows["busy"]
    assert "not configured" in rows["removed"] and "30m" in rows["removed"]
    assert "polled at another interval than configured" in out
