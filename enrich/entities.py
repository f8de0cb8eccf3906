"""Entity tagging: every alias of the watchlist in one Aho-Corasick automaton,
one pass per field, every match kept as evidence with offsets into the field
as stored (``article.<field>[start:end]`` is the text that matched).

The automaton runs over a *matching form* of the field: folded (see
:func:`newswatch.pipeline.text.fold`) with every non-letter/digit replaced by
a space, so word boundaries are plain spaces and punctuation between words is
free.  The matching form is built in runs (ASCII runs are lower-cased in one C
call) with a compact offset map back to the original, because building a
per-character map in Python would dominate the cost of tagging.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
import re

import ahocorasick

from newswatch.pipeline.article import Article, EntityMatch, EntityTag
from newswatch.pipeline.text import fold

from newswatch.enrich.watchlist import CompiledAlias, Entity, case_key, compile_aliases

FIELDS = ("title", "summary", "content")

_ASCII_TABLE = str.maketrans({chr(i): (chr(i).lower() if chr(i).isalnum() else " ") for i in range(128)})
_RUNS = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]+")
_SPACES = re.compile(r" {2,}")


def _squeeze(text: str) -> tuple[str, tuple[list[int], list[int]] | None]:
    """Runs of spaces -> one space ("Mrs. Rajavi" -> "mrs rajavi"), with the
    map (squeezed start, unsqueezed start) of each linear segment."""
    if "  " not in text:
        return text, None
    parts: list[str] = []
    nstarts, ostarts = [0], [0]
    pos = npos = 0
    for m in _SPACES.finditer(text):
        s, e = m.span()
        parts.append(text[pos:s + 1])
        npos += s + 1 - pos
        pos = e
        nstarts.append(npos)
        ostarts.append(e)
    parts.append(text[pos:])
    return "".join(parts), (nstarts, ostarts)


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    return "".join(c if c.isalnum() else " " for c in fold(ch))


def _fold_run(run: str) -> tuple[str, bool]:
    """A non-ASCII run folded char by char, and whether every char folded to
    exactly one (then the run maps back linearly, like an ASCII run)."""
    folded = [_fold_char(ch) for ch in run]
    return "".join(folded), all(len(f) == 1 for f in folded)


# runs are mostly words (Persian, Arabic, Cyrillic) or accented letters: they repeat
_fold_short_run = lru_cache(maxsize=65536)(_fold_run)


class MatchText:
    """A field's matching form plus the map back to original offsets.

    The map is a list of segments (folded start, original start, linear?):
    inside a linear segment offsets move one-to-one; a non-linear segment is
    one original character that folded to several (ß -> ss)."""

    __slots__ = ("text", "_fstarts", "_ostarts", "_linear", "_squeezed")

    def __init__(self, original: str) -> None:
        if original.isascii():
            self.text, self._squeezed = _squeeze(original.translate(_ASCII_TABLE))
            self._fstarts = None
            return
        parts: list[str] = []
        fstarts: list[int] = []
        ostarts: list[int] = []
        linear: list[bool] = []
        fpos = 0
        for m in _RUNS.finditer(original):
            run, o = m.group(), m.start()
            if run[0] < "\x80":
                folded, single = run.translate(_ASCII_TABLE), True
            else:
                folded, single = _fold_short_run(run) if len(run) <= 40 else _fold_run(run)
            if single:  # one char per char: one linear segment (or the current one extended)
                parts.append(folded)
                if not (linear and linear[-1] and ostarts[-1] + (fpos - fstarts[-1]) == o):
                    fstarts.append(fpos); ostarts.append(o); linear.append(True)
                fpos += len(run)
                continue
            for k, ch in enumerate(run):
                f = _fold_char(ch)
                if not f:
                    continue
                parts.append(f)
                if len(f) == 1 and linear and linear[-1] and ostarts[-1] + (fpos - fstarts[-1]) == o + k:
                    pass  # extends the current linear segment
                else:
                    fstarts.append(fpos); ostarts.append(o + k); linear.append(len(f) == 1)
                fpos += len(f)
        self.text, self._squeezed = _squeeze("".join(parts))
        self._fstarts, self._ostarts, self._linear = fstarts, ostarts, linear

    def original(self, f: int) -> int:
        """Original offset of the character at folded offset *f*."""
        if self._squeezed is not None:
            nstarts, ostarts = self._squeezed
            k = bisect_right(nstarts, f) - 1
            f = ostarts[k] + (f - nstarts[k])
        if self._fstarts is None:
            return f
        k = bisect_right(self._fstarts, f) - 1
        return self._ostarts[k] + (f - self._fstarts[k]) if self._linear[k] else self._ostarts[k]

    def span(self, fs: int, fe: int) -> tuple[int, int]:
        """Original [start, end) of folded [fs, fe)."""
        return self.original(fs), self.original(fe - 1) + 1


@dataclass
class _Candidate:
    alias: CompiledAlias
    field: str
    fs: int
    fe: int
    start: int
    end: int
    state: str  # "ok" | "pending" (needs the entity confirmed elsewhere)


def _resolve(cluster: list[_Candidate]) -> list[_Candidate]:
    if len(cluster) < 2:
        return cluster
    kept: list[_Candidate] = []
    spans: list[tuple[int, int]] = []
    for c in sorted(cluster, key=lambda c: (c.fs - c.fe, c.fs)):
        if any(c.fs < e and s < c.fe for s, e in spans):
            # same span, another entity sharing the alias: keep both
            if not any(c.fs == s and c.fe == e for s, e in spans):
                continue
        spans.append((c.fs, c.fe))
        kept.append(c)
    return kept


class _Terms:
    """Context terms split for speed: one-word terms by set lookup, the few
    multi-word ones by substring search."""

    __slots__ = ("words", "phrases")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.words = frozenset(k for k in keys if " " not in k)
        self.phrases = tuple(f" {k} " for k in keys if " " in k)

    def found_in(self, window: str, words: list[str] | None = None) -> bool:
        """*words*: ``window.split(" ")`` if the caller has it already."""
        if not self.words.isdisjoint(window.split(" ") if words is None else words):
            return True
        if self.phrases:
            padded = f" {window} "
            return any(p in padded for p in self.phrases)
        return False


class EntityTagger:
    """Tags text with the watchlist's entities.  Build once, use for every
    article (the automaton is the expensive part)."""

    def __init__(self, entities: list[Entity]) -> None:
        self.entities = entities
        self.aliases = compile_aliases(entities)
        by_key: dict[str, list[int]] = defaultdict(list)
        for i, a in enumerate(self.aliases):
            by_key[a.key].append(i)
        self.automaton = ahocorasick.Automaton()
        for key, ids in by_key.items():
            self.automaton.add_word(key, (len(key), tuple(ids)))
        self._empty = not by_key
        if not self._empty:
            self.automaton.make_automaton()
        self._require = [_Terms(a.require) for a in self.aliases]
        self._exclude = [_Terms(a.exclude) for a in self.aliases]

    def tag_article(self, article: Article) -> list[EntityTag]:
        return self.tag({f: getattr(article, f) or "" for f in FIELDS})

    def tag(self, fields: dict[str, str]) -> list[EntityTag]:
        if self._empty:
            return []
        texts = {f: MatchText(t) for f, t in fields.items() if t}
        # a headline is too short to hold its own context: lend it the lead
        lead = " ".join(texts[f].text[:600] for f in ("summary", "content") if f in texts)
        cands: list[_Candidate] = []
        for f, mt in texts.items():
            cands.extend(self._scan(f, fields[f], mt, lead if f == "title" else ""))
        # one sense per discourse: an entity confirmed anywhere in the
        # article confirms its ambiguous mentions elsewhere in it
        confirmed = {c.alias.entity.id for c in cands if c.state == "ok"}
        accepted = [c for c in cands if c.state == "ok" or c.alias.entity.id in confirmed]
        return self._tags(self._longest(accepted))

    def _scan(self, field: str, original: str, mt: MatchText, extra: str) -> list[_Candidate]:
        text = mt.text
        n = len(text)
        out: list[_Candidate] = []
        for end, (length, ids) in self.automaton.iter(text):
            fs, fe = end - length + 1, end + 1
            if (fs > 0 and text[fs - 1] != " ") or (fe < n and text[fe] != " "):
                continue
            start, stop = mt.span(fs, fe)
            contexts: dict[int, tuple[str, list[str]]] = {}  # window size -> (window, its words)
            for i in ids:
                a = self.aliases[i]
                if a.case_sensitive and case_key(original[start:stop]) != a.case_key:
                    continue
                state = "ok"
                if a.require or a.exclude:
                    ctx = contexts.get(a.window)
                    if ctx is None:
                        # the match itself is not its own context (MEK is a context term of NCRI)
                        window = f"{text[max(0, fs - a.window):fs]} {text[fe:fe + a.window]}"
                        if extra:
                            window = f"{window} {extra}"
                        ctx = contexts[a.window] = (window, window.split(" "))
                    window, words = ctx
                    if a.exclude and self._exclude[i].found_in(window, words):
                        continue
                    if a.require and not self._require[i].found_in(window, words):
                        state = "pending"
                out.append(_Candidate(a, field, fs, fe, start, stop, state))
        return out

    @staticmethod
    def _longest(cands: list[_Candidate]) -> list[_Candidate]:
        """Where matches overlap, keep the longest ("National Council of
        Resistance of Iran" wins over "Iran").  Most matches overlap nothing,
        so only clusters of overlapping matches are resolved."""
        by_field: dict[str, list[_Candidate]] = defaultdict(list)
        for c in cands:
            by_field[c.field].append(c)
        kept: list[_Candidate] = []
        for cs in by_field.values():
            cs.sort(key=lambda c: (c.fs, c.fe))
            cluster: list[_Candidate] = []
            cluster_end = -1
            for c in cs:
                if c.fs >= cluster_end:
                    kept.extend(_resolve(cluster))
                    cluster, cluster_end = [c], c.fe
                else:
                    cluster.append(c)
                    cluster_end = max(cluster_end, c.fe)
            kept.extend(_resolve(cluster))
        return kept

    def _tags(self, cands: list[_Candidate]) -> list[EntityTag]:
        field_rank = {f: i for i, f in enumerate(FIELDS)}
        cands.sort(key=lambda c: (field_rank.get(c.field, 9), c.start))
        tags: dict[str, EntityTag] = {}
        seen: set[tuple[str, str, int, int]] = set()
        for c in cands:
            ent = c.alias.entity
            key = (ent.id, c.field, c.start, c.end)
            if key in seen:  # two aliases of one entity with the same key
                continue
            seen.add(key)
            tag = tags.get(ent.id)
            if tag is None:
                tag = tags[ent.id] = EntityTag(id=ent.id, name=ent.name, type=ent.type)
            # validated construction: pydantic's Rust validator is ~2x faster than model_construct
            tag.matches.append(EntityMatch(alias=c.alias.text, field=c.field, start=c.start, end=c.end))
        for t in tags.values():
            t.count = len(t.matches)
        return list(tags.values())
