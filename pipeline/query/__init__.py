"""The one query language: Lucene syntax, parsed once (luqum) into a small
tree (:mod:`.ast`), evaluated in Python (:mod:`.match`) for topics and alert
rules, and translated by each index backend for search.

    from newswatch.pipeline.query import parse_query, compile_query
    q = parse_query('entity:mek AND (Albania OR "Camp Ashraf") NOT sport')
    matcher = compile_query(q)
    matcher.matches(DocView.of(article))
"""

from newswatch.pipeline.query.ast import (
    And, DateRange, FieldTerm, Node, Not, Or, Phrase, QueryError, Term, MatchAll,
)
from newswatch.pipeline.query.parse import parse_query, TEXT_FIELDS, KEYWORD_FIELDS, DATE_FIELDS
from newswatch.pipeline.query.match import DocView, Matcher, RuleIndex, compile_query, required_terms

__all__ = [
    "And", "DateRange", "FieldTerm", "Node", "Not", "Or", "Phrase", "QueryError", "Term", "MatchAll",
    "parse_query", "TEXT_FIELDS", "KEYWORD_FIELDS", "DATE_FIELDS",
    "DocView", "Matcher", "RuleIndex", "compile_query", "required_terms",
]
