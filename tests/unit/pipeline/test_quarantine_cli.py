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


def test_a_replay_stopped_by_an_unexpected_error_puts_the_rest_back(tmp_path, monkeypatch):
    from newswatch.pipeline.transport.inline import InlinePipeline

    q = Quarantine(tmp_path / "quarantine.jsonl")
    q.put("enrich", {"not": "an article"}, ValueError("garbage"))  # kept, and must be kept once
    for i in range(3):
        q.put("enrich", Article(id=f"a{i}", url=f"https://x.test/{i}", title=f"story {i}",
                                summary="<p>Some text about a meeting.</p>").to_dict(), ValueError("bug"))
    real_call = InlinePipeline.__call__

    def crash_on_a1(self, articles):
        if articles[0].id == "a1":
            raise KeyboardInterrupt  # Ctrl-C half-way
        return real_call(self, articles)

    monkeypatch.setattr(InlinePipeline, "__call__", crash_on_a1)
    env = {"NEWSWATCH_DATA_DIR": str(tmp_path), "NEWSWATCH_CONFIG_DIR": str(REPO / "config")}
    CliRunner().invoke(cli, ["quarantine", "replay"], env=env)
    # a0 went through; none lost, the non-article kept once
    assert [r["payload"].get("id", "-") for r in q.read()] == ["-", "a1", "a2"]
    assert not (tmp_path / "quarantine.replaying").exists()


def test_records_of_a_replay_killed_half_way_are_taken_again(tmp_path):
    q = Quarantine(tmp_path / "quarantine.jsonl")
    q.put("enrich", {"id": "old"}, "e")
    assert [r["payload"] for r in q.take()] == [{"id": "old"}]  # ... and the process dies (kill -9)
    q.put("enrich", {"id": "new"}, "e")  # a failure of the running pipeline meanwhile
    again = Quarantine(tmp_path / "quarantine.jsonl")
    assert [r["payload"] for r in again.read()] == [{"id": "old"}, {"id": "new"}]  # `quarantine list` shows both
    assert [r["payload"] for r in again.take()] == [{"id": "old"}, {"id": "new"}]
    again.end_replay([])
    assert again.take() == [] and again.read() == []
