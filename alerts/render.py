"""Alert emails and webhook payloads.

Everything that came from a feed is untrusted: it is escaped for HTML
(snippets escape first, then mark), links must be http(s), and anything that
goes into a header is flattened to one line so a hostile title cannot add
headers.  Message-IDs are deterministic per (rule, recipient, stories): a
resend after a crash carries the same id, and mail clients fold the copies.
"""

from __future__ import annotations

import email.policy
import html
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from newswatch.pipeline.highlight import to_html, to_text
from newswatch.pipeline.urls import stable_id

from newswatch.alerts.items import AlertItem
from newswatch.alerts.rules import AlertRule

# RFC 5322's hard line limit instead of the 78-column fold: CPython's folder
# otherwise sometimes moves a whole Subject to a continuation line, which
# readers then show with a leading space.  Subjects are capped at 200 chars.
_POLICY = email.policy.SMTP.clone(max_line_length=998)
MAX_LISTED = 100  # stories listed in one email; the rest are counted
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MARKS = str.maketrans("", "", "\x02\x03")


def one_line(text: str, limit: int = 160) -> str:
    """Header-safe: no line breaks or control characters, bounded length."""
    flat = " ".join(_CTRL_RE.sub(" ", text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_url(url: str) -> str:
    """The link if it is a plain http(s) URL, else '' (no javascript:, data:)."""
    url = (url or "").strip()
    if not url or _CTRL_RE.search(url) or any(c.isspace() for c in url):
        return ""
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def local_time(when: datetime | None, tz: ZoneInfo) -> str:
    if when is None:
        return "time unknown"
    return when.astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip("<> ") or "newswatch.localhost"


def message_id(rule_id: str, recipient: str, story_ids: Sequence[str], sender: str) -> str:
    return f"<{stable_id('alert', rule_id, recipient, *sorted(story_ids))}@{_domain(sender)}>"


def subject_for(rule: AlertRule, items: Sequence[AlertItem], digest: bool) -> str:
    name = one_line(rule.title, 60)
    if len(items) == 1 and not digest:
        return one_line(f"[newswatch] {name}: {one_line(items[0].title, 200) or '(untitled)'}", 200)
    what = "digest, " if digest else ""
    n = len(items)
    return one_line(f"[newswatch] {name}: {what}{n} new {'story' if n == 1 else 'stories'}", 200)


def _grouped(items: Sequence[AlertItem], tz: ZoneInfo) -> list[tuple[str, list[AlertItem]]]:
    """Stories by local publication day, newest first: how digest readers scan."""
    def key(i: AlertItem) -> float:
        p = i.published
        return p.timestamp() if p else 0.0

    groups: dict[str, list[AlertItem]] = defaultdict(list)
    for it in sorted(items, key=key, reverse=True):
        p = it.published
        groups[p.astimezone(tz).strftime("%A %d %B %Y") if p else "Date unknown"].append(it)
    return list(groups.items())


# -- text part ---------------------------------------------------------------
def _text_item(it: AlertItem, tz: ZoneInfo) -> str:
    link = safe_url(it.url) or "(no web link)"
    return (
        f"{one_line(it.title, 300) or '(untitled)'}\n"
        f"{one_line(it.source, 80) or 'unknown source'} · {local_time(it.published, tz)}\n"
        f"{to_text(it.snippet.replace(chr(10), ' '), '[', ']')}\n"
        f"{link}\n"
    )


def _footer_text(rule: AlertRule) -> str:
    return (
        f"--\nYou receive this because the newswatch rule \"{one_line(rule.title, 80)}\" ({rule.id}) "
        f"matched:\n  {one_line(rule.query, 500)}\n"
        "Each story is alerted once per rule, whatever the number of copies. "
        "Rules live in alerts.yaml; `newswatch alerts history` lists what was sent.\n"
    )


def text_body(rule: AlertRule, items: Sequence[AlertItem], tz: ZoneInfo, digest: bool) -> str:
    shown, rest = list(items[:MAX_LISTED]), len(items) - MAX_LISTED
    if len(items) == 1 and not digest:
        head = f"newswatch alert: {one_line(rule.title, 80)}\n\n"
        return head + _text_item(items[0], tz) + "\n" + _footer_text(rule)
    out = [f"newswatch {'digest' if digest else 'alert'}: {one_line(rule.title, 80)} -- "
           f"{len(items)} new {'story' if len(items) == 1 else 'stories'}\n"]
    for day, group in _grouped(shown, tz):
        out.append(f"\n== {day} ({len(group)}) ==\n")
        out.extend("\n" + _text_item(it, tz) for it in group)
    if rest > 0:
        out.append(f"\n… and {rest} more (see `newswatch alerts history --rule {rule.id}`)\n")
    out.append("\n" + _footer_text(rule))
    return "".join(out)


# -- HTML part ---------------------------------------------------------------
_E = html.escape


def _html_item(it: AlertItem, tz: ZoneInfo) -> str:
    title = _E(one_line(it.title, 300) or "(untitled)")
    url = safe_url(it.url)
    heading = f'<a href="{_E(url, quote=True)}">{title}</a>' if url else title
    snippet = to_html(it.snippet.replace("\n", " "))
    return (
        '<div style="margin:0 0 18px 0">'
        f'<div style="font-size:16px;font-weight:bold">{heading}</div>'
        f'<div style="color:#555;font-size:13px">{_E(one_line(it.source, 80) or "unknown source")} · '
        f"{_E(local_time(it.published, tz))}</div>"
        f'<div style="font-size:14px;margin-top:4px">{snippet}</div>'
        + (f'<div style="font-size:12px;color:#777">{_E(url)}</div>' if url else
           '<div style="font-size:12px;color:#777">(no web link)</div>')
        + "</div>"
    )


def html_body(rule: AlertRule, items: Sequence[AlertItem], tz: ZoneInfo, digest: bool) -> str:
    shown, rest = list(items[:MAX_LISTED]), len(items) - MAX_LISTED
    n = len(items)
    if n == 1 and not digest:
        head = f"newswatch alert: {_E(one_line(rule.title, 80))}"
        body = _html_item(items[0], tz)
    else:
        head = (f"newswatch {'digest' if digest else 'alert'}: {_E(one_line(rule.title, 80))} "
                f"&mdash; {n} new {'story' if n == 1 else 'stories'}")
        parts = []
        for day, group in _grouped(shown, tz):
            parts.append(f'<h3 style="font-size:15px;border-bottom:1px solid #ddd">{_E(day)} ({len(group)})</h3>')
            parts.extend(_html_item(it, tz) for it in group)
        if rest > 0:
            parts.append(f"<p>… and {rest} more (see <code>newswatch alerts history --rule {_E(rule.id)}</code>)</p>")
        body = "".join(parts)
    footer = (
        '<hr><p style="font-size:12px;color:#777">You receive this because the newswatch rule '
        f"<b>{_E(one_line(rule.title, 80))}</b> ({_E(rule.id)}) matched: <code>{_E(one_line(rule.query, 500))}</code>. "
        "Each story is alerted once per rule, whatever the number of copies.</p>"
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif;max-width:720px">'
        f'<h2 style="font-size:18px">{head}</h2>{body}{footer}</body></html>'
    )


def render_email(rule: AlertRule, items: Sequence[AlertItem], *, recipient: str, sender: str,
                 tz: ZoneInfo, digest: bool, now: datetime) -> EmailMessage:
    """One email to one recipient: one story, or several grouped by day."""
    items = [_clean(i) for i in items]
    msg = EmailMessage(policy=_POLICY)
    msg["Subject"] = subject_for(rule, items, digest)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(rule.id, recipient, [i.story_id for i in items], sender)
    msg["List-Id"] = f"{one_line(rule.title, 60).replace('<', '').replace('>', '')} <{rule.id}.alerts.newswatch>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Newswatch-Rule"] = rule.id
    msg.set_content(text_body(rule, items, tz, digest))
    msg.add_alternative(html_body(rule, items, tz, digest), subtype="html")
    return msg


def _slack(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_webhook(rule: AlertRule, items: Sequence[AlertItem], *, tz: ZoneInfo, digest: bool) -> dict:
    """JSON for a webhook: Slack-compatible ``text`` (mrkdwn, escaped) plus
    structured fields for anything else that consumes it."""
    items = [_clean(i) for i in items]
    lines = [f"*newswatch {'digest' if digest else 'alert'}: {_slack(one_line(rule.title, 80))}* "
             f"({len(items)} new {'story' if len(items) == 1 else 'stories'})"]
    for it in items[:MAX_LISTED]:
        title = _slack(one_line(it.title, 200) or "(untitled)").replace("|", "¦")
        url = safe_url(it.url)
        head = f"<{url}|{title}>" if url and "|" not in url and ">" not in url else title
        lines.append(f"• {head} — {_slack(one_line(it.source, 80))}, {local_time(it.published, tz)}")
    if len(items) > MAX_LISTED:
        lines.append(f"… and {len(items) - MAX_LISTED} more")
    return {
        "text": "\n".join(lines),
        "rule": {"id": rule.id, "name": rule.title, "query": rule.query},
        "digest": digest,
        "items": [
            {"id": it.article_id, "story": it.story_id, "title": it.title, "url": safe_url(it.url),
             "source": it.source, "published_at": it.published_at,
             "snippet": to_text(it.snippet, "", "")}
            for it in items
        ],
    }


def _clean(it: AlertItem) -> AlertItem:
    """Feed text must not carry our own highlight markers into the output."""
    if any(c in (it.title + it.source + it.url) for c in "\x02\x03"):
        it = AlertItem(**{**it.__dict__, "title": it.title.translate(_MARKS),
                          "source": it.source.translate(_MARKS), "url": it.url.translate(_MARKS)})
    return it
