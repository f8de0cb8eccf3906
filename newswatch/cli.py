"""The `newswatch` command.

Global options are turned into NEWSWATCH_* environment variables before any
sub-command runs, so every sub-command (and the worker processes it may start)
reads one consistent :class:`Settings`.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from pathlib import Path

import click

from newswatch import __version__
from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.logs import setup_logging
from newswatch.pipeline.runtime import settle_heap
from newswatch.pipeline.settings import BUNDLED_CONFIG_DIR, SettingsError, load_settings

CONFIG_FILES = ("feeds.yaml", "watchlist.yaml", "topics.yaml", "alerts.yaml")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="newswatch")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the index, feed state and alert ledger live [env NEWSWATCH_DATA_DIR].")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder with feeds.yaml, watchlist.yaml, topics.yaml, alerts.yaml [env NEWSWATCH_CONFIG_DIR].")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format [env NEWSWATCH_LOG_FORMAT].")
def cli(data_dir: Path | None, config_dir: Path | None, verbose: int, quiet: bool, log_format: str | None) -> None:
    """newswatch: monitor news feeds, tag watched entities and topics, search
    the coverage and get one email per new story.

    \b
    Quick start (offline, no services needed):
      newswatch demo                     # sample feeds -> tagged, searchable articles
      newswatch search 'entity:mek AND Albania'
    Your own feeds:
      newswatch init ~/newswatch-config  # copy the example config files, then edit them
      NEWSWATCH_CONFIG_DIR=~/newswatch-config newswatch run
    """
    if data_dir:
        os.environ["NEWSWATCH_DATA_DIR"] = str(data_dir.expanduser().resolve())
    if config_dir:
        os.environ["NEWSWATCH_CONFIG_DIR"] = str(config_dir.expanduser().resolve())
    if log_format:
        os.environ["NEWSWATCH_LOG_FORMAT"] = log_format
    if verbose:
        os.environ["NEWSWATCH_LOG_LEVEL"] = "DEBUG" if verbose > 1 else "INFO"
    elif quiet:
        os.environ["NEWSWATCH_LOG_LEVEL"] = "WARNING"
    try:
        s = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(s.log_level, s.log_format)


@cli.command()
@click.option("--once", is_flag=True, help="Poll every feed once, process, deliver alerts, and exit.")
def run(once: bool) -> None:
    """Run the pipeline: poll feeds on schedule, tag, index, alert.

    Embedded by default (one process, SQLite); with NEWSWATCH_TRANSPORT=kafka
    every stage runs as a worker over Kafka."""
    from newswatch import app as appmod

    settings = load_settings()
    if settings.transport == "kafka":
        from newswatch.workers import run_all_workers

        run_all_workers(settings, once=once)
        return
    app = appmod.build_embedded(settings)
    click.echo(f"newswatch {__version__}: {len(app.ingester.feeds)} feeds from {settings.config_dir}, "
               f"data in {settings.data_dir}, index {settings.index}", err=True)
    if once:
        try:
            reports = appmod.run_once(app)
        finally:
            app.close()
        click.echo(appmod.status_line(app), err=True)
        failed = [r for r in reports if not getattr(r, "ok", True)]
        if failed:
            click.echo(f"{len(failed)} of {len(reports)} feeds failed: "
                       + ", ".join(f"{getattr(r, 'feed_id', '?')} ({getattr(r, 'status', '?')})" for r in failed[:10]),
                       err=True)
        if reports and len(failed) == len(reports):
            sys.exit(1)  # for cron: nothing could be polled at all
    else:
        settle_heap()  # a long-running process from here on
        appmod.run_forever(app)


@cli.command()
@click.option("--keep-serving", is_flag=True, help="Keep the sample feed server up (Ctrl-C to stop).")
def demo(keep_serving: bool) -> None:
    """Offline demo: serve bundled sample feeds on 127.0.0.1, run the whole
    pipeline over them once into the data dir, and show what was tagged."""
    from newswatch.demo.run import run_demo

    run_demo(load_settings(), keep_serving=keep_serving)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path | None, force: bool) -> None:
    """Copy the example config files (feeds, watchlist, topics, alerts) into
    DIRECTORY (default: your user config folder) to edit them."""
    import platformdirs

    target = (directory or Path(platformdirs.user_config_dir("newswatch"))).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILES:
        dst = target / name
        if dst.exists() and not force:
            click.echo(f"kept     {dst} (exists; --force to overwrite)")
            continue
        shutil.copyfile(BUNDLED_CONFIG_DIR / name, dst)
        click.echo(f"wrote    {dst}")
    if directory:
        click.echo(f"\nUse it with: export NEWSWATCH_CONFIG_DIR={target.resolve()}")


@cli.command("check-config")
def check_config() -> None:
    """Validate every config file and say exactly what is wrong (file, entry, fix)."""
    from newswatch.alerts import load_rules
    from newswatch.enrich.topics import load_topics
    from newswatch.enrich.watchlist import load_watchlist
    from newswatch.ingest import load_feeds

    d = load_settings().config_dir
    checks = [
        (d / "feeds.yaml", lambda: len(load_feeds(d))),
        (d / "watchlist.yaml", lambda: len(load_watchlist(d / "watchlist.yaml"))),
        (d / "topics.yaml", lambda: len(load_topics(d / "topics.yaml").topics)),
        (d / "alerts.yaml", lambda: len(load_rules(d))),
    ]
    problems = 0
    for path, count in checks:
        try:
            click.echo(f"ok       {path}: {count()} entries")
        except ConfigError as exc:
            problems += 1
            click.echo(f"error    {exc}", err=True)
    if not problems:
        for warning in _unknown_references(d):
            click.echo(f"warning  {warning}", err=True)
    sys.exit(1 if problems else 0)


def _unknown_references(d: Path) -> list[str]:
    """Queries naming an entity or topic that no file defines: a typo there
    means a rule that silently never matches."""
    from newswatch.alerts import load_rules
    from newswatch.enrich.topics import load_topics
    from newswatch.enrich.watchlist import load_watchlist
    from newswatch.pipeline.query import FieldTerm, parse_query
    from newswatch.pipeline.query.ast import walk
    from newswatch.pipeline.text import fold

    entities = load_watchlist(d / "watchlist.yaml")
    topics = load_topics(d / "topics.yaml").topics
    known = {
        "entity": {e.id.casefold() for e in entities} | {fold(e.name) for e in entities},
        "topic": {t.casefold() for t in topics},
    }
    queries = [(d / "alerts.yaml", f"rule {r.id!r}", r.query) for r in load_rules(d)]
    for topic in topics.values():
        queries += [(d / "topics.yaml", f"topic {topic.id!r} rule {i}", r.query) for i, r in enumerate(topic.rules)]
    out = []
    for path, where, query in queries:
        for n in walk(parse_query(query)):
            if isinstance(n, FieldTerm) and n.field in known and not n.wildcard and n.value not in known[n.field]:
                fix = "watchlist.yaml" if n.field == "entity" else "topics.yaml"
                out.append(f"{path}: {where}: {n.field}:{n.value} is not defined in {fix} -- "
                           f"this clause never matches; check the spelling")
    return out


@cli.group()
def quarantine() -> None:
    """Articles that could not be processed in embedded mode, kept with their
    error in <data dir>/quarantine.jsonl (distributed mode: `newswatch dlq`)."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def quarantine_list(as_json: bool) -> None:
    """What is quarantined, when, by which stage, and why."""
    import json as _json

    from newswatch.pipeline.quarantine import Quarantine

    q = Quarantine(load_settings().data_dir / "quarantine.jsonl")
    records = q.read()
    for r in records:
        if as_json:
            click.echo(_json.dumps(r, ensure_ascii=False, default=str))
        else:
            p = r.get("payload") or {}
            click.echo(f"{r.get('at', '?')[:19]}  {r.get('stage', '?'):8s} {p.get('id', '?')}  {p.get('url', '')}\n"
                       f"    {r.get('error', '')}")
    if not as_json:
        click.echo(f"{len(records)} quarantined article(s)", err=True)


@quarantine.command("replay")
def quarantine_replay() -> None:
    """Run every quarantined article through the pipeline again (after fixing
    the cause); those that fail again go back to the quarantine."""
    from newswatch import app as appmod
    from newswatch.pipeline.article import Article, ContractError
    from newswatch.pipeline.transport.inline import ProcessorFailed, SinkFailed

    settings = load_settings()
    app = appmod.build_embedded(settings, feeds=[])
    q = app.pipeline.quarantine
    records = q.take()
    done, handled = 0, 0  # records[handled:] are not replayed yet
    kept: list[dict] = []  # not articles: back in the quarantine when the replay ends
    try:
        for i, r in enumerate(records):
            try:
                article = Article.from_dict(r.get("payload") or {})
            except ContractError as exc:
                click.echo(f"kept: record {i} is not an Article ({exc})", err=True)
                kept.append(r)
                handled = i + 1
                continue
            try:
                app.pipeline([article])
            except (SinkFailed, ProcessorFailed) as exc:
                click.echo(f"stopped: {exc} -- {len(records) - i} article(s) kept for a later replay", err=True)
                break
            done, handled = done + 1, i + 1
        app.alerts.tick()
    finally:
        # whatever stops the loop (an outage, Ctrl-C, a crash) puts the rest back
        q.end_replay(kept + records[handled:])
        app.close()
    again = app.pipeline.counters.quarantined
    click.echo(f"replayed {done} of {len(records)}; {again} failed again and are back in the quarantine")


# Stage-owned commands, registered here (the composition root).
_COMMANDS = [
    ("newswatch.cli_feeds", "feeds"),
    ("newswatch.cli_tag", "tag"),
    ("newswatch.cli_search", "search"),
    ("newswatch.cli_search", "stats"),
    ("newswatch.cli_alerts", "alerts"),
    ("newswatch.cli_kafka", "worker"),
    ("newswatch.cli_kafka", "setup"),
    ("newswatch.cli_kafka", "dlq"),
]
for _module, _name in _COMMANDS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
        continue
    cli.add_command(getattr(_mod, _name), _name)


def _feed_health(settings):  # type: ignore[no-untyped-def]
    from newswatch.ingest import feed_health

    return feed_health(settings)


import newswatch.cli_search as _cli_search  # noqa: E402  (wiring, after the commands)

_cli_search.feed_health_provider = _feed_health

import newswatch.cli_kafka as _cli_kafka  # noqa: E402
from newswatch.cli_kibana import kibana as _kibana  # noqa: E402

_cli_kafka.setup.add_command(_kibana, "kibana")


# optional dependency -> the extra that installs it
_EXTRAS = {"kafka": "kafka", "elasticsearch": "elasticsearch", "elastic_transport": "elasticsearch",
           "opensearchpy": "opensearch", "trafilatura": "fulltext"}


def _service_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "a service is unreachable or misconfigured": said in
    one line, not a traceback (-vv logs the traceback)."""
    from newswatch.index import BackendUnavailable
    from newswatch.index.search_engine import SearchEngineError
    from newswatch.pipeline.transport.broker import TransportError

    return (BackendUnavailable, SearchEngineError, TransportError)


def main() -> None:
    log = logging.getLogger("newswatch")
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        log.debug("config error", exc_info=True)
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in _EXTRAS:
            raise
        click.echo(f"error: this needs the optional package {top!r}: pip install 'newswatch[{_EXTRAS[top]}]'", err=True)
        sys.exit(1)
    except Exception as exc:
        if not isinstance(exc, _service_errors()):
            raise
        log.debug("service error", exc_info=True)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
