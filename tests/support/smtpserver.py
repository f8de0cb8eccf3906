"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests.

It speaks real SMTP on a real socket and keeps what it accepted, parsed, in
``messages``.  ``stop()`` closes the port (clients get "connection refused",
as with a server that is down) and ``start()`` reopens it on the same port.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collect:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.lower() in self.server.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.server.sessions_tls.append(session.ssl is not None)
        self.server.peers.append(session.peer)  # (host, client port): one per connection
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(msg)  # type: ignore[arg-type]
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    """*auth*: an aiosmtpd authenticator (AUTH allowed without TLS, for tests);
    *tls_context*: offer STARTTLS with it (*require_starttls* to insist)."""

    def __init__(self, port: int | None = None, *, auth=None, tls_context=None, require_starttls: bool = False):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.sessions_tls: list[bool] = []
        self.peers: list[tuple] = []
        self._kwargs: dict = {}
        if auth is not None:
            self._kwargs.update(authenticator=auth, auth_require_tls=False)
        if tls_context is not None:
            self._kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> "SmtpServer":
        if self._controller is None:
            # the port may linger briefly after stop(); retry for a moment
            deadline = time.monotonic() + 10
            while True:
                c = Controller(_Collect(self), hostname=self.host, port=self.port, ready_timeout=10, **self._kwargs)
                try:
                    c.start()
                    break
                except (OSError, RuntimeError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            self._controller = c
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def wait_for(self, n: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            return list(self.messages)

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()
