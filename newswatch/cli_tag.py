"""``newswatch tag``: tag a text with the watchlist and topics and show the
evidence -- how users test their watchlist.yaml and topics.yaml."""

from __future__ import annotations

import json
import sys

import click

from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.settings import load_settings

CONTEXT = 30


def _context(text: str, start: int, end: int) -> str:
    left = text[max(0, start - CONTEXT):start]
    right = text[end:end + CONTEXT]
    return " ".join(f"…{left}[{text[start:end]}]{right}…".split())


@click.command("tag")
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (entities, topics) instead of text.")
@click.option("--title", default="", help="A headline to tag along with the text.")
def tag(file, as_json: bool, title: str) -> None:
    """Tag FILE (or standard input with -) with the watchlist entities and
    topics of your config, with the evidence for each: how to test a
    watchlist or topic change before it goes live.

    \b
    Examples:
      newswatch tag article.txt
      newswatch tag --json - <<< 'The PMOI held a rally in Tirana.'
    """
    from newswatch.enrich import tag_text

    if getattr(file, "name", "") == "<stdin>" and file.isatty():
        click.echo("Reading the text to tag from the terminal; end with Ctrl-D "
                   "(or give a FILE: newswatch tag article.txt).", err=True)
    text = file.read()
    try:
        result = tag_text(text, load_settings(), title=title)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    fields = {"title": title, "content": text}
    click.echo(f"language: {result['language'] or '?'}")
    if not result["entities"]:
        click.echo("entities: none")
    else:
        click.echo("entities:")
    for e in result["entities"]:
        click.echo(f"  {e['id']} ({e['type']}) {e['name']}: {e['count']} match(es)")
        for m in e["matches"]:
            ctx = _context(fields[m["field"]], m["start"], m["end"])
            click.echo(f"    {m['field']}[{m['start']}:{m['end']}] alias {m['alias']!r}: {ctx}")
    click.echo("topics:" if result["topics"] else "topics: none")
    for t in result["topics"]:
        click.echo(f"  {t['id']} score {t['score']:g}")
        for rule, words in zip(t["evidence"], t["matched_words"]):
            shown = rule if len(rule) <= 60 else rule[:57] + "..."
            click.echo(f"    matched {', '.join(map(repr, words)) or '(non-word terms)'}  (rule: {shown})")


if __name__ == "__main__":  # pragma: no cover
    tag(sys.argv[1:])
