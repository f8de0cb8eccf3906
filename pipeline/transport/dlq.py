"""Dead-letter records: the original bytes, untouched, with why and where
from in headers, so `newswatch dlq list` can explain a message and
`newswatch dlq replay` can put it back where it came from."""

from __future__ import annotations

from datetime import datetime, timezone

from newswatch.pipeline.transport.broker import Headers, Message, Producer

PREFIX = "nw-"
H_ERROR = "nw-error"
H_ERROR_TYPE = "nw-error-type"
H_STAGE = "nw-stage"
H_TOPIC = "nw-origin-topic"
H_PARTITION = "nw-origin-partition"
H_OFFSET = "nw-origin-offset"
H_ATTEMPTS = "nw-attempts"
H_FAILED_AT = "nw-failed-at"
H_REPLAYED_FROM = "nw-replayed-from"

MAX_ERROR_CHARS = 2000


def dlq_headers(msg: Message, stage: str, error: BaseException | str, attempts: int) -> Headers:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    kind = type(error).__name__ if isinstance(error, BaseException) else "error"
    own = [
        (H_ERROR, text[:MAX_ERROR_CHARS].encode("utf-8", "replace")),
        (H_ERROR_TYPE, kind.encode()),
        (H_STAGE, stage.encode()),
        (H_TOPIC, msg.topic.encode()),
        (H_PARTITION, str(msg.partition).encode()),
        (H_OFFSET, str(msg.offset).encode()),
        (H_ATTEMPTS, str(attempts).encode()),
        (H_FAILED_AT, datetime.now(timezone.utc).isoformat().encode()),
    ]
    # the message's own headers travel along (without an earlier failure's)
    return [(k, v) for k, v in msg.headers if not k.startswith(PREFIX)] + own


def send_to_dlq(producer: Producer, dlq_topic: str, msg: Message, stage: str,
                error: BaseException | str, attempts: int) -> None:
    producer.produce(dlq_topic, msg.value if msg.value is not None else b"", key=msg.key,
                     headers=dlq_headers(msg, stage, error, attempts))


def describe(msg: Message) -> dict[str, object]:
    """One DLQ record as `dlq list` shows it."""
    value = msg.value or b""
    try:
        preview = value[:120].decode("utf-8")
    except UnicodeDecodeError:
        preview = repr(value[:60])
    return {
        "dlq_offset": msg.offset,
        "dlq_partition": msg.partition,
        "key": msg.key.decode("utf-8", "replace") if msg.key else None,
        "stage": msg.header(H_STAGE),
        "origin": f"{msg.header(H_TOPIC)}[{msg.header(H_PARTITION)}]@{msg.header(H_OFFSET)}",
        "origin_topic": msg.header(H_TOPIC),
        "attempts": msg.header(H_ATTEMPTS),
        "failed_at": msg.header(H_FAILED_AT),
        "error": msg.header(H_ERROR),
        "bytes": len(value),
        "preview": preview,
    }


def replay(producer: Producer, msg: Message) -> str:
    """Re-produce a DLQ record to its origin topic; the topic it went to."""
    origin = msg.header(H_TOPIC)
    if not origin:
        raise ValueError(f"DLQ record at offset {msg.offset} has no {H_TOPIC} header; cannot replay")
    headers = [(k, v) for k, v in msg.headers if not k.startswith(PREFIX)]
    headers.append((H_REPLAYED_FROM, f"{msg.topic}[{msg.partition}]@{msg.offset}".encode()))
    producer.produce(origin, msg.value or b"", key=msg.key, headers=headers)
    return origin
