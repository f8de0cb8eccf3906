"""The demo's sample feeds: clearly fictional, neutral items written for
newswatch, plus the project's seed article (a real published commentary,
used as a test fixture).  They exist to show tagging, a syndicated duplicate,
ambiguous acronyms that must not be tagged, and stories that match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from importlib import resources
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Item:
    slug: str
    title: str
    body: str
    hours_ago: float
    author: str = ""


WIRE_BODY = (
    "PARIS (Demo Wire) -- The National Council of Resistance of Iran (NCRI), an exiled opposition "
    "coalition, held a conference outside Paris on Saturday attended by delegates from several "
    "European countries. The council's largest member organisation, the People's Mojahedin "
    "Organization of Iran (PMOI/MEK), moved most of its members from Iraq to Albania in 2016. "
    "Iran's foreign ministry criticised the event. French officials said the gathering was a "
    "private meeting and declined to comment further. Analysts quoted by the Demo Wire differed "
    "on the group's influence inside Iran."
)

FEEDS: dict[str, dict] = {
    "demo-wire": {
        "name": "Demo Wire Service",
        "site": "https://wire.demo.invalid",
        "format": "rss",
        "items": [
            Item("ncri-conference", "Exiled Iranian opposition council meets near Paris", WIRE_BODY, 5, "Demo Wire staff"),
            Item(
                "energy-talks",
                "Regional energy ministers meet in Tirana",
                "TIRANA (Demo Wire) -- Energy ministers from six Balkan states met in the Albanian capital "
                "to discuss a shared electricity market and new interconnectors. No agreement was signed.",
                8,
            ),
            Item(
                "melanoma-trial",
                "Trial of MEK inhibitor shows promise in melanoma",
                "A phase II clinical trial combining a BRAF inhibitor with a MEK inhibitor slowed tumour "
                "growth in patients with advanced melanoma, researchers told an oncology congress. "
                "The MEK pathway (MAPK/ERK kinase) is a common target in cancer therapy.",
                12,
            ),
            Item(
                "cycle-lanes",
                "City council approves new cycle lanes <b>downtown</b>",
                "The city council voted 7-2 to build four kilometres of protected cycle lanes. "
                "<script>alert('feeds are untrusted')</script>Construction starts in spring.",
                20,
            ),
        ],
    },
    "demo-daily": {
        "name": "Demo Daily Gazette",
        "site": "https://daily.demo.invalid",
        "format": "atom",
        "items": [
            Item(
                "opposition-gathering",
                "Iranian opposition group gathers in Paris",
                WIRE_BODY + " Additional reporting by the Demo Daily Gazette desk.",
                4,
            ),
            Item(
                "cnri-conference-fr",
                "Le CNRI réunit ses partisans près de Paris",
                "Le Conseil national de la Résistance iranienne (CNRI) a réuni samedi plusieurs milliers "
                "de personnes près de Paris. L'Organisation des moudjahidines du peuple iranien (OMPI) "
                "en est la principale composante. Téhéran a dénoncé la réunion.",
                6,
            ),
            Item(
                "ncri-fa",
                "نشست شورای ملی مقاومت ایران در حومه پاریس",
                "شورای ملی مقاومت ایران روز شنبه نشستی در حومه پاریس برگزار کرد. سازمان مجاهدین خلق "
                "بزرگترین عضو این شورا است. وزارت امور خارجه ایران این نشست را محکوم کرد.",
                7,
            ),
        ],
    },
    "demo-opinion": {
        "name": "Demo Opinion Pages",
        "site": "https://opinion.demo.invalid",
        "format": "rss",
        "items": [],  # the seed article is added by seed_item()
    },
}


def seed_text() -> str:
    return resources.files("newswatch.demo").joinpath("seed-article.txt").read_text(encoding="utf-8")


def seed_item() -> Item:
    return Item("seed-article", "Commentary: the MEK, Albania and France (seed article)", seed_text(), 30)


def render_feed(feed_id: str, now: datetime | None = None) -> bytes:
    """The feed document for *feed_id*.  Item links point at a fictional site
    (``.invalid`` never resolves) so article ids do not depend on the port the
    demo server happened to get, and a second run recognises every item."""
    now = now or datetime.now(timezone.utc)
    spec = FEEDS[feed_id]
    base_url = spec["site"]
    items = list(spec["items"]) + ([seed_item()] if feed_id == "demo-opinion" else [])
    if spec["format"] == "atom":
        return _atom(feed_id, spec["name"], items, base_url, now)
    return _rss(feed_id, spec["name"], items, base_url, now)


def _paragraphs(body: str) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in body.split("\n") if p.strip())


def _rss(feed_id: str, name: str, items: list[Item], base: str, now: datetime) -> bytes:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{escape(name)}</title><link>{base}/</link><language>en</language>",
        f"<description>Sample feed served by newswatch demo ({escape(feed_id)})</description>",
    ]
    for it in items:
        when = format_datetime(now - timedelta(hours=it.hours_ago))
        # RSS summaries are HTML; the body is carried as escaped HTML, as real feeds do
        out.append(
            f"<item><title>{escape(it.title)}</title><link>{base}/{feed_id}/{it.slug}.html</link>"
            f"<guid isPermaLink=\"false\">{feed_id}-{it.slug}</guid><pubDate>{when}</pubDate>"
            + (f"<author>{escape(it.author)}</author>" if it.author else "")
            + f"<description>{escape(_paragraphs(it.body) if '<' not in it.body else it.body)}</description></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def _atom(feed_id: str, name: str, items: list[Item], base: str, now: datetime) -> bytes:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(name)}</title><id>urn:newswatch-demo:{feed_id}</id>",
        f'<link href="{base}/{feed_id}.xml" rel="self"/><updated>{now.isoformat()}</updated>',
    ]
    for it in items:
        when = (now - timedelta(hours=it.hours_ago)).isoformat()
        out.append(
            f"<entry><title>{escape(it.title)}</title><id>urn:newswatch-demo:{feed_id}:{it.slug}</id>"
            f'<link href="{base}/{feed_id}/{it.slug}.html"/><updated>{when}</updated><published>{when}</published>'
            f'<content type="html">{escape(_paragraphs(it.body))}</content></entry>'
        )
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")
