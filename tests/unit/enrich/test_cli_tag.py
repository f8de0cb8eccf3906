"""`newswatch tag` through click's CliRunner, with the default config."""

import json

from click.testing import CliRunner

from newswatch.cli_tag import tag
from support.seed import seed_path

SEED = seed_path()


def test_json_shape_and_offsets(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(tmp_path))
    text = SEED.read_text(encoding="utf-8")
    res = CliRunner().invoke(tag, [str(SEED), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ids = {e["id"] for e in data["entities"]}
    assert {"mek", "ncri"} <= ids
    for e in data["entities"]:
        assert set(e) >= {"id", "name", "type", "matches"}
        for m in e["matches"]:
            assert set(m) >= {"alias", "field", "start", "end"}
            assert m["field"] == "content"
            assert text[m["start"]:m["end"]] == m["text"]
    assert all(set(t) >= {"id", "score"} for t in data["topics"])
    assert "terrorism" in {t["id"] for t in data["topics"]}


def test_stdin_and_text_output(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(tag, ["-", "--title", "NCRI statement"], input="Maryam Rajavi spoke to Iranian exiles.")
    assert res.exit_code == 0, res.output
    assert "maryam-rajavi" in res.output and "[Maryam Rajavi]" in res.output
    assert "title[0:4] alias 'NCRI'" in res.output


def test_bad_config_is_a_clean_error(tmp_path, monkeypatch):
    (tmp_path / "watchlist.yaml").write_text("entities: [{id: x}]\n", encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("topics: []\n", encoding="utf-8")
    monkeypatch.setenv("NEWSWATCH_CONFIG_DIR", str(tmp_path))
    res = CliRunner().invoke(tag, ["-"], input="text")
    assert res.exit_code != 0
    assert "watchlist.yaml" in res.output and "name" in res.output


def test_topic_evidence_names_the_words_that_matched(tmp_path, monkeypatch):
    """Not the rule's whole OR-list: the words (and whole phrases) of the text."""
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(tmp_path))
    text = "The MEK warned of Executions and torture of political prisoners; prisoners of war were not named."
    res = CliRunner().invoke(tag, ["-", "--json"], input=text)
    [hr] = [t for t in json.loads(res.output)["topics"] if t["id"] == "human-rights"]
    words = [w for ws in hr["matched_words"] for w in ws]
    assert "Executions" in words and "torture" in words and "political prisoners" in words
    assert "of" not in words and "prisoners" not in words  # a phrase's words alone are not the match
    out = CliRunner().invoke(tag, ["-"], input=text).output
    assert "matched 'Executions'" in out and "(rule: " in out
