"""Device-card loading and validation."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from physnn.cards import CardError, list_cards, load_card, parse_card

BASE = """
[card]
name = "x"
kind = "rram"
description = "test card"
source = "made up for a test"

[conductance]
source = "test"
g_min = { value = 1.0, units = "uS" }
g_max = { value = 100.0, units = "uS" }
levels = { value = 32, units = "1" }

[sources]
test = "made up for a test"
"""


def test_shipped_cards_all_validate():
    names = list_cards()
    assert "pcm_aihwkit" in names
    for name in names:
        card = load_card(name)
        assert card.name == name
        g = card["conductance"]
        assert 0 <= g["g_min"] < g["g_max"]


def test_pcm_card_matches_aihwkit_numbers():
    card = load_card("pcm_aihwkit")
    # aihwkit 1.1.0 PCMLikeNoiseModel defaults, in SI
    assert card["conductance"]["g_max"] == 25e-6
    assert card["programming_noise"]["coefficients"] == (0.26348e-6, 1.9650e-6, -1.1731e-6)
    assert card["drift"]["t0"] == 20.0
    assert card["read_noise"]["t_read"] == 250e-9


def test_prefixed_units_convert_to_si():
    card = parse_card(BASE)
    assert card["conductance"]["g_min"] == 1e-6
    assert card["conductance"]["levels"] == 32
    assert card.quantity("conductance", "g_max").units == "S"


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (("g_max = { value", "g_mx = { value"), "[conductance].g_mx: unknown key"),
        (('units = "uS" }\ng_max', 'unit = "uS" }\ng_max'), "unknown key(s) ['unit']"),
        (('value = 1.0, units = "uS"', 'value = 1.0, units = "uF"'), "cannot be converted to 'S'"),
        (("value = 1.0,", "value = -1.0,"), "out of physical range"),
        (('kind = "rram"', 'kind = "memristorish"'), "is not one of"),
        (("value = 100.0", "value = 0.5"), "g_min=1e-06 S must be < g_max"),
        (("[conductance]", "[conductanse]"), "unknown section"),
        (('source = "test"\n', ""), "missing 'source'"),
    ],
)
def test_bad_cards_name_the_field(edit, fragment):
    old, new = edit
    assert old in BASE
    with pytest.raises(CardError) as info:
        parse_card(BASE.replace(old, new, 1), path="x.toml")
    assert fragment in str(info.value)
    assert "x.toml:" in str(info.value)


def test_error_carries_line_number():
    text = BASE.replace("g_max = { value", "g_mx = { value")
    with pytest.raises(CardError, match=r"x\.toml:11: \[conductance\]\.g_mx"):
        parse_card(text, path="x.toml")


def test_name_must_match_file(tmp_path):
    p = tmp_path / "other.toml"
    p.write_text(BASE)
    with pytest.raises(CardError, match="must equal the file name") as info:
        load_card(p)
    # the error says what to change: either the name or the file
    assert 'set name = "other" in [card]' in str(info.value)
    assert "rename the file to x.toml" in str(info.value)


def test_copied_card_loads_after_renaming(tmp_path):
    """The documented way to add a variant of a card: copy it, then set [card].name to the new stem."""
    src = load_card("pcm_aihwkit").path.read_text(encoding="utf-8")
    p = tmp_path / "pcm_mine.toml"
    p.write_text(src.replace('name = "pcm_aihwkit"', 'name = "pcm_mine"', 1))
    card = load_card(p)
    assert card.name == "pcm_mine"
    assert card["conductance"]["g_max"] == load_card("pcm_aihwkit")["conductance"]["g_max"]


@pytest.mark.parametrize("where", ["quantity", "section"])
def test_unknown_source_reference_is_an_error(where):
    """A bare reference key that names no [sources] entry is a typo, not a citation."""
    if where == "quantity":
        text = BASE.replace(
            'g_max = { value = 100.0, units = "uS" }', 'g_max = { value = 100.0, units = "uS", source = "nosuchref" }'
        )
        expect = r"x\.toml:\d+: \[conductance\]\.g_max: source 'nosuchref' names no entry of \[sources\]"
    else:
        text = BASE.replace('source = "test"', 'source = "nosuchref"')
        expect = r"\[conductance\]\.source: source 'nosuchref' names no entry of \[sources\] \(known: \['test'\]\)"
    with pytest.raises(CardError, match=expect):
        parse_card(text, path="x.toml")


def test_source_reference_resolves_and_free_text_is_kept():
    card = parse_card(
        BASE.replace(
            'g_max = { value = 100.0, units = "uS" }',
            'g_max = { value = 100.0, units = "uS", source = "Doe et al., J. Test 1, 2 (2020)" }',
        )
    )
    assert card.quantity("conductance", "g_min").source == "made up for a test"
    assert card.quantity("conductance", "g_max").source == "Doe et al., J. Test 1, 2 (2020)"


def test_user_card_on_search_path(tmp_path, monkeypatch):
    (tmp_path / "x.toml").write_text(BASE)
    monkeypatch.setenv("PHYSNN_DEVICE_PATH", str(tmp_path))
    assert "x" in list_cards()
    assert load_card("x")["conductance"]["g_max"] == 100e-6


def test_unknown_card_lists_known():
    with pytest.raises(CardError, match="known cards"):
        load_card("no_such_card")


@given(st.floats(min_value=1e-9, max_value=1e-3), st.floats(min_value=1.01, max_value=1e3))
def test_any_valid_range_round_trips(g_min, ratio):
    text = BASE.replace('value = 1.0, units = "uS"', f'value = {g_min!r}, units = "S"').replace(
        'value = 100.0, units = "uS"', f'value = {g_min * ratio!r}, units = "S"'
    )
    card = parse_card(text)
    assert card["conductance"]["g_min"] == g_min
    assert card["conductance"]["g_max"] == pytest.approx(g_min * ratio)
