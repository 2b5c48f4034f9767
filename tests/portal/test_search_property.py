"""Property tests of the portal's search (plain function, no database): a title found with
its diacritics is found without them and in any case; any query string is answered, never
an error; facet filters only ever narrow."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opendata.ckan_search import fold
from portal.queries import Summary, search

VI_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
word = st.text(alphabet=VI_LETTERS, min_size=2, max_size=8)
title = st.lists(word, min_size=1, max_size=5).map(" ".join)


def item(i: int, text: str, fmt: str) -> Summary:
    return Summary(id=f"d{i}", title=text, description="", owner="A", owner_slug="a", theme="SOCI",
                   theme_title="Dân số", licence="CC-BY-4.0", frequency="daily", open_data=True,
                   formats=[fmt], quality_score=99.0, last_publish=None, max_age_days=None,
                   keywords=[], haystack=fold(text), title_folded=fold(text))


@settings(max_examples=150, deadline=None)
@given(st.lists(title, min_size=1, max_size=8), st.data())
def test_with_and_without_diacritics_and_case_find_the_same(titles: list[str], data) -> None:  # type: ignore[no-untyped-def]
    items = [item(i, t, "csv" if i % 2 else "json") for i, t in enumerate(titles)]
    chosen = data.draw(st.sampled_from(items))
    ids = [s.id for s in search(None, "vi", q=chosen.title, items=items, per_page=100).results]  # type: ignore[arg-type]
    assert chosen.id in ids
    for variant in (fold(chosen.title), chosen.title.upper(), fold(chosen.title).upper()):
        again = [s.id for s in search(None, "vi", q=variant, items=items, per_page=100).results]  # type: ignore[arg-type]
        assert again == ids, variant


@settings(max_examples=150, deadline=None)
@given(st.lists(title, min_size=1, max_size=8), st.text(max_size=40),
       st.sampled_from(["relevance", "title", "modified", "quality", "bogus"]))
def test_any_query_is_answered_and_a_facet_only_narrows(titles: list[str], q: str, sort: str) -> None:
    items = [item(i, t, "csv" if i % 2 else "json") for i, t in enumerate(titles)]
    everything = search(None, "vi", q=q, sort=sort, items=items, per_page=100)  # type: ignore[arg-type]
    narrowed = search(None, "vi", q=q, sort=sort, filters={"format": ["csv"]}, items=items,  # type: ignore[arg-type]
                      per_page=100)
    assert {s.id for s in narrowed.results} <= {s.id for s in everything.results}
    assert all("csv" in s.formats for s in narrowed.results)
    csv_count = next((f.count for f in everything.facets["format"] if f.value == "csv"), 0)
    assert csv_count == narrowed.count
