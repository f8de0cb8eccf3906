"""Getting alerts out: SMTP, a local Maildir when no SMTP is configured, and
webhooks.

Each sender takes a batch and reports, per message, ``None`` (accepted) or a
:class:`SendError`.  "Accepted" means the server took the message for every
recipient -- only then does the stage mark the alert sent; everything else
stays pending in the outbox and is retried with backoff.
"""

from __future__ import annotations

import logging
import mailbox
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass
class SendError:
    message: str
    permanent: bool = False  # retrying cannot help (e.g. 5xx for the recipient)


class EmailSender(Protocol):
    description: str

    def send_each(self, messages: Sequence[EmailMessage]) -> Iterator[SendError | None]:
        """One result per message, in order, each yielded as soon as it is
        known: the caller records a delivery before the next one goes out."""
        ...


class WebhookPoster(Protocol):
    def post_each(self, posts: Sequence[tuple[str, dict]]) -> Iterator[SendError | None]: ...


class SmtpSender:
    """smtplib over plain, STARTTLS or implicit TLS; one connection per batch
    (kept open while the caller records each result)."""

    def __init__(self, host: str, port: int = 25, *, security: str = "none", user: str | None = None,
                 password: str | None = None, timeout: float = 20.0,
                 ssl_context: ssl.SSLContext | None = None):
        self.host, self.port, self.security = host, port, security
        self.user, self._password, self.timeout = user, password, timeout
        self._ssl = ssl_context
        self.description = f"SMTP {host}:{port} ({security}{', login ' + user if user else ''})"

    def __repr__(self) -> str:  # never show the password
        return f"SmtpSender({self.description})"

    def _connect(self) -> smtplib.SMTP:
        ctx = self._ssl or ssl.create_default_context()
        if self.security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ctx)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            conn.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                conn.starttls(context=ctx)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self._password or "")
        except BaseException:
            _quit(conn)
            raise
        return conn

    def send_each(self, messages: Sequence[EmailMessage]) -> Iterator[SendError | None]:
        if not messages:
            return
        try:
            conn = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            err = SendError(f"SMTP login refused for user {self.user!r} at {self.host}:{self.port} "
                            f"({exc.smtp_code}) -- check NEWSWATCH_SMTP_USER and the password")
            yield from [err] * len(messages)
            return
        except (OSError, smtplib.SMTPException) as exc:
            # one timeout for the batch, not one per message
            yield from [SendError(f"cannot reach {self.description}: {_describe(exc)}")] * len(messages)
            return
        try:
            for i, msg in enumerate(messages):
                try:
                    refused = conn.send_message(msg)
                except smtplib.SMTPRecipientsRefused as exc:
                    codes = [c for c, _ in exc.recipients.values()]
                    yield SendError(f"recipient refused: {_refusals(exc.recipients)}",
                                    permanent=all(500 <= c < 600 for c in codes))
                    continue
                except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    _reset(conn)
                    yield SendError(f"server refused the message: {exc.smtp_code} {_decode(exc.smtp_error)}",
                                    permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 552)
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    # the connection is gone: this and the rest are retried later
                    err = SendError(f"connection to {self.description} lost: {_describe(exc)}")
                    yield from [err] * (len(messages) - i)
                    return
                yield SendError(f"recipient refused: {_refusals(refused)}") if refused else None
        finally:
            _quit(conn)


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except Exception:
        conn.close()


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except Exception:
        pass


def _decode(x: bytes | str) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def _refusals(recipients: dict) -> str:
    return "; ".join(f"{addr}: {code} {_decode(text)}" for addr, (code, text) in recipients.items())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class MaildirSender:
    """No SMTP configured: deliver to a Maildir any mail client can open
    (``mutt -f <dir>``), so alerts are never silently dropped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.description = f"Maildir {self.path}"
        self._box = mailbox.Maildir(str(self.path), create=True)

    def send_each(self, messages: Sequence[EmailMessage]) -> Iterator[SendError | None]:
        for msg in messages:
            try:
                self._box.add(msg)
            except OSError as exc:
                yield SendError(f"cannot write to {self.path}: {exc}")
            else:
                yield None


class WebhookSender:
    """JSON POST (Slack-compatible ``text``).  Webhook URLs come from the
    operator's config, not from feeds, so private addresses are allowed."""

    def __init__(self, timeout: float = 10.0, client: object | None = None):
        import httpx  # only needed when a rule has a webhook

        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False,
                                              headers={"User-Agent": "newswatch-alerts"})

    def post_each(self, posts: Sequence[tuple[str, dict]]) -> Iterator[SendError | None]:
        import httpx

        for url, payload in posts:
            try:
                r = self._client.post(url, json=payload)  # type: ignore[attr-defined]
            except httpx.HTTPError as exc:
                yield SendError(f"webhook {_redact(url)}: {type(exc).__name__}: {exc}")
                continue
            if 200 <= r.status_code < 300:
                yield None
            else:
                permanent = r.status_code in (400, 401, 403, 404, 410)
                yield SendError(f"webhook {_redact(url)} answered {r.status_code}", permanent=permanent)

    def close(self) -> None:
        self._client.close()  # type: ignore[attr-defined]


def _redact(url: str) -> str:
    """Webhook URLs embed their secret in the path: log only the host."""
    from urllib.parse import urlsplit

    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}/…"
