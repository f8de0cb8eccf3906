"""split_marks: the plain snippet and the offsets of its marked words."""

from newswatch.pipeline.highlight import MARK_END, MARK_START, split_marks


def test_plain_text_and_offsets_survive_brackets_in_the_article():
    marked = f"a [note] on {MARK_START}water{MARK_END} and {MARK_START}dams{MARK_END}."
    text, spans = split_marks(marked)
    assert text == "a [note] on water and dams."
    assert [text[a:b] for a, b in spans] == ["water", "dams"]
    assert split_marks("") == ("", [])
