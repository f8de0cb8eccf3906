"""A small labelled corpus for differential tests: every index backend must
return, for every query in :data:`QUERIES`, exactly the articles for which
the Python matcher (``compile_query(parse_query(q)).matches(DocView.of(a))``)
says True.

Everything here is fictional (organisations, people, places, outlets) and
neutral.  The articles are already "enriched" (entities, topics, language,
dedupe), as the index receives them.  The texts are written to hit the edges
where backends tend to disagree with the matcher: proximity in both orders and
with repeated words, three-word windows, phrases that would cross fields,
diacritics and case, Persian letter variants and the zero-width non-joiner,
German sharp s, apostrophes, underscores, digits, an emoji glued to a word,
an article without a date and a duplicate.

Use :func:`articles` (fresh objects every call) and :data:`QUERIES`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from newswatch.pipeline.article import Article, EntityTag, Source, TopicTag

ENTITIES = {
    "northwind": ("Northwind Cooperative", "organisation"),
    "lumen-institute": ("Lumen Institute", "organisation"),
    "ana-manez": ("Ana Manëz", "person"),
    "port-elvar": ("Port Elvar", "place"),
    "nemuneh-foundation": ("بنیاد نمونه", "organisation"),
}
TOPICS = {"water": "Water", "elections": "Elections", "energy": "Energy", "culture": "Culture", "sport": "Sport"}
SOURCES = {
    "harbor": ("Harbor Gazette", "harborgazette.example"),
    "valley": ("Valley Post", "valleypost.example"),
    "courrier": ("Le Courrier Fictif", "courrier-fictif.example"),
    "bote": ("Der Beispielbote", "beispielbote.example"),
    "nemuneh": ("خبرنامه نمونه", "nemuneh-news.example"),
    "bare": ("", "bare-domain.example"),
}

# (id, source, language, date, title, summary, content, entities, topics, extra)
_ROWS: list[tuple] = [
    ("en-01", "harbor", "en", "2024-01-03T08:00", "Water supply talks resume in Port Elvar",
     "The Northwind Cooperative and city officials met on Tuesday.",
     "Talks on the water supply of Port Elvar resumed after a pause. The river dam was inspected.",
     ["northwind", "port-elvar"], ["water"], {"authors": ["Jo Rivers"], "categories": ["Environment"]}),
    ("en-02", "harbor", "en", "2024-01-04T09:30", "Supply of clean water remains uncertain",
     "Residents asked about the supply of clean water.",
     "The supply of fresh, clean water to the harbour district is uncertain, engineers said.",
     ["port-elvar"], ["water"], {"authors": ["Jo Rivers"]}),
    ("en-03", "valley", "en", "2024-01-05T12:00", "Dam report published",
     "A report on the river dam water levels was published by the Lumen Institute.",
     "Water levels behind the dam on the river were lower than last year.",
     ["lumen-institute"], ["water"], {"categories": ["Environment", "Science"]}),
    ("en-04", "valley", "en", "2024-01-06T07:15", "Talks after talks",
     "Negotiators held talks after talks without a result.",
     "The talks ended on Friday; new talks are planned for March.",
     ["northwind"], [], {"categories": ["Politics"]}),
    ("en-05", "harbor", "en", "2024-01-08T10:00", "Ana Manëz opens the culture festival",
     "Ana Manëz, the festival director, opened the event.",
     "Manëz's programme includes music, film and theatre from the region.",
     ["ana-manez"], ["culture"], {"authors": ["Sam Okoro"], "categories": ["Culture"]}),
    ("en-06", "valley", "en", "2024-01-09T16:45", "ANA MANEZ INTERVIEW",
     "An interview with Ana Manez about the festival.",
     "Manez said the festival would return next year.",
     ["ana-manez"], ["culture"], {}),
    ("en-07", "harbor", "en", "2024-01-10T11:00", "Energy prices fall",
     "Energy prices in the region fell by 3.5 percent in 2024.",
     "The Northwind Cooperative said energy prices would stay low; water prices did not change.",
     ["northwind"], ["energy"], {"categories": ["Economy"]}),
    ("en-08", "valley", "en", "2024-01-12T13:20", "Election day in Port Elvar",
     "Voters in Port Elvar chose a new council.",
     "The election was calm. Turnout was higher than in the previous election.",
     ["port-elvar"], ["elections"], {"authors": ["Lee Moreau"], "categories": ["Politics"]}),
    ("en-09", "harbor", "en", "2024-01-15T09:00", "Football: Port Elvar wins",
     "The local team won the cup.",
     "Fans celebrated in the harbour. The match ended two to one.",
     ["port-elvar"], ["sport"], {"categories": ["Sport"]}),
    ("en-10", "harbor", "en", "2024-01-15T09:05", "Football: Port Elvar wins",
     "The local team won the cup.",
     "Fans celebrated in the harbour. The match ended two to one.",
     ["port-elvar"], ["sport"], {"duplicate_of": "en-09", "categories": ["Sport"]}),
    ("en-11", "valley", "en", "2024-01-18T08:30", "Water",
     "Supply",
     "A note on wording: the title says water and the summary says supply.",
     [], ["water"], {}),
    ("en-12", "bare", "en", "2024-01-20T10:10", "Great news for the dam project",
     "Engineers said the dam project was great😀news for the valley.",
     "The snake_case_name of the file was dam_report_2024.",
     [], ["water"], {}),
    ("en-13", "valley", "en", "2024-01-22T17:00", "River, dam and water: a guide",
     "River dam water is a phrase used by engineers.",
     "Water from the river passes the dam; the dam holds river water.",
     ["lumen-institute"], ["water"], {}),
    ("en-14", "harbor", "en", "2024-01-25T06:00", "Lumen Institute study on energy and water",
     "The study links energy use and water use.",
     "Energy and water use were measured in 120 homes; water use fell when energy use fell.",
     ["lumen-institute"], ["energy", "water"], {"authors": ["Sam Okoro"], "categories": ["Science"]}),
    ("en-15", "valley", "en", "2024-01-28T12:00", "Harbour renovation",
     "Works in the harbour will last two years.",
     "The harbour renovation is funded by the city.",
     ["port-elvar"], [], {}),
    ("en-16", "harbor", "en", "2024-02-01T09:00", "Northwind annual meeting",
     "Members of the Northwind Cooperative met for the annual meeting.",
     "Supply chains, water and energy were on the agenda. Supply talks water talks.",
     ["northwind"], ["energy", "water"], {"categories": ["Economy"]}),
    ("en-17", "valley", "en", "2024-02-03T15:00", "Council elections postponed",
     "Elections for the council were postponed to April.",
     "The electoral office cited a printing delay.",
     [], ["elections"], {"categories": ["Politics"]}),
    ("en-18", "harbor", "en", None, "Undated notice about water",
     "A notice without a publication date.",
     "Water will be off on Sunday morning.",
     [], ["water"], {}),
    ("en-19", "valley", "en", "2024-02-10T08:00", "Weekend sport round-up",
     "Cycling, rowing and football results.",
     "Rowing on the river was cancelled because of high water. The river and dam water levels rose.",
     [], ["sport"], {"categories": ["Sport"]}),
    ("en-20", "harbor", "en", "2024-02-12T10:00", "Water water everywhere",
     "Water, water everywhere, said the poet.",
     "The exhibition quotes the line about water water everywhere.",
     [], ["culture"], {}),
    ("fr-01", "courrier", "fr", "2024-01-07T08:00", "Élections municipales à Port Elvar",
     "Les électeurs de Port Elvar ont voté dimanche.",
     "L'élection s'est déroulée dans le calme, selon la préfecture.",
     ["port-elvar"], ["elections"], {"authors": ["Claire Dubois"], "categories": ["Politique"]}),
    ("fr-02", "courrier", "fr", "2024-01-11T09:00", "L'eau du barrage",
     "Le niveau de l'eau du barrage baisse.",
     "La coopérative Northwind surveille l'eau et l'énergie.",
     ["northwind"], ["water", "energy"], {"categories": ["Environnement"]}),
    ("fr-03", "courrier", "fr", "2024-01-19T14:00", "Ana Manëz au festival",
     "La directrice Ana Manëz présente le festival.",
     "Le festival de culture de Manëz ouvre vendredi. C'est la fête à Noël.",
     ["ana-manez"], ["culture"], {}),
    ("fr-04", "courrier", "fr", "2024-02-05T10:00", "Énergie: les prix baissent",
     "Les prix de l'énergie baissent en février.",
     "L'Institut Lumen publie une étude sur l'énergie.",
     ["lumen-institute"], ["energy"], {}),
    ("fr-05", "courrier", "fr", "2024-02-14T11:30", "Le cœur de la ville",
     "Une œuvre d'art au cœur de Port Elvar.",
     "L'œuvre est exposée près du port.",
     ["port-elvar"], ["culture"], {}),
    ("de-01", "bote", "de", "2024-01-09T07:00", "Wasserversorgung in Port Elvar",
     "Die Straße zum Staudamm ist gesperrt.",
     "Die Wasserversorgung an der Hauptstrasse wird geprüft. Müller sagte, das Wasser sei sauber.",
     ["port-elvar"], ["water"], {"authors": ["Jana Müller"]}),
    ("de-02", "bote", "de", "2024-01-16T08:00", "Wahlen: Ergebnis liegt vor",
     "Die Wahl in Port Elvar ist entschieden.",
     "Die Genossenschaft Northwind äußerte sich nicht zur Wahl.",
     ["port-elvar", "northwind"], ["elections"], {"categories": ["Politik"]}),
    ("de-03", "bote", "de", "2024-01-30T09:00", "Energiepreise sinken",
     "Die Energiepreise sinken weiter.",
     "Das Lumen Institut erwartet stabile Preise. Über Energie wird viel gesprochen.",
     ["lumen-institute"], ["energy"], {}),
    ("de-04", "bote", "de", "2024-02-08T12:00", "Kultur: Festival mit Ana Manëz",
     "Festivalleiterin Ana Manëz stellt das Programm vor.",
     "Das Festival beginnt am Freitag in der Altstadt.",
     ["ana-manez"], ["culture"], {}),
    ("fa-01", "nemuneh", "fa", "2024-01-05T06:00", "بنیاد نمونه کتاب تازه‌ای منتشر کرد",
     "بنیاد نمونه از انتشار یک کتاب درباره آب خبر داد.",
     "مردم می‌خواهند درباره آب و سد بیشتر بدانند.",
     ["nemuneh-foundation"], ["water", "culture"], {"categories": ["فرهنگ"]}),
    ("fa-02", "nemuneh", "fa", "2024-01-13T06:30", "انتخابات در پورت الوار",
     "رای‌دهندگان در انتخابات شرکت کردند.",
     "نتيجه انتخابات امروز اعلام مي شود. كتاب راهنمای انتخابات هم منتشر شد.",
     ["port-elvar"], ["elections"], {}),
    ("fa-03", "nemuneh", "fa", "2024-01-27T07:00", "قیمت انرژی کاهش یافت",
     "قیمت انرژی و آب در این ماه کاهش یافت.",
     "بنیاد نمونه گزارشی درباره انرژی منتشر کرد.",
     ["nemuneh-foundation"], ["energy", "water"], {}),
    ("fa-04", "nemuneh", "fa", "2024-02-11T08:00", "جشنواره فرهنگی",
     "جشنواره فرهنگی با حضور آنا مانز آغاز شد.",
     "هنرمندان می خواهند جشنواره هر سال برگزار شود.",
     ["ana-manez"], ["culture"], {}),
    ("en-21", "valley", "en", "2024-02-15T09:00", "Dam water river",
     "Dam, water, river: three words in a title.",
     "Engineers checked the dam. Later, water was released into the river.",
     [], ["water"], {}),
    ("en-22", "harbor", "en", "2024-02-16T10:00", "Clean energy supply",
     "A new supply of clean energy for the harbour.",
     "Solar panels supply energy; the water supply is separate.",
     ["port-elvar"], ["energy"], {"authors": ["Lee Moreau"]}),
    ("en-23", "valley", "en", "2024-02-18T11:00", "Lumen fellows named",
     "The Lumen Institute named ten fellows.",
     "Fellows will study luminous materials and lumens per watt.",
     ["lumen-institute"], [], {"categories": ["Science"]}),
    ("en-24", "harbor", "en", "2024-02-20T12:00", "Talks: water, then supply",
     "Talks covered water, pricing and then supply.",
     "Water pricing and supply: water rates first, supply later.",
     ["northwind"], ["water"], {}),
    ("de-05", "bote", "de", "2024-02-24T09:00", "Fußball: Port Elvar verliert",
     "Das Fussballspiel endete null zu zwei.",
     "Die Fußballfans waren enttäuscht; der Trainer sprach von Pech.",
     ["port-elvar"], ["sport"], {"categories": ["Sport"]}),
    ("fa-05", "nemuneh", "fa", "2024-02-25T07:30", "گزارش بنياد نمونه درباره آب",
     "گزارش سالانه بنياد نمونه منتشر می‌شود.",
     "این گزارش درباره آب، سد و انرژی است.",
     ["nemuneh-foundation"], ["water"], {}),
    ("en-25", "bare", "en", "2024-02-22T08:00", "Port authority statement",
     "The port authority issued a statement on Thursday.",
     "The statement mentioned the harbour works and the 2024 budget.",
     ["port-elvar"], [], {}),
]


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc) if s else None


def articles() -> list[Article]:
    """The corpus as fresh Article objects (safe to mutate)."""
    out: list[Article] = []
    for aid, src, lang, date, title, summary, content, ents, tops, extra in _ROWS:
        name, domain = SOURCES[src]
        published = _dt(date)
        out.append(
            Article(
                id=aid,
                url=f"https://{domain}/news/{aid}",
                canonical_url=f"https://{domain}/news/{aid}",
                feed_id=f"{src}-main",
                source=Source(name=name, domain=domain),
                title=title,
                summary=summary,
                content=content,
                content_format="text",
                published_at=published,
                published_flag=None,
                fetched_at=published or datetime(2024, 3, 1, tzinfo=timezone.utc),
                language=lang,
                authors=extra.get("authors", []),
                categories=extra.get("categories", []),
                entities=[
                    EntityTag(id=e, name=ENTITIES[e][0], type=ENTITIES[e][1], count=1) for e in ents
                ],
                topics=[TopicTag(id=t, name=TOPICS[t], score=1.0) for t in tops],
                duplicate_of=extra.get("duplicate_of"),
                enriched_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
            )
        )
    return out


# Every node type and the edges listed in the module docstring.
QUERIES: list[str] = [
    # terms, case and diacritics folding
    "water", "Water", "WATER", "manez", "Manëz", "MANËZ", "election", "élection", "elections",
    "2024", "zebra",
    # phrases (slop 0): order matters, never across fields
    '"water supply"', '"supply water"', '"clean water"', '"port elvar"', '"water water"',
    '"water supply"~0', '"supply water"~0',
    # proximity, both orders, slops 1..5, repeated words, three words
    '"supply water"~1', '"supply water"~2', '"supply water"~3', '"water supply"~4', '"supply water"~5',
    '"water talks"~2', '"talks water"~1',
    '"talks talks"~1', '"talks talks"~3', '"water water"~2', '"water water"~5', '"supply talks talks"~2',
    '"river dam water"~0', '"river dam water"~1', '"water river dam"~2', '"dam water river"~3',
    '"energy water use"~3', '"energy and water"~1',
    # wildcards: prefix, infix ?, leading *, inside
    "wat*", "w?ter", "*ter", "lumen*", "lum?n*", "elect*", "*lect*", "e?ection", "wasser*", "*sse*",
    # keyword fields
    "entity:northwind", 'entity:"Ana Manëz"', "entity:ana-manez", "entity:ANA-MANEZ", "entities:lumen*",
    'entity:"بنیاد نمونه"', "topic:water", "topics:(energy OR sport)", "topic:wat*",
    'source:"Harbor Gazette"', "source:valleypost.example", "domain:courrier-fictif.example",
    "source:bare-domain.example", 'source:"Le Courrier Fictif"', "source:*gazette*",
    "language:fr", "lang:FA", "language:de", "feed:harbor-main", "feed:*-main",
    'author:"Jo Rivers"', "author:jana*", 'author:"jana muller"', "category:environment", "tag:politics",
    "category:science AND category:environment",
    # text fields
    "title:water", "summary:dam", "content:supply", 'title:"port elvar"', "title:(water OR energy)",
    'title:"water supply"', '"water supply" AND title:water',
    # booleans, nesting, prohibit
    "water NOT dam", "water AND NOT dam", "-water", "+water +dam", "water dam", "NOT entity:northwind",
    "(water OR energy) AND NOT entity:northwind",
    "entity:port-elvar AND (election OR wahl OR انتخابات) NOT source:valleypost.example",
    "(title:water OR summary:water) AND NOT (content:dam OR topic:energy)",
    # dates
    "published:[2024-01-01 TO 2024-01-31]", "published:{2024-01-05T12:00:00 TO 2024-02-01}",
    "NOT published:[2024-01-01 TO 2024-12-31]", "published:2024-02-10", "date:[2024-02-01 TO *]",
    "water AND published:[* TO 2024-01-10]",
    # German, French, Persian
    "strasse", "Straße", "muller", "müller", "l'eau", "eau", "coeur", "œuvre", "noel",
    "کتاب", "كتاب", "می", "خواهند", '"می خواهند"', "نتیجه", "انتخابات", '"انتخابات در"',
    "بنیاد AND نمونه", "آب", "بنياد", '"بنياد نمونه"', "شود", "میشود", "fussball", "fußball*",
    # odd text
    "great", "news", "snake", "case", "snake_case", "dam_report_2024", "3.5", "5",
    # everything
    "*",
]
