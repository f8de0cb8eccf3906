from newswatch.pipeline.text import clean_whitespace, fold, fold_with_offsets, tokens
from newswatch.pipeline.urls import article_id, canonical_url


def test_fold_is_case_and_accent_insensitive():
    assert fold("Manëz") == fold("MANEZ") == "manez"
    assert fold("Résistance") == "resistance"
    # Arabic and Persian letter variants fold together
    assert fold("مجاهدين") == fold("مجاهدین")
    assert fold("كشور") == fold("کشور")


def test_fold_with_offsets_maps_back():
    text = "Le CNRI à Auvers-sur-Oise, Straße"
    folded, origin = fold_with_offsets(text)
    assert folded == fold(text)
    i = folded.index("auvers")
    assert text[origin[i]: origin[i + len("auvers") - 1] + 1] == "Auvers"
    j = folded.index("strasse")
    assert text[origin[j]: origin[j + len("strasse") - 1] + 1] == "Straße"


def test_tokens_split_on_non_letters():
    assert tokens("Mujahedin-e-Khalq's camp_ashraf 2016!") == ["mujahedin", "e", "khalq", "s", "camp", "ashraf", "2016"]


def test_clean_whitespace_keeps_paragraphs():
    assert clean_whitespace(" a \t b\n\n\n  c\u00a0d ") == "a b\n\nc d"


def test_canonical_url_strips_tracking_and_normalises():
    a = canonical_url("http://WWW.Example.org:80/news/1/?utm_source=rss&b=2&a=1#frag")
    assert a == "https://example.org/news/1?a=1&b=2"
    assert canonical_url(a) == a
    assert article_id("https://example.org/news/1?a=1&b=2&fbclid=x", "f", None) == article_id(a, "other", "g")


def test_article_id_falls_back_to_guid_scoped_by_feed():
    assert article_id(None, "f1", "g") != article_id(None, "f2", "g")
    assert article_id("", "f1", "g") == article_id(None, "f1", "g")


def test_tokens_are_cached_for_news_sized_texts_only():
    from newswatch.pipeline import text as t

    t._tokens.cache_clear()
    news = "Delegates met in Geneva on Tuesday. " * 50
    first = t.tokens(news)
    first.append("changed by a caller")
    assert t.tokens(news)[-1] == "tuesday"  # a fresh list each time, the cached tokens untouched
    assert t._tokens.cache_info().hits == 1
    huge = "word " * (t._CACHE_MAX_CHARS // 5 + 10)
    assert len(t.tokens(huge)) == t._CACHE_MAX_CHARS // 5 + 10
    assert t._tokens.cache_info().currsize == 1  # the huge text was not kept


def test_long_text_in_another_script_folds_word_by_word_like_run_by_run():
    from newswatch.pipeline.text import _fold, _fold_run

    persian = ("سازمان مجاهدین خلق ایران در آلبانی نشست برگزار كرد و «شورای ملی مقاومت» گفت. " * 12
               + "Résistance at Auvers-sur-Oise, Straße; e\u0301 MEK 2024.")
    assert len(persian.encode()) - len(persian) > len(persian) // 5  # takes the word-by-word path
    assert _fold(persian) == _fold_run(persian)
    assert fold(persian) == fold(persian.upper())
    assert tokens(persian)[:3] == tokens("سازمان مجاهدین خلق")
