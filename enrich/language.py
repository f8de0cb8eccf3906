"""Offline language detection (py3langid), with the feed's declared language
as the fallback where a statistical guess is worthless: very short texts and
low-confidence guesses."""

from __future__ import annotations

import logging
import threading

from newswatch.pipeline.article import Article

log = logging.getLogger(__name__)

MIN_CHARS = 40
MIN_CONFIDENCE = 0.5
# langid costs ~1 µs a character in pure Python; 800 characters of news prose
# (title and lead) are plenty to tell its language apart
SAMPLE_CHARS = 800

_identifier = None
_lock = threading.Lock()


def _get_identifier():
    """Loading the model takes ~100 ms and some MB: do it once, on first use."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def _hint(hint: str | None) -> str | None:
    if not hint:
        return None
    # "en-US", "en_GB" -> "en"
    code = hint.strip().replace("_", "-").split("-")[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else None


def detect_language(text: str, hint: str | None = None) -> str | None:
    """ISO 639-1 code of *text*, or the hint (normalised) when the text is too
    short or the guess too unsure; None when neither says anything."""
    fallback = _hint(hint)
    sample = text[:SAMPLE_CHARS].strip()
    if len(sample) < MIN_CHARS:
        return fallback
    try:
        lang, prob = _get_identifier().classify(sample)
    except Exception as exc:  # never let detection stop an article
        log.warning("language detection failed: %s", exc)
        return fallback
    if prob < MIN_CONFIDENCE and fallback:
        return fallback
    return str(lang)


def detect_article_language(article: Article) -> str | None:
    return detect_language(article.text, article.language_hint)
