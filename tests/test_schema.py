"""The alias table as data: near-miss headers get the alias they most likely misspell."""

from __future__ import annotations

import pytest

from relief_live import schema


@pytest.mark.parametrize(("kind", "header", "alias"), [
    ("sessions", "开播时问", "开播时间"),  # 间 typed as 问
    ("sessions", "开播 时问 (元)", "开播时间"),  # spaces and a unit suffix ignored, as when headers are mapped
    ("sessions", "START_TME", "start_time"),
    ("stock", "村明", "村名"),
    ("sales", "成交件", "成交件数"),  # a character left out
    ("sales", "实付金金额", "实付金额"),  # one too many
])
def test_a_near_miss_of_an_alias_gets_that_alias(kind: str, header: str, alias: str) -> None:
    assert schema.suggest_header(kind, header) == alias


@pytest.mark.parametrize(("kind", "header"), [
    ("sessions", "开播时间"),  # an alias already: nothing to suggest
    ("sales", "收件人地址"),  # near nothing
    ("sales", "商家备注"),  # two edits from 商家编码: too far for a short header
    ("sales", "村"),  # one character: any one-character alias would be one edit away
])
def test_a_header_that_is_an_alias_or_near_none_gets_no_suggestion(kind: str, header: str) -> None:
    assert schema.suggest_header(kind, header) is None


def test_a_suggestion_can_be_kept_to_the_columns_a_file_lacks() -> None:
    # 运单号 (a waybill number) is one edit from 订单号: offered only while the file has no order id.
    assert schema.suggest_header("sales", "运单号") == "订单号"
    assert schema.suggest_header("sales", "运单号", ["product", "quantity"]) is None


def test_a_header_as_near_to_two_columns_gets_no_suggestion() -> None:
    # 单值 is one edit from 单价 (unit_price) and from 单位 (unit): either could be meant.
    assert schema.suggest_header("sales", "单值") is None
