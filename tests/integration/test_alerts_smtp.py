"""Alerts end to end against a REAL SMTP server (aiosmtpd on 127.0.0.1), a
real SqliteLedger in a temp data dir, and enriched Articles built from the
seed article.  Only the clock is injected, so retries and digests need no
sleeping.  If the SMTP server cannot start, these tests fail."""

from __future__ import annotations

import logging
import ssl
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.smtp import AuthResult
from support.alert_articles import enriched, seed_article, syndicated_copy
from support.smtpserver import SmtpServer, body

from newswatch.alerts import AlertRule, SmtpSender, build_alerts, load_rules
from newswatch.pipeline.settings import BUNDLED_CONFIG_DIR, Settings

pytestmark = pytest.mark.integration

T0 = datetime(2024, 6, 3, 6, 30, tzinfo=timezone.utc)


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def settings_for(server: SmtpServer, data_dir, **kw) -> Settings:
    return Settings(data_dir=data_dir, config_dir=BUNDLED_CONFIG_DIR, smtp_host=server.host,
                    smtp_port=server.port, smtp_from="alerts@newswatch.test", smtp_timeout=5, **kw)


def example_stage(server, data_dir, clock=None):
    """The default config's example rule (MEK/NCRI watchlist entities)."""
    return build_alerts(settings_for(server, data_dir), clock=clock or Clock(T0))


def test_seed_article_sends_one_email_naming_rule_and_marking_alias(smtp, tmp_path):
    rule = load_rules(BUNDLED_CONFIG_DIR)[0]
    st = example_stage(smtp, tmp_path)
    st.write([seed_article()])
    st.close()
    (msg,) = smtp.wait_for(1)
    assert smtp.envelopes[0] == ("alerts@newswatch.test", rule.recipients)
    assert rule.title in msg["Subject"]
    text, html = body(msg, "plain"), body(msg, "html")
    assert rule.title in text and rule.query in text
    assert "<mark>MEK</mark>" in html  # the entity alias, from enrich's evidence offsets
    assert "[MEK]" in text
    assert "https://example-times.test/2017/06/mek-europe" in html


def test_replay_after_restart_and_syndicated_copy_send_nothing_more(smtp, tmp_path):
    seed = seed_article()
    st = example_stage(smtp, tmp_path)
    st.write([seed])
    st.close()
    assert len(smtp.wait_for(1)) == 1
    st = example_stage(smtp, tmp_path)  # restart: new process state, same data dir
    st.write([seed])  # replayed feed
    st.write([syndicated_copy(seed)])  # same story from another source
    st.tick(T0 + timedelta(days=1))
    st.close()
    assert len(smtp.wait_for(2, timeout=1.0)) == 1
    assert st.counters.already_alerted == 2


def test_smtp_down_then_up_delivers_exactly_once(smtp, tmp_path):
    clock = Clock(T0)
    smtp.stop()  # the mail server is down
    st = example_stage(smtp, tmp_path, clock)
    st.write([seed_article()])
    (pending,) = st.ledger.entries(status="pending")
    assert pending.attempts == 1 and "cannot reach" in pending.last_error
    st.close()
    smtp.start()  # back, same port
    st = example_stage(smtp, tmp_path, clock)  # and we restarted meanwhile
    assert st.ledger.counts()["pending"] == 1  # pending survived the restart
    assert st.tick(T0 + timedelta(seconds=10)) == {}  # still backing off
    assert st.tick(T0 + timedelta(minutes=1)) == {"sent": 1}
    assert st.tick(T0 + timedelta(hours=2)) == {}
    st.write([seed_article()])
    st.close()
    assert len(smtp.wait_for(2, timeout=1.0)) == 1
    assert smtp.messages[0]["Subject"].startswith("[newswatch] ")


def test_hostile_html_in_an_item_arrives_escaped(smtp, tmp_path):
    hostile = enriched("https://evil.test/x", title='MEK <script>alert("t")</script><img src=x onerror=alert(1)>',
                       summary='The MEK in Albania <a href="javascript:alert(2)">click</a> '
                               '<iframe src="https://evil.test"></iframe>',
                       content="", source='<b onmouseover="alert(3)">Evil</b>')
    rule = AlertRule(id="any-mek", query="entity:mek", recipients=["a@example.org"])
    st = build_alerts(settings_for(smtp, tmp_path), rules=[rule], clock=Clock(T0))
    st.write([hostile])
    st.close()
    (msg,) = smtp.wait_for(1)
    html = body(msg, "html")
    for raw in ("<script", "<img", "<iframe", '<a href="javascript', "<b onmouseover"):
        assert raw not in html
    assert "&lt;script&gt;" in html and "&lt;iframe" in html
    assert "\n" not in msg["Subject"] and msg["Subject"].count("[newswatch]") == 1


def test_digest_on_schedule_groups_several_stories(smtp, tmp_path):
    clock = Clock(T0)
    rule = AlertRule.model_validate({
        "id": "mek-daily", "name": "MEK daily", "query": "entity:mek",
        "recipients": ["desk@example.org", "boss@example.org"],
        "delivery": {"digest": "daily 08:00", "timezone": "Europe/Paris"}})
    st = build_alerts(settings_for(smtp, tmp_path), rules=[rule], clock=clock)
    stories = [enriched(f"https://paper{i}.test/a", title=f"MEK report {i}", content=f"The MEK, item {i}.",
                        source=f"Paper {i}", published=T0 - timedelta(hours=30 * i)) for i in range(3)]
    st.write(stories[:2])
    clock.t = T0 + timedelta(hours=3)
    st.write(stories[2:] + [syndicated_copy(stories[0])])
    assert st.tick(T0 + timedelta(hours=20)) == {}
    assert smtp.wait_for(1, timeout=0.5) == []
    assert st.tick(datetime(2024, 6, 4, 6, 0, tzinfo=timezone.utc)) == {"sent": 2}  # 08:00 Paris
    assert st.tick(datetime(2024, 6, 5, 6, 0, tzinfo=timezone.utc)) == {}  # empty: no digest
    st.close()
    msgs = smtp.wait_for(2)
    assert sorted(m["To"] for m in msgs) == ["boss@example.org", "desk@example.org"]
    for m in msgs:
        assert m["Subject"] == "[newswatch] MEK daily: digest, 3 new stories"
        text = body(m, "plain")
        assert all(f"MEK report {i}" in text for i in range(3))
        assert text.count("== ") == 3  # three publication days, one group each


def test_login_works_and_the_password_is_never_logged(tmp_path, caplog):
    secret = "s3cr3t-Pa55word"
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login, auth_data.password))
        ok = auth_data.login == b"watcher" and auth_data.password == secret.encode()
        return AuthResult(success=ok, handled=False)

    server = SmtpServer(auth=authenticator).start()
    try:
        caplog.set_level(logging.DEBUG)
        st = build_alerts(settings_for(server, tmp_path, smtp_user="watcher", smtp_password=secret), clock=Clock(T0))
        st.write([seed_article()])
        st.close()
        assert len(server.wait_for(1)) == 1
        assert seen == [(b"watcher", secret.encode())]
        assert secret not in caplog.text and secret not in repr(st.email)
    finally:
        server.stop()


def test_wrong_password_keeps_the_alert_pending(tmp_path):
    server = SmtpServer(auth=lambda *a: AuthResult(success=False, handled=False)).start()
    try:
        st = build_alerts(settings_for(server, tmp_path, smtp_user="watcher", smtp_password="nope"), clock=Clock(T0))
        st.write([seed_article()])
        (p,) = st.ledger.entries(status="pending")
        assert "login refused" in p.last_error and "nope" not in p.last_error
        st.close()
        assert server.messages == []
    finally:
        server.stop()


def test_starttls_with_a_real_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = SmtpServer(tls_context=server_ctx, require_starttls=True).start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        sender = SmtpSender(server.host, server.port, security="starttls", timeout=5, ssl_context=client_ctx)
        st = build_alerts(settings_for(server, tmp_path), sender=sender, clock=Clock(T0))
        st.write([seed_article()])
        st.close()
        assert len(server.wait_for(1)) == 1
        assert server.sessions_tls == [True]
        # a client that does not trust the certificate refuses to send, and keeps the alert
        untrusting = SmtpSender(server.host, server.port, security="starttls", timeout=5)
        (err,) = untrusting.send_each([server.messages[0]])
        assert err is not None and "CERTIFICATE_VERIFY_FAILED" in err.message
    finally:
        server.stop()


def test_a_batch_goes_over_one_connection_and_each_result_comes_as_it_is_sent(smtp):
    from email.message import EmailMessage

    msgs = []
    for i in range(3):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "alerts@newswatch.test", "desk@example.org", f"story {i}"
        m.set_content(f"body {i}")
        msgs.append(m)
    results = SmtpSender(smtp.host, smtp.port, timeout=5).send_each(msgs)
    assert next(results) is None
    assert len(smtp.wait_for(1)) == 1  # the first is out before the caller asks for the second
    assert list(results) == [None, None]
    assert len(smtp.wait_for(3)) == 3 and len(set(smtp.peers)) == 1
