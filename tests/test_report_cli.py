"""`report` on the demo store: the JSON validates against the schema kept in the tests, with the demo's facts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from relief_live.__main__ import main
from relief_live.demo import DEMO_DIR, ZHAOTONG

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(__file__).parent / "report_schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report')}/demo.sqlite3"
    result = subprocess.run([sys.executable, "-m", "relief_live", "demo", "--db", url], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"demo programme loaded: {len(list(DEMO_DIR.iterdir()))} files" in result.stdout
    return url


def test_report_json_on_the_demo_store_validates_and_holds_the_demo(demo_db: str, capsys) -> None:
    assert main(["report", "--db", demo_db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    assert report["totals"]["sessions"] == len(report["sessions"]) == 34
    assert report["totals"]["gmv"] == pytest.approx(sum(s["gmv"] for s in report["sessions"]))
    [pork] = [s for s in report["sessions"] if s["session_id"] == ZHAOTONG]
    assert (pork["gmv"], pork["host_kind"], pork["platform"]) == (270000.0, "cadre", "pinduoduo")
    assert pork["started_at"] == "2020-12-12T19:00:00+08:00"
    [zhaotong] = [v for v in report["villages"] if v["product"] == "昭通腊肉"]
    assert zhaotong["unit"] == "斤" and zhaotong["sold_qty"] >= 4000
    assert report["unconvertible"]["rows"] == 2
    assert report["unattributed"]["rows"] > 0
    kinds = {k["host_kind"]: k for k in report["host_kinds"]}
    assert set(kinds) == {"broadcast", "cadre"}
    assert kinds["broadcast"]["sessions"] + kinds["cadre"]["sessions"] == 34


def test_report_table_on_the_demo_store(demo_db: str, capsys) -> None:
    assert main(["report", "--db", demo_db]) == 0
    out = capsys.readouterr().out
    for title in ("Sessions", "Host kinds", "Villages", "Totals"):
        assert f"\n{title}\n" in f"\n{out}"
    assert "区长县长同台带货" in out and "270,000.00" in out
