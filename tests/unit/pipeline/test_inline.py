"""InlinePipeline with fake stages (fakes: this tests the wiring, not the stages)."""

import pytest

from newswatch.pipeline.article import Article
from newswatch.pipeline.quarantine import Quarantine
from newswatch.pipeline.transport.inline import InlinePipeline, SinkFailed


class Upper:
    name = "enrich"

    def process(self, a: Article) -> list[Article]:
        if a.title == "poison":
            raise ValueError("cannot enrich")
        return [a.model_copy(update={"title": a.title.upper(), "content_format": "text"})]

    def close(self) -> None:
        pass


class Collect:
    def __init__(self, name: str, fail_times: int = 0):
        self.name, self.fail_times, self.got, self.closed = name, fail_times, [], False

    def write(self, batch):
        if self.fail_times:
            self.fail_times -= 1
            raise OSError("disk on fire")
        self.got.extend(batch)

    def close(self):
        self.closed = True


def test_articles_flow_to_every_sink_and_poison_is_quarantined(tmp_path):
    a, b = Collect("index"), Collect("alerts", fail_times=2)
    q = Quarantine(tmp_path / "q.jsonl")
    p = InlinePipeline(Upper(), [a, b], q, backoff=0.001)
    p([Article(id="1", title="x"), Article(id="2", title="poison"), Article(id="3", title="y")])
    assert [x.title for x in a.got] == [x.title for x in b.got] == ["X", "Y"]
    assert p.counters.quarantined == 1 and p.counters.sink_errors == 2
    (rec,) = q.read()
    assert rec["payload"]["id"] == "2" and "cannot enrich" in rec["error"]
    p.close()
    assert a.closed and b.closed


def test_a_sink_that_keeps_failing_raises_so_ingest_can_retry(tmp_path):
    p = InlinePipeline(Upper(), [Collect("index", fail_times=99)], Quarantine(tmp_path / "q"), retries=2, backoff=0.001)
    with pytest.raises(SinkFailed):
        p([Article(id="1", title="x")])


class Flaky:
    """Fake processor: fails with a transient error *fails* times, then works."""

    name = "enrich"

    def __init__(self, fails: int):
        self.fails = fails

    def process(self, a: Article) -> list[Article]:
        import sqlite3

        if self.fails:
            self.fails -= 1
            raise sqlite3.OperationalError("database is locked")
        return [a]

    def close(self) -> None:
        pass


def test_transient_enrich_errors_are_retried_not_quarantined(tmp_path):
    sink = Collect("index")
    q = Quarantine(tmp_path / "q.jsonl")
    p = InlinePipeline(Flaky(fails=2), [sink], q, retries=3, backoff=0.001)
    p([Article(id="1", title="x")])
    assert [a.id for a in sink.got] == ["1"] and q.read() == []


def test_a_processor_outage_raises_so_nothing_is_marked_seen(tmp_path):
    from newswatch.pipeline.transport.inline import ProcessorFailed

    q = Quarantine(tmp_path / "q.jsonl")
    p = InlinePipeline(Flaky(fails=99), [Collect("index")], q, retries=2, backoff=0.001)
    with pytest.raises(ProcessorFailed):
        p([Article(id="1", title="x")])
    assert q.read() == []  # an outage is not a poison article


class RefusesOne(Collect):
    """Fake sink: article 'bad' can never be written (PermanentError)."""

    def write(self, batch):
        from newswatch.pipeline.stage import PermanentError

        if any(a.id == "bad" for a in batch):
            raise PermanentError("cannot index bad")
        self.got.extend(batch)


def test_a_sink_refusing_one_article_parks_it_and_writes_the_rest(tmp_path):
    sink, after = RefusesOne("index"), Collect("alerts")
    q = Quarantine(tmp_path / "q.jsonl")
    p = InlinePipeline(Upper(), [sink, after], q, backoff=0.001)
    p([Article(id="1", title="a"), Article(id="bad", title="b"), Article(id="3", title="c")])
    assert sorted(a.id for a in sink.got) == ["1", "3"]
    assert [r["payload"]["id"] for r in q.read()] == ["bad"] and q.read()[0]["stage"] == "index"


def test_a_batch_processor_is_called_once_and_its_failures_retried_alone(tmp_path):
    import sqlite3

    class BatchUpper(Upper):
        def __init__(self):
            self.batches, self.alone = [], []

        def process(self, a):
            self.alone.append(a.id)
            return super().process(a)

        def process_batch(self, articles):
            self.batches.append([a.id for a in articles])
            return [sqlite3.OperationalError("database is locked") if a.id == "2" else
                    [a.model_copy(update={"title": a.title.upper()})] for a in articles]

    sink = Collect("index")
    proc = BatchUpper()
    p = InlinePipeline(proc, [sink], Quarantine(tmp_path / "q.jsonl"), backoff=0.001)
    p([Article(id="1", title="x"), Article(id="2", title="y"), Article(id="3", title="z")])
    assert proc.batches == [["1", "2", "3"]] and proc.alone == ["2"]
    assert [(a.id, a.title) for a in sink.got] == [("1", "X"), ("2", "Y"), ("3", "Z")]


def test_poison_found_in_a_batch_is_quarantined_without_a_second_try(tmp_path):
    class BatchPoison(Upper):
        def __init__(self):
            self.alone = []

        def process(self, a):
            self.alone.append(a.id)
            return super().process(a)

        def process_batch(self, articles):
            return [ValueError("cannot enrich") if a.title == "poison" else super(BatchPoison, self).process(a)
                    for a in articles]

    sink, proc = Collect("index"), BatchPoison()
    p = InlinePipeline(proc, [sink], Quarantine(tmp_path / "q.jsonl"), backoff=0.001)
    p([Article(id="1", title="x"), Article(id="2", title="poison")])
    assert proc.alone == [] and p.counters.quarantined == 1 and [a.id for a in sink.got] == ["1"]


class PartialSink(Collect):
    """Fake sink like the real ones: writes what it can, then names what it
    refused (or, with *name_them* False, only says that it refused some)."""

    def __init__(self, name_them: bool):
        super().__init__("index")
        self.name_them, self.calls = name_them, 0

    def write(self, batch):
        from newswatch.pipeline.stage import PermanentError

        self.calls += 1
        bad = [a.id for a in batch if a.title.startswith("BAD")]
        self.got.extend(a for a in batch if a.id not in bad)
        if bad:
            raise PermanentError(f"refused {bad}", article_ids=bad if self.name_them else None)


@pytest.mark.parametrize("name_them,calls", [(True, 1), (False, 1 + 4)])
def test_a_sink_that_refuses_part_of_a_batch_parks_only_those(tmp_path, name_them, calls):
    sink = PartialSink(name_them)
    q = Quarantine(tmp_path / "q.jsonl")
    p = InlinePipeline(Upper(), [sink], q, backoff=0.001)
    p([Article(id="1", title="a"), Article(id="2", title="bad one"), Article(id="3", title="b"),
       Article(id="4", title="c")])
    assert sink.calls == calls  # named: no second write of the good ones
    assert sorted(a.id for a in sink.got) == (["1", "3", "4"] if name_them else ["1", "1", "3", "3", "4", "4"])
    assert [r["payload"]["id"] for r in q.read()] == ["2"]
    assert p.counters.quarantined == 1 and p.counters.written["index"] == 3


def test_a_batch_that_failed_as_a_whole_waits_one_backoff_not_one_per_article(tmp_path, monkeypatch):
    import sqlite3
    from types import SimpleNamespace

    import newswatch.pipeline.transport.inline as inline

    class LockedBatch(Upper):
        def process_batch(self, articles):  # the store was locked for the whole batch
            return [sqlite3.OperationalError("database is locked") for _ in articles]

    slept: list[float] = []
    monkeypatch.setattr(inline, "time", SimpleNamespace(sleep=slept.append))
    sink = Collect("index")
    p = InlinePipeline(LockedBatch(), [sink], Quarantine(tmp_path / "q.jsonl"), backoff=0.5)
    p([Article(id=str(i), title=f"t{i}") for i in range(20)])
    assert len(sink.got) == 20 and slept == [0.5]
