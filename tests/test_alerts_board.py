"""The alerts' parts of every page (the bell, a session's banner, the ticker) never make a page fail."""

from __future__ import annotations

import pytest

from relief_live.alerts import record
from tests.test_alerts_page import bell, stalled  # noqa: F401 (the fixture: a store with a stalled village)
from tests.test_pages import app, browser_cookie  # noqa: F401 (the fixture: one browser's cookie)


@pytest.mark.usefixtures("stalled")
def test_a_store_that_cannot_give_the_alerts_leaves_the_pages_working(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(record, "alerts", busy)
    monkeypatch.setattr(record, "record", busy)
    at = app()  # the Overview: no exception (app() checks), the bell says it does not know
    assert bell(at) == "Alerts · —"
    said = [c.value for c in at.sidebar.caption if "not evaluated" in c.value]
    assert len(said) == 1 and "the store is busy" in said[0] and "sqlite" not in said[0]
