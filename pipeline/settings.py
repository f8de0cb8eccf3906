"""Process settings: every one can come from an environment variable
``NEWSWATCH_<NAME>`` (containers need this) and is type-checked on load.

User-edited configuration (feeds, watchlist, topics, alert rules) is not here:
it lives in YAML files in ``config_dir`` (see :mod:`newswatch.pipeline.config`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
if not (BUNDLED_CONFIG_DIR / "feeds.yaml").exists():  # installed: newswatch/config
    import newswatch.config as _cfg

    BUNDLED_CONFIG_DIR = Path(_cfg.__file__).resolve().parent


def _default_config_dir() -> Path:
    user = Path(platformdirs.user_config_dir("newswatch"))
    return user if (user / "feeds.yaml").exists() else BUNDLED_CONFIG_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSWATCH_", env_file=None, extra="ignore", validate_default=True
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("newswatch")),
        description="where the embedded index, feed state, alert ledger and Maildir live",
    )
    config_dir: Path = Field(
        default_factory=_default_config_dir,
        description="folder with feeds.yaml, watchlist.yaml, topics.yaml, alerts.yaml",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # ingest
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch; news monitoring)"
    fetch_timeout: float = Field(20.0, gt=0)
    fetch_max_bytes: int = Field(10 * 1024 * 1024, gt=1024)
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    # hosts/networks a feed may point at even though they are private
    # (comma-separated, e.g. "127.0.0.1,10.1.2.0/24"); empty = public only
    allow_private_hosts: str = ""
    min_interval: int = Field(120, ge=1, description="fastest poll, seconds")
    max_interval: int = Field(6 * 3600, ge=60, description="slowest poll, seconds")
    ingest_workers: int = Field(4, ge=1, le=64)

    # enrich
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    dedupe_window_days: int = Field(7, ge=1)

    # transport and index
    transport: Literal["inline", "kafka"] = "inline"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic_raw: str = "news.raw"
    kafka_topic_enriched: str = "news.enriched"
    kafka_topic_dlq: str = "news.dlq"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    # distributed mode (NEWSWATCH_TRANSPORT=kafka): see pipeline/transport/kafka.py
    kafka_topic_feeds: str = Field("news.feeds", description="control topic whose partitions split the feeds between ingest workers")
    kafka_partitions: int = Field(6, ge=1, le=1000, description="partitions of news.raw and news.enriched (max useful enrich workers)")
    enrich_workers: int = Field(1, ge=1, le=256, description="enrich processes `newswatch run` starts over Kafka "
                                "(the CPU-heavy stage: about one per spare core, at most kafka_partitions)")
    kafka_feed_partitions: int = Field(12, ge=1, le=1000, description="partitions of the feed control topic (max useful ingest workers)")
    kafka_replication: int = Field(1, ge=1, le=16)
    kafka_group_prefix: str = Field("newswatch", description="consumer groups are <prefix>-ingest, -enrich, -index, -alerts")
    kafka_batch_size: int = Field(500, ge=1, le=100_000, description="messages per poll (one commit per batch)")
    kafka_max_retries: int = Field(3, ge=0, le=100, description="attempts before a failing message goes to the DLQ")
    kafka_retry_backoff: float = Field(0.5, ge=0, le=60)
    kafka_session_timeout_ms: int = Field(10_000, ge=6000, le=300_000, description="how soon a dead worker's partitions move")
    kafka_compression: Literal["lz4", "gzip", "none"] = Field(
        "lz4", description="record batch compression: lz4 costs a quarter of gzip's CPU for 1.4x the bytes")

    index: Literal["sqlite", "elasticsearch", "opensearch"] = "sqlite"
    search_url: str = "http://127.0.0.1:9200"
    search_index_prefix: str = "newswatch"
    search_username: str | None = None
    search_password: SecretStr | None = None
    search_api_key: SecretStr | None = None
    search_ca_certs: str | None = None
    search_verify_certs: bool = True

    # alerts
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    smtp_from: str = "newswatch@localhost"
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_timeout: float = 20.0
    timezone: str = "UTC"

    @field_validator("data_dir", "config_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"{v!r} is not a time zone -- use an IANA name such as UTC or Europe/Paris") from None
        return v

    @field_validator("allow_private_hosts")
    @classmethod
    def _hosts(cls, v: str) -> str:
        import ipaddress

        for item in (x.strip() for x in v.split(",")):
            if not item or "/" not in item:
                continue  # a host name or a single address
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a network -- use CIDR such as 10.1.2.0/24, or a host name") from None
        return v

    @model_validator(mode="after")
    def _intervals(self) -> "Settings":
        if self.max_interval < self.min_interval:
            raise ValueError(
                f"NEWSWATCH_MAX_INTERVAL ({self.max_interval}s) is below NEWSWATCH_MIN_INTERVAL ({self.min_interval}s)"
            )
        return self

    @cached_property
    def db_path(self) -> Path:
        return self.data_dir / "newswatch.sqlite3"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def smtp_secret(self) -> str | None:
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            return self.smtp_password_file.read_text(encoding="utf-8").strip()
        return None


class SettingsError(ValueError):
    """A NEWSWATCH_* variable has a value that cannot be used."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) on
    top.  A bad value raises SettingsError naming the variable and the fix."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None


def describe_settings_error(exc: ValidationError) -> str:
    import os

    lines = []
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper()
        var = f"NEWSWATCH_{name}" if name else "settings"
        given = os.environ.get(var)
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{var}={given!r}: {msg}" if given is not None else f"{var}: {msg}")
    return "invalid setting: " + "; ".join(lines)
