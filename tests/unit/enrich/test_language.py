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


def test_multiline_text_and_more_languages_of_the_watchlist():
    # fastText reads one line: a newline must not end (or break) the sample
    text = "Parlamenti votoi të martën\npër të miratuar buxhetin e ri\n\npas një debati të gjatë mbi energjinë."
    assert detect_language(text) == "sq"
    assert detect_language("صوت البرلمان يوم الثلاثاء على الموافقة على الميزانية الجديدة بعد نقاش طويل") == "ar"


def test_regional_varieties_are_reported_under_their_language(monkeypatch):
    import newswatch.enrich.language as lang

    class Model:
        def predict(self, text, k=1):
            assert "\n" not in text
            return ("__label__arz",), (0.9,)

    monkeypatch.setattr(lang, "_model", Model())  # a fake model: this tests our mapping, not fastText
    assert detect_language("a long enough sample of text for the detector\nsecond line") == "ar"


def test_the_model_file_ships_with_the_install():
    from newswatch.enrich.language import model_path

    assert model_path().stat().st_size > 500_000


def test_a_missing_model_is_said_once_and_articles_keep_their_hint(monkeypatch, caplog):
    import newswatch.enrich.language as lang

    def missing():
        raise lang.LanguageModelMissing("language model not found at /nowhere")

    monkeypatch.setattr(lang, "_model", None)
    monkeypatch.setattr(lang, "_missing", None)
    monkeypatch.setattr(lang, "model_path", missing)
    text = "a long enough sample of text for the detector to try its luck on"
    with caplog.at_level("WARNING", logger=lang.log.name):
        assert [detect_language(text, hint="de-AT") for _ in range(3)] == ["de"] * 3
        assert detect_language(text) is None
    said = [r for r in caplog.records if "language detection is off" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "ERROR" and "/nowhere" in said[0].getMessage()
