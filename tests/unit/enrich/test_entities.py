"""Entity tagging against the default watchlist and small inline ones
(real automaton, no fakes)."""

from pathlib import Path

import pytest

from newswatch.enrich.entities import EntityTagger, MatchText
from newswatch.enrich.watchlist import Entity, load_watchlist
from newswatch.pipeline.article import Article
from newswatch.pipeline.config import ConfigError
from newswatch.pipeline.text import fold, tokens
from support.seed import seed_path

ROOT = Path(__file__).resolve().parents[3]
SEED = seed_path()


@pytest.fixture(scope="module")
def tagger():
    return EntityTagger(load_watchlist(ROOT / "config" / "watchlist.yaml"))


def tag(tagger, content, title=""):
    a = Article(id="t", title=title, content=content, content_format="text")
    return {t.id: t for t in tagger.tag_article(a)}, a


def assert_offsets(article, entity_tag):
    for m in entity_tag.matches:
        matched = getattr(article, m.field)[m.start:m.end]
        assert tokens(matched) == tokens(m.alias), (matched, m.alias)


def test_seed_article_tags_mek_and_ncri_with_offsets(tagger):
    text = SEED.read_text(encoding="utf-8")
    tags, a = tag(tagger, text)
    assert {"mek", "ncri", "maryam-rajavi", "albania", "tirana"} <= set(tags)
    mek = tags["mek"]
    # every "MEK" in the text, plus the one spelled-out name
    import re
    assert mek.count == len(re.findall(r"\bMEK\b", text)) + 1
    assert_offsets(a, mek)
    ncri = tags["ncri"].matches[0]
    assert text[ncri.start:ncri.end] == "National Council of Resistance of Iran"
    # the longer name wins over the place "Iran" inside it
    assert all(not (m.start >= ncri.start and m.end <= ncri.end) for m in tags["iran"].matches)
    assert "massoud-rajavi" not in tags  # "By Massoud.khodabandeh" is not Massoud Rajavi


@pytest.mark.parametrize("text,alias", [
    ("Le Conseil national de la Résistance iranienne (CNRI) a tenu une conférence à Paris.", "Conseil national de la Résistance iranienne"),
    ("Die Volksmudschahedin haben ein Lager in Albanien.", "Volksmudschahedin"),
    ("بیانیه سازمان مجاهدین خلق ایران درباره نشست امروز", "سازمان مجاهدین خلق ایران"),
    ("گزارش درباره شورای ملی مقاومت ایران منتشر شد", "شورای ملی مقاومت ایران"),
    ("The Mujahedin-e-Khalq office in Tirana was closed.", "Mujahedin-e Khalq"),
    ("Straße ß Café — the People’s Mojahedin met.", "People's Mojahedin"),
])
def test_offsets_point_at_alias_latin_and_persian(tagger, text, alias):
    tags, a = tag(tagger, text)
    found = [m for t in tags.values() for m in t.matches if m.alias == alias]
    assert found, tags
    for m in found:
        assert fold(text[m.start:m.end]).replace("-", " ").replace("’", "'") == fold(alias).replace("-", " ")


def test_persian_and_arabic_letter_variants(tagger):
    arabic = "منظمة مجاهدي خلق"  # Arabic yeh
    persian_kaf = "مريم رجوي"  # Arabic yeh in the name
    assert "mek" in tag(tagger, arabic)[0]
    tags, a = tag(tagger, persian_kaf)
    assert "maryam-rajavi" in tags
    m = tags["maryam-rajavi"].matches[0]
    assert (m.start, m.end) == (0, len(persian_kaf))


def test_acronym_is_case_sensitive(tagger):
    assert "mek" not in tag(tagger, "The mek of the Iran story")[0]
    assert "mek" in tag(tagger, "The MEK said in Iran on Monday")[0]


def test_acronym_needs_context_and_exclusions_veto(tagger):
    assert "mek" not in tag(tagger, "A new MEK inhibitor trial reported results in Iran and elsewhere.")[0]
    assert "mek" not in tag(tagger, "The company said MEK shipments rose.")[0]
    assert "ncri" not in tag(tagger, "The NCRI funded twelve new trials in breast cancer.")[0]
    assert "ncri" in tag(tagger, "The NCRI, an Iranian opposition coalition, met in Paris.")[0]


def test_one_sense_per_article(tagger):
    far = "x " * 400
    text = f"The Mojahedin-e Khalq held a meeting. {far} Later the MEK published a statement."
    tags, _ = tag(tagger, text)
    assert tags["mek"].count == 2


def test_title_borrows_context_from_lead(tagger):
    tags, a = tag(tagger, "Exiled Iranian opposition members gathered in Paris.", title="MEK rally draws crowd")
    m = tags["mek"].matches[0]
    assert (m.field, a.title[m.start:m.end]) == ("title", "MEK")


def test_word_boundaries():
    t = EntityTagger([Entity(id="x", name="Iran")])
    assert not t.tag({"content": "Iranian and Irani"})
    assert t.tag({"content": "Iran's, (Iran)"})[0].count == 2


def test_overlap_prefers_longest():
    t = EntityTagger([Entity(id="a", name="Camp Ashraf"), Entity(id="b", name="Ashraf", type="person")])
    tags = t.tag({"content": "Camp Ashraf and Ashraf"})
    assert {x.id: x.count for x in tags} == {"a": 1, "b": 1}


def test_match_text_maps_offsets_for_expanding_folds():
    s = "Straße ŒUVRE Mojahedin"
    mt = MatchText(s)
    i = mt.text.index("mojahedin")
    start, end = mt.span(i, i + len("mojahedin"))
    assert s[start:end] == "Mojahedin"
    j = mt.text.index("strasse")
    assert mt.span(j, j + 7) == (0, 6)


def test_bad_watchlist_names_entry(tmp_path):
    p = tmp_path / "watchlist.yaml"
    p.write_text("entities:\n  - id: ok\n    name: Fine\n  - id: Bad Id\n    name: X\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_watchlist(p)
    assert "entities[1]" in str(e.value) and "Bad Id" in str(e.value)
    p.write_text("entities:\n  - id: x\n    name: X\n    aliases: [{text: '--'}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no letters or digits"):
        load_watchlist(p)


def test_punctuation_runs_between_words_still_match_with_offsets(tagger):
    text = "Yesterday,  Mrs. Rajavi -- and later Mrs.  Rajavi again -- spoke; (Maryam   Rajavi)."
    tags, a = tag(tagger, text)
    got = [text[m.start:m.end] for m in tags["maryam-rajavi"].matches]
    assert got == ["Mrs. Rajavi", "Mrs.  Rajavi", "Maryam   Rajavi"]
