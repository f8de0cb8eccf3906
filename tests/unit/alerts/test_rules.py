"""alerts.yaml validation: every error names the file, the rule and a fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from newswatch.alerts import load_rules, parse_duration
from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.query import And, FieldTerm
from newswatch.pipeline.settings import BUNDLED_CONFIG_DIR


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "alerts.yaml").write_text(body, encoding="utf-8")
    return tmp_path


def error(tmp_path: Path, body: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_rules(write(tmp_path, body))
    return str(info.value)


def test_bundled_config_has_the_watchlist_example_rule():
    rules = load_rules(BUNDLED_CONFIG_DIR)
    assert len(rules) >= 1
    rule = rules[0]
    assert isinstance(rule.node, And)
    entity_terms = {n.value for n in rule.node.children if isinstance(n, FieldTerm)}
    assert "mek" in entity_terms
    assert "ncri" in rule.query
    assert rule.recipients and rule.delivery.mode == "immediate"


def test_full_rule_shapes(tmp_path):
    rules = load_rules(write(tmp_path, """
rules:
  - id: morning
    name: Morning digest
    query: 'entity:mek OR "Camp Ashraf"'
    recipients: [a@example.org, b.c+tag@sub.example.org]
    webhook: https://hooks.example.org/T000/B000/XXX
    delivery: {digest: "daily 08:00, 17:30", timezone: Europe/Paris}
    throttle: {max: 3, per: 2h}
  - id: now
    query: Albania
    recipients: x@example.org
    enabled: false
"""))
    morning, now = rules
    assert morning.delivery.mode == "digest" and morning.schedule() is not None
    assert morning.throttle.window == timedelta(hours=2)
    assert morning.channels() == [("email", "a@example.org"), ("email", "b.c+tag@sub.example.org"),
                                  ("webhook", "https://hooks.example.org/T000/B000/XXX")]
    assert now.recipients == ["x@example.org"] and now.delivery.mode == "immediate" and not now.enabled
    assert now.title == "now"


def test_missing_file_means_no_rules(tmp_path):
    assert load_rules(tmp_path) == []


def test_bad_query_names_file_rule_and_fix(tmp_path):
    msg = error(tmp_path, """
rules:
  - id: broken
    query: 'entity:mek AND (Albania'
    recipients: [a@example.org]
""")
    assert "alerts.yaml" in msg and "broken" in msg and "query" in msg
    assert "check the parentheses" in msg


def test_unknown_field_in_query(tmp_path):
    msg = error(tmp_path, "rules:\n  - {id: r1, query: 'colour:red', recipients: [a@example.org]}\n")
    assert "r1" in msg and "unknown field 'colour'" in msg and "known fields" in msg


def test_bad_recipient(tmp_path):
    msg = error(tmp_path, "rules:\n  - {id: r1, query: x, recipients: ['a@example.org', 'not an address']}\n")
    assert "r1" in msg and "recipients[1]" in msg and "name@example.org" in msg


def test_header_smuggling_recipient_is_refused(tmp_path):
    msg = error(tmp_path, 'rules:\n  - {id: r1, query: x, recipients: ["a@example.org\\nBcc: evil@example.com"]}\n')
    assert "is not an email address" in msg


def test_bad_timezone_and_schedule(tmp_path):
    msg = error(tmp_path, "rules:\n  - {id: r1, query: x, recipients: [a@example.org], "
                          "delivery: {digest: daily 08:00, timezone: Europe/Pariss}}\n")
    assert "r1" in msg and "unknown time zone 'Europe/Pariss'" in msg and "IANA" in msg
    msg = error(tmp_path, "rules:\n  - {id: r2, query: x, recipients: [a@example.org], "
                          "delivery: {digest: 'daily 8am'}}\n")
    assert "r2" in msg and "HH:MM" in msg
    msg = error(tmp_path, "rules:\n  - {id: r3, query: x, recipients: [a@example.org], delivery: digest}\n")
    assert "r3" in msg and "needs a schedule" in msg


def test_no_recipient_unknown_key_duplicate_id(tmp_path):
    assert "neither recipients nor webhook" in error(tmp_path, "rules:\n  - {id: r1, query: x}\n")
    msg = error(tmp_path, "rules:\n  - {id: r1, query: x, recipients: [a@example.org], recipient: [b@example.org]}\n")
    assert "recipient" in msg and "not a known setting" in msg
    msg = error(tmp_path, "rules:\n  - {id: r1, query: x, recipients: [a@example.org]}\n"
                          "  - {id: r1, query: y, recipients: [a@example.org]}\n")
    assert "duplicate id 'r1'" in msg


def test_throttle_validation(tmp_path):
    msg = error(tmp_path, "rules:\n  - {id: r1, query: x, recipients: [a@example.org], throttle: {max: 5, per: soon}}\n")
    assert "r1" in msg and "throttle.per" in msg and "30m" in msg
    msg = error(tmp_path, "rules:\n  - {id: r1, query: x, recipients: [a@example.org], throttle: {max: 0}}\n")
    assert "throttle.max" in msg


def test_parse_duration():
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration(" 90 m ") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="e.g. 30m"):
        parse_duration("0h")
