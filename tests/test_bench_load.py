"""`make bench`'s load table (bench/LOAD.md): every crowd size is written, also one the server did not keep up with."""

from __future__ import annotations

from bench.load import table_row


def crowd(viewers: int, **figures: object) -> dict:
    """A run_load result (errors counted, as bench/load.py keeps them)."""
    return {"viewers": viewers, "pages_loaded": viewers, "errors": 0, "browser_errors": 0, "refreshes_min": 8,
            "refreshes_median": 8.0, "gap_median": 5.127, "gap_p95": 6.114, "first_page_median": 2.94,
            "first_page_max": 2.96, "browser_updates": 9, "server_cpu_share": 0.612, "server_peak_mb": 293} | figures


def test_a_crowd_that_kept_its_refresh_is_one_row_of_figures() -> None:
    assert table_row(crowd(50)) == "| 50 | 50 | 0 | 8 / 8 | 5.13 / 6.11 | 2.9 / 3.0 | 9 | 61% | 293 |"


def test_a_crowd_that_got_no_refresh_at_all_is_written_with_dashes_for_its_intervals() -> None:
    """200 viewers on two busy cores: pages loaded, no refresh came in 45 s, so there is no interval to time
    (the run wrote load.json, then stopped on formatting None before LOAD.md)."""
    row = table_row(crowd(200, refreshes_min=0, refreshes_median=0.0, gap_median=None, gap_p95=None,
                          first_page_median=12.27, first_page_max=12.75, browser_updates=2, server_cpu_share=1.071,
                          server_peak_mb=383))
    assert row == "| 200 | 200 | 0 | 0 / 0 | — / — | 12.3 / 12.8 | 2 | 107% | 383 |"
