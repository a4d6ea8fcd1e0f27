"""clickhouse_driver, imported the one way hardhouse imports it (late: only what logs in needs it).

The driver builds a date lookup table at import, every day from 1900 to 2299 both ways (146,000
dates, 0.25 s of CPU on the 2-core bench machine: a quarter of a deploy helper's start), unless
its option CLICKHOUSE_DRIVER_LASY_DATE_LUT (spelled so) names the range to build ahead; any
other date is then computed when first met, with the same arithmetic. hardhouse reads a few
dates at most, so it builds one ahead. A value the user set is kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("CLICKHOUSE_DRIVER_LASY_DATE_LUT", "1970-01-01:1970-01-01")

from clickhouse_driver import Client, errors  # noqa: E402 (after the option it reads at import)
from clickhouse_driver.errors import Error as DriverError  # noqa: E402
from clickhouse_driver.errors import ServerException  # noqa: E402

__all__ = ["Client", "DriverError", "ServerException", "errors"]
