"""Offline language detection with the feed hint as fallback (real model)."""

from newswatch.enrich.language import detect_language


def test_detects_common_languages():
    assert detect_language("The delegates met on Tuesday to discuss a draft agreement on water sharing.") == "en"
    assert detect_language("Les délégués se sont réunis mardi pour discuter d'un projet d'accord sur l'eau.") == "fr"
    assert detect_language("Die Delegierten trafen sich am Dienstag, um über einen Vertragsentwurf zu beraten.") == "de"
    assert detect_language("نمایندگان روز سه‌شنبه برای بررسی پیش‌نویس توافق درباره تقسیم آب دیدار کردند.") == "fa"


def test_short_text_uses_hint():
    assert detect_language("Rajavi", "fr-FR") == "fr"
    assert detect_language("Short", None) is None
    assert detect_language("", "en_GB") == "en"


def test_text_beats_hint_when_confident():
    assert detect_language("The delegates met on Tuesday to discuss a draft agreement on water sharing.", "de") == "en"
