"""URL canonicalisation: one article, one id, whatever tracking junk the feed
appended.  Shared by ingest (ids) and enrich (exact dedupe)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
        "_ga", "_gl", "ref", "ref_src", "cmpid", "ito", "ocid", "smid", "sr_share",
        "at_medium", "at_campaign", "rss", "feed", "feedtype", "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "__")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports, fragments and tracking
    parameters, sort the remaining query.  Idempotent."""
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = f"{host}:{port}" if port else host
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    query.sort()
    # http and https copies of one page are one article
    if scheme == "http":
        scheme = "https"
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def domain_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def stable_id(*parts: str) -> str:
    """A short, stable, URL-safe id from the given parts."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return h[:24]


def article_id(url: str | None, feed_id: str, guid: str | None) -> str:
    """Id from the canonical URL, else the feed's GUID scoped to the feed."""
    if url:
        return stable_id("url", canonical_url(url))
    if guid:
        return stable_id("guid", feed_id, guid)
    raise ValueError("an article needs a link or a guid to have a stable id")
