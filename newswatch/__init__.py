"""newswatch: a streaming news-monitoring pipeline.

The stage packages live at the top of the source tree (ingest/, enrich/, index/,
alerts/, pipeline/) and are installed as newswatch.ingest, newswatch.enrich, ...
"""

__version__ = "0.1.0"
