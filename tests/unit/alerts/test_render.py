"""Emails and webhook payloads: hostile feed content arrives inert."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from newswatch.alerts.items import AlertItem
from newswatch.alerts.render import render_email, render_webhook, safe_url
from newswatch.alerts.rules import AlertRule

NOW = datetime(2024, 6, 3, 8, 0, tzinfo=timezone.utc)
RULE = AlertRule(id="r1", name="MEK watch", query="entity:mek", recipients=["a@example.org"])


def item(i: int = 1, **kw) -> AlertItem:
    base = dict(article_id=f"art{i}", story_id=f"story{i}", rule_id="r1", rule_name="MEK watch", query="entity:mek",
                title=f"Story {i}", url=f"https://news.example.org/{i}", source="Example News",
                published_at=datetime(2024, 6, 1 + i % 2, 10, i, tzinfo=timezone.utc).isoformat(),
                snippet=f"text about the \x02MEK\x03 number {i}")
    base.update(kw)
    return AlertItem(**base)


def roundtrip(msg):
    """What the recipient parses, after the message went through bytes."""
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


def parts(msg):
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_single_alert_has_text_and_html_with_mark():
    msg = roundtrip(render_email(RULE, [item()], recipient="a@example.org", sender="nw@example.org",
                                 tz=ZoneInfo("Europe/Paris"), digest=False, now=NOW))
    text, html = parts(msg)
    assert msg["Subject"] == "[newswatch] MEK watch: Story 1"
    assert "[MEK]" in text and "<mark>MEK</mark>" in html
    assert "Example News" in text and "https://news.example.org/1" in html
    assert "12:01 CEST" in text  # published 10:01 UTC shown in the rule's time zone
    assert "entity:mek" in text and "MEK watch" in html  # why it was sent
    assert msg["List-Id"] == "MEK watch <r1.alerts.newswatch>"
    assert msg["Message-ID"].endswith("@example.org>")


def test_message_id_is_deterministic_per_rule_story_recipient():
    def mid(stories, to="a@example.org"):
        return render_email(RULE, [item(i) for i in stories], recipient=to, sender="nw@example.org",
                            tz=ZoneInfo("UTC"), digest=False, now=NOW)["Message-ID"]
    assert mid([1]) == mid([1])
    assert len({mid([1]), mid([2]), mid([1], "b@example.org"), mid([1, 2])}) == 4
    assert mid([1, 2]) == mid([2, 1])


def test_hostile_html_is_escaped():
    hostile = item(title='<img src=x onerror="alert(1)">Breaking</b>',
                   source='<script>alert("src")</script>',
                   snippet='before <script>steal()</script> \x02MEK\x03 "><svg onload=alert(2)>',
                   url="https://evil.example/\"><script>alert(3)</script>")
    msg = roundtrip(render_email(RULE, [hostile], recipient="a@example.org", sender="nw@example.org",
                                 tz=ZoneInfo("UTC"), digest=False, now=NOW))
    _, html = parts(msg)
    for raw in ("<script", "<img", "<svg", 'onerror="'):
        assert raw not in html
    assert 'href="https://evil.example/&quot;&gt;&lt;script&gt;' in html  # cannot break out of the attribute
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Breaking&lt;/b&gt;" in html
    assert "&lt;script&gt;steal()&lt;/script&gt;" in html
    assert "<mark>MEK</mark>" in html


def test_only_http_links_become_hrefs():
    assert safe_url("javascript:alert(1)") == ""
    assert safe_url("data:text/html,<b>x</b>") == ""
    assert safe_url("https://ok.example/a b") == ""
    assert safe_url("https://ok.example/a?b=1") == "https://ok.example/a?b=1"
    msg = render_email(RULE, [item(url="JavaScript:alert(document.cookie)")], recipient="a@example.org",
                       sender="nw@example.org", tz=ZoneInfo("UTC"), digest=False, now=NOW)
    _, html = parts(roundtrip(msg))
    assert "href" not in html and "javascript" not in html.lower()
    assert "(no web link)" in html


def test_title_cannot_inject_headers():
    evil = item(title="Hello\r\nBcc: victim@example.com\r\nX-Evil: 1\n\nbody")
    msg = render_email(RULE, [evil], recipient="a@example.org", sender="nw@example.org",
                       tz=ZoneInfo("UTC"), digest=False, now=NOW)
    raw = msg.as_bytes()
    parsed = roundtrip(msg)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert "Bcc: victim@example.com" in parsed["Subject"]  # kept as inert text on one line


def test_digest_groups_by_day_and_counts():
    items = [item(i) for i in range(1, 6)]
    msg = roundtrip(render_email(RULE, items, recipient="a@example.org", sender="nw@example.org",
                                 tz=ZoneInfo("UTC"), digest=True, now=NOW))
    text, html = parts(msg)
    assert msg["Subject"] == "[newswatch] MEK watch: digest, 5 new stories"
    assert "== Sunday 02 June 2024 (3) ==" in text and "== Saturday 01 June 2024 (2) ==" in text
    assert text.index("Sunday 02 June") < text.index("Saturday 01 June")  # newest first
    assert all(f"Story {i}" in html for i in range(1, 6))


def test_webhook_is_slack_compatible_and_escaped():
    payload = render_webhook(RULE, [item(title="A <b>&</b> B"), item(2, url="javascript:x")],
                             tz=ZoneInfo("UTC"), digest=False)
    assert isinstance(payload["text"], str)
    assert "<https://news.example.org/1|A &lt;b&gt;&amp;&lt;/b&gt; B>" in payload["text"]
    assert "javascript" not in payload["text"]
    assert [i["story"] for i in payload["items"]] == ["story1", "story2"]
    assert payload["items"][0]["snippet"] == "text about the MEK number 1"


def test_long_and_non_latin_subjects_roundtrip_exactly():
    for title in ["Iranian opposition group gathers in Paris", "نشست شورای ملی مقاومت ایران در حومه پاریس",
                  "word " * 30]:
        msg = roundtrip(render_email(RULE, [item(title=title)], recipient="a@example.org",
                                     sender="nw@example.org", tz=ZoneInfo("UTC"), digest=False, now=NOW))
        assert msg["Subject"].startswith("[newswatch] MEK watch: ")
        assert msg["Subject"].split(": ", 1)[1].rstrip("…") in " ".join(title.split())
