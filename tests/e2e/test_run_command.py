"""`newswatch run` as a user runs it: a real process polling a real local
feed server on schedule, stopped with SIGTERM, finishing cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newswatch.demo.server import DemoFeedServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _indexed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def test_run_polls_on_schedule_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__", "kibana"))
    data = tmp_path / "data"
    with DemoFeedServer() as server:
        (config / "feeds.yaml").write_text(
            "feeds:\n"
            + "".join(
                f"  - {{id: {fid}, url: '{server.feed_url(fid)}', interval: 2}}\n"
                for fid in ("demo-wire", "demo-daily", "demo-opinion")
            ),
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env.update(NEWSWATCH_CONFIG_DIR=str(config), NEWSWATCH_DATA_DIR=str(data),
                   NEWSWATCH_ALLOW_PRIVATE_HOSTS="127.0.0.1", NEWSWATCH_MIN_INTERVAL="1")
        proc = subprocess.Popen([sys.executable, "-m", "newswatch", "run"], env=env, cwd=str(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while _indexed(data / "newswatch.sqlite3") < 8 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.5)
            assert _indexed(data / "newswatch.sqlite3") == 8
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err
    # state was persisted: a second `run --once` on the same data dir emits nothing new
    with DemoFeedServer() as server:
        (config / "feeds.yaml").write_text(
            "feeds:\n" + "".join(f"  - {{id: {fid}, url: '{server.feed_url(fid)}'}}\n"
                                 for fid in ("demo-wire", "demo-daily", "demo-opinion")), encoding="utf-8")
        again = subprocess.run([sys.executable, "-m", "newswatch", "run", "--once"], env=env,
                               capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "articles 0 " in again.stderr
    assert _indexed(data / "newswatch.sqlite3") == 8


def test_broken_config_names_file_entry_and_fix(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__", "kibana"))
    (config / "feeds.yaml").write_text("feeds:\n  - {id: Bad Id, url: ftp://x}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(NEWSWATCH_CONFIG_DIR=str(config), NEWSWATCH_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run([sys.executable, "-m", "newswatch", "run", "--once"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "feeds.yaml" in r.stderr and "feeds[0]" in r.stderr and "Bad Id" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_once_fails_for_cron_when_no_feed_could_be_polled(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__", "kibana"))
    # a closed port on loopback: the connection is refused at once
    (config / "feeds.yaml").write_text("feeds:\n  - {id: dead, url: 'http://127.0.0.1:9/rss'}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(NEWSWATCH_CONFIG_DIR=str(config), NEWSWATCH_DATA_DIR=str(tmp_path / "data"),
               NEWSWATCH_ALLOW_PRIVATE_HOSTS="127.0.0.1")
    r = subprocess.run([sys.executable, "-m", "newswatch", "run", "--once"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "1 of 1 feeds failed: dead" in r.stderr
