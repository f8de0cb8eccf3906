"""Topic scoring with weighted rules (real query parser and RuleIndex)."""

from pathlib import Path

import pytest

from newswatch.enrich.topics import Topic, TopicTagger, load_topics
from newswatch.pipeline.article import Article, EntityTag
from newswatch.pipeline.config import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def topics(*defs):
    return TopicTagger([Topic.model_validate(d) for d in defs])


def test_score_is_sum_of_matched_weights_and_threshold_applies():
    t = topics({"id": "s", "threshold": 1.0, "rules": [
        {"query": "sanctions", "weight": 0.6}, {"query": "embargo", "weight": 0.6}, {"query": "tennis", "weight": 5}]})
    a = Article(id="1", content="New sanctions and an oil embargo.", content_format="text")
    [tag] = t.tag_article(a)
    assert tag.score == pytest.approx(1.2)
    assert tag.evidence == ["sanctions", "embargo"]
    assert t.tag_article(Article(id="2", content="New sanctions only.", content_format="text")) == []


def test_negative_weight_and_entity_rules():
    t = topics({"id": "p", "rules": [
        {"query": "rally"}, {"query": "rally AND tennis", "weight": -1}, {"query": "entity:mek", "weight": 1}]})
    sport = Article(id="1", content="A long rally ended the tennis match.", content_format="text")
    assert t.tag_article(sport) == []
    a = Article(id="2", content="A statement.", content_format="text", entities=[EntityTag(id="mek", name="MEK")])
    assert [x.id for x in t.tag_article(a)] == ["p"]


def test_bad_rule_names_file_topic_and_rule(tmp_path):
    p = tmp_path / "topics.yaml"
    p.write_text("topics:\n  - id: t\n    rules:\n      - {query: 'a'}\n      - {query: 'x AND (y'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_topics(p)
    msg = str(e.value)
    assert str(p) in msg and "topics[0]" in msg and "rules[1]" in msg


def test_default_topics_load_and_tag():
    t = load_topics(ROOT / "config" / "topics.yaml")
    a = Article(id="1", content="Protesters rallied as the government faced new sanctions and a human rights report.",
                content_format="text")
    ids = {x.id for x in t.tag_article(a)}
    assert {"protests", "sanctions", "human-rights"} <= ids
    assert "elections" not in ids
