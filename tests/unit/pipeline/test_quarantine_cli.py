"""`newswatch quarantine list|replay` on a real data dir (real stages, no network)."""

from pathlib import Path

from click.testing import CliRunner

from newswatch.cli import cli
from newswatch.pipeline.article import Article
from newswatch.pipeline.quarantine import Quarantine

REPO = Path(__file__).resolve().parents[3]


def test_replay_runs_quarantined_articles_through_the_pipeline_and_keeps_the_rest(tmp_path):
    q = Quarantine(tmp_path / "quarantine.jsonl")
    good = Article(id="a1", url="https://x.test/1", title="The NCRI met in Paris",
                   summary="<p>The National Council of Resistance of Iran held a meeting.</p>")
    q.put("enrich", good.to_dict(), ValueError("was a bug, now fixed"))
    q.put("enrich", {"not": "an article"}, ValueError("garbage"))
    env = {"NEWSWATCH_DATA_DIR": str(tmp_path), "NEWSWATCH_CONFIG_DIR": str(REPO / "config")}
    listed = CliRunner().invoke(cli, ["quarantine", "list", "--json"], env=env)
    assert listed.exit_code == 0 and listed.output.count("\n") == 2

    replay = CliRunner().invoke(cli, ["quarantine", "replay"], env=env)
    assert replay.exit_code == 0, replay.output
    assert "replayed 1 of 2" in replay.output
    assert [r["payload"] for r in q.read()] == [{"not": "an article"}]  # kept, not lost

    found = CliRunner().invoke(cli, ["search", "--json", "entity:ncri"], env=env)
    assert '"id": "a1"' in found.output
