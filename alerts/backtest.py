"""``newswatch alerts test RULE``: what a rule would have sent.

Runs the rule's query on the index (any :class:`SearchBackend`; the CLI
passes the configured one, alerts never imports index/) over a past window,
one hit per story (copies folded, as the ledger folds them), and marks the
stories the ledger already alerted on for this rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newswatch.pipeline.search import Hit, SearchBackend

from newswatch.alerts.ledger import Ledger
from newswatch.alerts.matching import rule_snippet
from newswatch.alerts.rules import AlertRule


@dataclass
class BacktestHit:
    hit: Hit
    already_sent: bool

    def to_json(self) -> dict:
        return {**self.hit.to_json(), "already_sent": self.already_sent}


def backtest(rule: AlertRule, index: SearchBackend, since: datetime, *, ledger: Ledger | None = None,
             until: datetime | None = None, limit: int = 200) -> list[BacktestHit]:
    # Duplicates included, then folded per story: a syndicated copy may match
    # where the first copy did not (live alerts claim on whichever matches).
    result = index.search(rule.node, since=since, until=until, limit=limit * 3, sort="date",
                          include_duplicates=True)
    seen: set[str] = set()
    hits: list[Hit] = []
    for h in result.hits:
        sid = h.article.story_id
        if sid in seen or len(hits) >= limit:
            continue
        seen.add(sid)
        # the snippet the email would show (aliases marked too), whatever the backend made
        h.snippet = rule_snippet(h.article, rule.node) or h.snippet
        hits.append(h)
    sent = ledger.alerted(rule.id, seen) if ledger is not None else set()
    return [BacktestHit(h, h.article.story_id in sent) for h in hits]
