"""clickhouse_driver as hardhouse imports it (hardhouse.clickhouse.driver): its date lookup table
is built when each date is first met, not ahead for 400 years, and the dates are the same."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, os
from datetime import date, timedelta
import hardhouse.clickhouse.driver
from clickhouse_driver.columns import datecolumn
built_ahead = len(datecolumn._date_lut)
days = [-25567, -1, 0, 19782, 65535, 120529]  # 1900-01-01 .. 2299-12-31, with 2024-02-29
print(json.dumps({
    "option": os.environ.get("CLICKHOUSE_DRIVER_LASY_DATE_LUT"),
    "built_ahead": built_ahead,
    "dates": [datecolumn._date_lut[d].isoformat() for d in days],
    "back": [datecolumn._date_lut_reverse[date(1970, 1, 1) + timedelta(days=d)] for d in days],
}))
"""
DAYS = [-25567, -1, 0, 19782, 65535, 120529]


def probe(env: dict[str, str] | None = None) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def test_the_driver_builds_no_400_year_table_and_reads_the_same_dates() -> None:
    found = probe({"PATH": "/usr/bin:/bin"})
    assert found["option"] == "1970-01-01:1970-01-01"
    assert found["built_ahead"] <= 1  # 146,000 dates both ways without the option
    assert found["dates"] == ["1900-01-01", "1969-12-31", "1970-01-01", "2024-02-29", "2149-06-06", "2299-12-31"]
    assert found["back"] == DAYS


def test_a_range_the_user_set_is_kept() -> None:
    found = probe({"PATH": "/usr/bin:/bin", "CLICKHOUSE_DRIVER_LASY_DATE_LUT": "2024-01-01:2024-12-31"})
    assert found["option"] == "2024-01-01:2024-12-31"
    assert found["built_ahead"] == 366
