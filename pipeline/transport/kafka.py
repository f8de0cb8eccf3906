"""The Kafka broker (kafka-python), behind the interface of :mod:`.broker`.

Producer: ``acks=all`` + idempotence (a retried send is not written twice),
lz4 compression (``kafka_compression``), a few ms of linger to batch; ``flush`` raises if any message
of the batch was not acknowledged, so a worker never commits input whose
output was lost.  Consumers: explicit commits only (``enable_auto_commit``
off), ``auto_offset_reset=earliest`` so a new group reads what is already
there.  SASL/SSL settings are passed through and never logged: only
:func:`describe` (bootstrap + protocol) is.

Speed: kafka-python checksums (CRC-32C) every record batch it writes and
every batch it reads; without the ``crc32c`` package (in the ``kafka`` extra)
it does so in pure Python, which was half of the transport's CPU time -- a
warning says so once.  And it gzips at level 9 (no option to change it):
:func:`_fast_gzip` makes that level 1 -- still gzip on the wire, readable by
any consumer, ~13% bigger and ~4.5x cheaper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KTP

from newswatch.pipeline.settings import Settings
from newswatch.pipeline.transport.broker import (
    CommitFailed, Headers, Message, RebalanceCallback, TopicPartition, TransportError,
)

log = logging.getLogger(__name__)
_crc_warned = False


GZIP_LEVEL = 1


def _fast_gzip() -> None:
    """Have kafka-python gzip record batches at GZIP_LEVEL instead of its
    hard-wired 9 (18 MB/s on article JSON; level 1: 80 MB/s, 13% bigger).
    Only the v2 record format (Kafka >= 0.11) is touched."""
    try:
        from kafka import codec
        from kafka.record import default_records
    except ImportError:
        return
    if getattr(default_records.gzip_encode, "newswatch_level", None) == GZIP_LEVEL:
        return

    def gzip_encode(payload: bytes, compresslevel: int | None = None) -> bytes:
        return codec.gzip_encode(payload, compresslevel or GZIP_LEVEL)

    gzip_encode.newswatch_level = GZIP_LEVEL  # type: ignore[attr-defined]
    default_records.gzip_encode = gzip_encode


def _warn_slow_crc() -> None:
    """Say once if kafka-python is checksumming in pure Python."""
    global _crc_warned
    if _crc_warned:
        return
    _crc_warned = True
    try:
        from kafka.record import util
        slow = util._crc32c is util.crc32c_py
    except (ImportError, AttributeError):  # another kafka-python layout: nothing to say
        return
    if slow:
        log.warning("kafka-python is computing CRC-32C in pure Python (several times slower); "
                    "install the crc32c package (pip install 'newswatch[kafka]')")


def compression(settings: Settings) -> str | None:
    """The producer's codec: lz4 needs the lz4 package (the kafka extra
    installs it); without it, say so once and use gzip."""
    chosen = settings.kafka_compression
    if chosen == "none":
        return None
    if chosen == "lz4":
        from kafka import codec

        if not codec.has_lz4():
            log.warning("NEWSWATCH_KAFKA_COMPRESSION=lz4 but the lz4 package is missing; using gzip "
                        "(pip install 'newswatch[kafka]')")
            return "gzip"
    return chosen


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection options shared by producer, consumers and admin client."""
    cfg: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()],
        "security_protocol": settings.kafka_security_protocol,
        "client_id": f"{settings.kafka_group_prefix}",
    }
    if settings.kafka_sasl_mechanism:
        cfg["sasl_mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        cfg["sasl_plain_username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        cfg["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile:
        cfg["ssl_cafile"] = settings.kafka_ssl_cafile
    if settings.kafka_ssl_certfile:
        cfg["ssl_certfile"] = settings.kafka_ssl_certfile
    if settings.kafka_ssl_keyfile:
        cfg["ssl_keyfile"] = settings.kafka_ssl_keyfile
    return cfg


def describe(settings: Settings) -> str:
    """What may be logged about the connection (no user names, no secrets)."""
    sasl = f", SASL {settings.kafka_sasl_mechanism}" if settings.kafka_sasl_mechanism else ""
    return f"{settings.kafka_bootstrap} ({settings.kafka_security_protocol}{sasl})"


def _msg(r: Any) -> Message:
    return Message(r.topic, r.partition, r.offset, r.key, r.value,
                   [(k, v) for k, v in (r.headers or [])], r.timestamp or 0)


class KafkaBroker:
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = client_config(settings)
        _warn_slow_crc()
        _fast_gzip()

    def producer(self) -> "KafkaTransportProducer":
        return KafkaTransportProducer(self.config, self.settings)

    def consumer(self, group_id: str, *, max_poll_records: int = 500) -> "KafkaTransportConsumer":
        return KafkaTransportConsumer(self.config, self.settings, group_id, max_poll_records)

    def _admin(self) -> KafkaAdminClient:
        try:
            return KafkaAdminClient(**self.config, request_timeout_ms=15000)
        except KafkaError as exc:
            raise TransportError(f"cannot reach Kafka at {describe(self.settings)}: {exc}") from exc

    def create_topics(self, partitions: dict[str, int]) -> list[str]:
        admin = self._admin()
        try:
            existing = set(admin.list_topics())
            todo = [NewTopic(name, n, self.settings.kafka_replication)
                    for name, n in partitions.items() if name not in existing]
            created = []
            for topic in todo:  # one at a time: an "already exists" race must not hide the others
                try:
                    admin.create_topics([topic], timeout_ms=15000)
                    created.append(topic.name)
                except TopicAlreadyExistsError:
                    pass
            # wait until the metadata shows them, so a consumer started right
            # after `setup kafka` sees every partition
            deadline = time.monotonic() + 15
            while created and time.monotonic() < deadline:
                if all(self.partitions(t) == partitions[t] for t in created):
                    break
                time.sleep(0.2)
            return created
        except KafkaError as exc:
            raise TransportError(f"creating topics failed: {exc}") from exc
        finally:
            admin.close()

    def _plain_consumer(self) -> KafkaConsumer:
        try:
            return KafkaConsumer(**self.config, group_id=None, enable_auto_commit=False, request_timeout_ms=15000)
        except KafkaError as exc:
            raise TransportError(f"cannot reach Kafka at {describe(self.settings)}: {exc}") from exc

    def partitions(self, topic: str) -> int:
        c = self._plain_consumer()
        try:
            parts = c.partitions_for_topic(topic)
            return len(parts) if parts else 0
        except KafkaError as exc:
            raise TransportError(str(exc)) from exc
        finally:
            c.close()

    def read(self, topic: str, *, limit: int | None = None, timeout: float = 5.0) -> list[Message]:
        c = self._plain_consumer()
        try:
            parts = c.partitions_for_topic(topic) or set()
            tps = [KTP(topic, p) for p in sorted(parts)]
            if not tps:
                return []
            c.assign(tps)
            c.seek_to_beginning(*tps)
            end = c.end_offsets(tps)
            out: list[Message] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(c.position(tp) < end[tp] for tp in tps):
                for recs in c.poll(timeout_ms=200).values():
                    out.extend(_msg(r) for r in recs)
                if limit is not None and len(out) >= limit:
                    break
            out.sort(key=lambda m: (m.timestamp_ms, m.partition, m.offset))
            return out[:limit] if limit is not None else out
        except KafkaError as exc:
            raise TransportError(str(exc)) from exc
        finally:
            c.close()

    def close(self) -> None:
        pass


class KafkaTransportProducer:
    def __init__(self, config: dict[str, Any], settings: Settings) -> None:
        try:
            self._p = KafkaProducer(
                **config,
                acks="all",
                enable_idempotence=True,
                compression_type=compression(settings),
                linger_ms=5,
                batch_size=256 * 1024,
                max_request_size=8 * 1024 * 1024,
            )
        except KafkaError as exc:
            raise TransportError(f"cannot reach Kafka at {describe(settings)}: {exc}") from exc
        self._futures: list[Any] = []

    def produce(self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers | None = None) -> None:
        try:
            self._futures.append(self._p.send(topic, value=value, key=key, headers=list(headers or [])))
        except KafkaError as exc:
            raise TransportError(f"send to {topic} failed: {exc}") from exc

    def flush(self, timeout: float | None = None) -> None:
        futures, self._futures = self._futures, []
        try:
            self._p.flush(timeout=timeout)
        except KafkaError as exc:
            raise TransportError(f"flush failed: {exc}") from exc
        failed = [f for f in futures if not f.is_done or f.failed()]
        if failed:
            first = failed[0].exception if failed[0].is_done else "not acknowledged in time"
            raise TransportError(f"{len(failed)} of {len(futures)} messages not acknowledged: {first}")

    def close(self) -> None:
        try:
            self._p.flush(timeout=30)
        finally:
            self._p.close(timeout=5)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_assign: RebalanceCallback | None, on_revoke: RebalanceCallback | None) -> None:
        self.on_assign, self.on_revoke = on_assign, on_revoke

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self.on_revoke:
            self.on_revoke([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.on_assign:
            self.on_assign([(tp.topic, tp.partition) for tp in assigned])


class KafkaTransportConsumer:
    def __init__(self, config: dict[str, Any], settings: Settings, group_id: str, max_poll_records: int) -> None:
        self.group_id = group_id
        session = settings.kafka_session_timeout_ms
        try:
            self._c = KafkaConsumer(
                **config,
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=max_poll_records,
                session_timeout_ms=session,
                heartbeat_interval_ms=max(1000, session // 4),
                max_poll_interval_ms=300_000,
                # a topic created moments ago may have no leader yet when the
                # group first assigns; refresh soon so it is picked up (and
                # partitions added later are noticed within seconds)
                metadata_max_age_ms=5000,
            )
        except KafkaError as exc:
            raise TransportError(f"cannot reach Kafka at {describe(settings)}: {exc}") from exc

    def subscribe(self, topics: Sequence[str], *, on_assign: RebalanceCallback | None = None,
                  on_revoke: RebalanceCallback | None = None) -> None:
        self._c.subscribe(topics=list(topics), listener=_Listener(on_assign, on_revoke))
        for t in topics:  # fetch metadata now, so the first assignment sees the partitions
            try:
                self._c.partitions_for_topic(t)
            except KafkaError:
                log.debug("no metadata yet for %s", t, exc_info=True)

    def poll(self, timeout: float, max_records: int | None = None) -> list[Message]:
        try:
            batches = self._c.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            raise TransportError(f"poll failed: {exc}") from exc
        out = [_msg(r) for recs in batches.values() for r in recs]
        out.sort(key=lambda m: (m.topic, m.partition, m.offset))
        return out

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._c.commit({KTP(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})
        except (CommitFailedError, RebalanceInProgressError) as exc:
            raise CommitFailed(str(exc)) from exc
        except KafkaError as exc:
            raise TransportError(f"commit failed: {exc}") from exc

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._c.seek(KTP(*tp), offset)

    def assignment(self) -> list[TopicPartition]:
        return sorted((tp.topic, tp.partition) for tp in self._c.assignment())

    def lag(self) -> int | None:
        tps = list(self._c.assignment())
        if not tps:
            return None
        try:
            end = self._c.end_offsets(tps)
            total = 0
            for tp in tps:
                committed = self._c.committed(tp) or 0
                total += max(0, end[tp] - committed)
            return total
        except KafkaError as exc:
            raise TransportError(f"lag check failed: {exc}") from exc

    def close(self) -> None:
        try:
            self._c.close(autocommit=False)
        except KafkaError:  # closing a consumer whose broker is gone
            log.debug("consumer close failed", exc_info=True)


def open_broker(settings: Settings) -> KafkaBroker:
    return KafkaBroker(settings)
