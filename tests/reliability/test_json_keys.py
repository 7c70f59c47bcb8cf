"""Every JSON key either works in filters on both stores or is refused naming it (never a driver
error, never a silent empty result)."""

from __future__ import annotations

import pytest

import flowprov as ln

ODD_KEYS = ["größe", "a%b", "a{b}", "{x}", "a,b", "", "a\\b", "a'b", "a.b", "with space", "日本", "a:b", "100%"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_match_exactly_the_run_that_has_them(store, key):
    transform = ln.Transform(name="odd keys", type="script").save()
    wanted = ln.Run(transform, name="has it")
    wanted.params.add_values({key: 5, "label": f"{key}!"})
    wanted.save()
    other = ln.Run(transform, name="other")
    other.params.add_values({key: 6, "unrelated": 5})
    other.save()
    assert [r.name for r in ln.Run.filter(**{f"params__{key}": 5})] == ["has it"]
    assert [r.name for r in ln.Run.filter(**{f"params__{key}__gt": 5})] == ["other"]
    assert ln.Run.filter(**{f"params__{key}__isnull": False}).count() == 2
    assert [r.name for r in ln.Run.filter(params__label=f"{key}!")] == ["has it"]


@pytest.mark.parametrize("key", ['a"b', "nul\x00byte"])
def test_keys_no_store_can_filter_on_are_refused_naming_them(store, key):
    with pytest.raises(ln.ValidationError, match="cannot be filtered on"):
        ln.Run.filter(**{f"params__{key}": 1}).count()


def test_non_ascii_values_are_stored_as_written(store):
    transform = ln.Transform(name="unicode", type="script").save()
    run = ln.Run(transform, name="ü")
    run.params.add_values({"city": "Zürich"})
    run.save()
    assert [r.name for r in ln.Run.filter(params__city="Zürich")] == ["ü"]
    assert [r.name for r in ln.Run.filter(params__city__startswith="Zü")] == ["ü"]
