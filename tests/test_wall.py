"""The wall screen's HTML: the rolling GMV counter's markup, the alert line, the styles the page keeps."""

from __future__ import annotations

import re

import pytest

from relief_live import i18n, waiting, wall


def inner_style(markup: str) -> str:
    return markup.split("<style>", 1)[1].split("</style>", 1)[0]


@pytest.mark.parametrize("markup", [wall._STYLE, waiting.notice_html("zh")])
def test_no_style_of_ours_is_dropped_by_the_page_sanitiser(markup: str) -> None:
    # Regression: '<integer>' in an @property rule made st.html's sanitiser drop the whole wall style (a white wall).
    assert not re.search(r"<[/\w!]", inner_style(markup))


@pytest.mark.parametrize(("text", "figure"), [
    ("98,765 元", (98_765, 0, "元")), ("12.3 万元", (123, 1, "万元")), ("1,234 万元", (1_234, 0, "万元")),
    ("0 yuan", (0, 0, "yuan")), ("—", None)])
def test_a_figure_is_read_from_money_text(text: str, figure: tuple[int, int, str] | None) -> None:
    assert wall._figure(text) == figure


def test_the_counter_rolls_between_two_figures_of_one_unit_and_ends_on_money_text() -> None:
    markup = wall.counter_html(99_000, 1_234_500, "zh")  # 990 元 -> 12,345 元
    assert '<span class="wall-gmv-text">12,345 元</span>' in markup
    assert "--from: 990; --to: 12345;" in markup and "wall-gmv-rolling" in markup
    # five digits, the four above the units left out while they would be leading zeros, one separator, the unit
    assert markup.count("wall-roll-digit") == 5 and markup.count("--lead: 1") == 4
    assert markup.count("wall-roll-comma") == 1 and 'data-text=" 元"' in markup
    whole = wall.counter_html(2_500_000_000, 2_600_000_000, "zh")  # 2,500 万元 -> 2,600 万元
    assert "--from: 2500; --to: 2600;" in whole and '<span class="wall-gmv-text">2,600 万元</span>' in whole
    tenths = wall.counter_html(250_000_000, 260_000_000, "zh")  # 250.0 万元 -> 260.0 万元
    assert "--from: 2500; --to: 2600;" in tenths and 'data-text="."' in tenths


@pytest.mark.parametrize(("before", "after"), [(None, 500_00), (500_00, 500_00), (99_000_00, 123_450_00)])
def test_the_counter_is_shown_still_for_a_first_an_unchanged_or_a_new_unit_figure(before: int | None,
                                                                                   after: int) -> None:
    markup = wall.counter_html(before, after, "zh")
    assert markup == f'<div class="wall-gmv"><span class="wall-gmv-text">{i18n.money(after, "zh")}</span></div>'


def test_the_alert_line_is_text_and_scrolls_longer_the_longer_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(wall.st, "html", shown.append)
    wall.ticker("<b>火卖村</b> · " + "很长" * 60)
    assert "&lt;b&gt;火卖村&lt;/b&gt;" in shown[0] and "<b>" not in shown[0]
    assert "--ticker: 33s" in shown[0]  # 133 characters at 4 a second
