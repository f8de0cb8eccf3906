"""The enrich stage: raw Article in, enriched Article out.

normalise -> language -> dedupe -> entities -> topics.  Order matters:
dedupe and tagging work on clean text, topic rules may use ``entity:``.
Idempotent: an article already enriched (a replay) comes out the same, apart
from ``enriched_at``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from newswatch.pipeline.article import Article, utcnow
from newswatch.pipeline.stage import PermanentError

from newswatch.enrich.dedupe import Deduplicator, Fingerprint, fingerprint, fingerprints
from newswatch.enrich.entities import EntityTagger
from newswatch.enrich.language import detect_article_language
from newswatch.enrich.normalize import normalize_article
from newswatch.enrich.topics import TopicTagger

log = logging.getLogger(__name__)


def _copy(article: Article) -> Article:
    """What ``model_copy(deep=True)`` gives (nothing shared with the input,
    same fields set), without its generic deepcopy walk, ~10x cheaper: the
    values are strings, datetimes, string lists and small models."""
    a = article.model_copy()  # a fresh __dict__, values shared
    d = a.__dict__  # written directly so the fields-set stays the input's
    d["source"] = article.source.model_copy()
    for name in ("authors", "categories", "feed_tags"):
        d[name] = list(d[name])
    for name in ("entities", "topics"):
        d[name] = [x.model_copy(deep=True) for x in d[name]]
    return a


class Enricher:
    """Implements :class:`newswatch.pipeline.stage.Processor`."""

    name = "enrich"

    def __init__(self, entities: EntityTagger, topics: TopicTagger, dedupe: Deduplicator | None) -> None:
        self.entities = entities
        self.topics = topics
        self.dedupe = dedupe
        self.stats: Counter[str] = Counter()

    def process(self, article: Article) -> list[Article]:
        result = self.process_batch([article])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    # articles per dedupe transaction: long enough to make the commit cheap,
    # short enough that a chunk's texts are still in the token cache
    # (pipeline.text) when the taggers read them again
    CHUNK = 64

    def process_batch(self, articles: Sequence[Article]) -> list[list[Article] | Exception]:
        """:meth:`process` for each article, with the same results as one by
        one: each article's outputs, or the error it raised.  Each chunk of
        the batch shares one dedupe transaction (one write lock, one commit):
        the per-article commit cost more than all the tagging did."""
        out: list[list[Article] | Exception] = []
        for i in range(0, len(articles), self.CHUNK):
            out.extend(self._process_chunk(articles[i:i + self.CHUNK]))
        return out

    def _process_chunk(self, articles: Sequence[Article]) -> list[list[Article] | Exception]:
        """Step by step over the whole chunk (all cleanups, then all language
        guesses, ...), not article by article: each step's tables (the
        language model, the alias automaton, the rule index) stay in the CPU
        cache for the chunk -- article by article, fastText alone cost 2.5x."""
        results: list[list[Article] | Exception] = [[] for _ in articles]
        todo: list[tuple[int, Article]] = []
        for i, article in enumerate(articles):
            try:
                todo.append((i, self._clean(article)))
            except Exception as exc:
                results[i] = exc

        def step(fn) -> None:  # run fn on each article still going; a failure stops only that one
            nonlocal todo
            kept = []
            for i, a in todo:
                try:
                    fn(a)
                    kept.append((i, a))
                except Exception as exc:
                    results[i] = exc
            todo = kept

        step(self._language)
        fps: dict[int, Fingerprint] = {}

        def keep(a: Article, fp: Fingerprint) -> None:
            a.content_hash = fp.content_hash
            fps[id(a)] = fp

        try:  # together (the signatures share numpy calls); one by one if that fails
            for (_, a), fp in zip(todo, fingerprints([a for _, a in todo])):
                keep(a, fp)
        except Exception:
            step(lambda a: keep(a, fingerprint(a)))
        if self.dedupe is not None and todo:
            try:
                dups = self.dedupe.check_many([(a, fps[id(a)]) for _, a in todo])
            except Exception as exc:  # rolled back: none of these is decided
                for i, _ in todo:
                    results[i] = exc
                return results
            for (_, a), dup in zip(todo, dups):
                a.duplicate_of = dup  # else: no dedupe, keep what came in
                if dup:
                    self.stats["duplicates"] += 1
        step(self._entities)
        step(self._topics)
        for i, a in todo:
            self.stats["enriched"] += 1
            results[i] = [a]
        return results

    def _clean(self, article: Article) -> Article:
        if not article.id:
            raise PermanentError("article without an id cannot be deduplicated or indexed")
        a = _copy(article)
        normalize_article(a)
        if not (a.title or a.summary or a.content):
            # nothing to tag, search or alert on: park it with the reason
            # (quarantine / DLQ) instead of indexing an empty "(no title)"
            self.stats["empty"] += 1
            raise PermanentError(f"article {a.id} has no text after cleanup (url {a.url or '-'})")
        return a

    @staticmethod
    def _language(a: Article) -> None:
        a.language = detect_article_language(a) or a.language

    def _entities(self, a: Article) -> None:
        a.entities = self.entities.tag_article(a)

    def _topics(self, a: Article) -> None:
        a.topics = self.topics.tag_article(a)
        a.enriched_at = utcnow()

    def close(self) -> None:
        if self.dedupe is not None:
            self.dedupe.close()
