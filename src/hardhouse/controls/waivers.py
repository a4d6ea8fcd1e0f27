"""Waivers: a team's signed-off exception to a control, with a reason and an expiry date.

A waived failure is reported as waived (never as passed) and does not fail the run until the
waiver expires; an expired waiver is reported beside the failure it no longer covers. Read
from a YAML file (`--waivers FILE`) with the spec's bounded reader:

    waivers:
      - control: HH-PORT-1
        reason: the BI tool speaks only plaintext HTTP until it is replaced (TICKET-123)
        expires: 2027-03-31
        targets: ["10.0.0.5"]     # optional: hosts or trees it covers; all when absent
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hardhouse.controls.catalog import BY_ID
from hardhouse.spec.errors import Problem, SpecError, excerpt, field_path
from hardhouse.spec.fields import has_control_character
from hardhouse.spec.source import decode_spec, parse_spec_text, read_spec_bytes

MAX_WAIVERS = 500
Line = Annotated[str, Field(min_length=1, max_length=500)]


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str
    reason: Line
    expires: dt.date
    targets: tuple[Line, ...] | None = None

    @field_validator("control")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BY_ID:
            raise ValueError(f"unknown control {excerpt(value)}; the catalog's ids are {', '.join(BY_ID)}")
        return value

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str) -> str:
        if has_control_character(value):
            raise ValueError("control characters are not allowed; write the reason on one line")
        return value

    def covers(self, control: str, names: tuple[str, ...]) -> bool:
        """Covers this control at a target known by any of `names` (a host, host:port, a tree)."""
        return self.control == control and (self.targets is None or any(name in self.targets for name in names))

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    waivers: list[Waiver] = Field(max_length=MAX_WAIVERS)


@dataclass(frozen=True)
class Verdict:
    """What a waiver does to one failed control at one target."""

    waiver: Waiver | None  # the waiver that applies, expired or not
    waived: bool  # a live waiver covers the failure

    def as_dict(self) -> dict[str, Any] | None:
        if self.waiver is None:
            return None
        return {
            "reason": self.waiver.reason,
            "expires": self.waiver.expires.isoformat(),
            "expired": not self.waived,
        }


def judge(waivers: list[Waiver], control: str, target: str | tuple[str, ...], today: dt.date | None = None) -> Verdict:
    """The live waiver covering this control at this target, else the most recently expired one."""
    today = today or dt.date.today()
    names = (target,) if isinstance(target, str) else target
    matching = sorted((w for w in waivers if w.covers(control, names)), key=lambda w: w.expires, reverse=True)
    if not matching:
        return Verdict(None, False)
    return Verdict(matching[0], not matching[0].expired(today))


def load_waivers(path: str | Path, option: str = "--waivers") -> list[Waiver]:
    """Read and validate a waivers file; every failure is a SpecError naming the entry and field
    (`option`: where the path was given, for the fix)."""
    data = parse_spec_text(decode_spec(read_spec_bytes(path, "waivers file", option), path, "waivers file"), path)
    try:
        return WaiverFile.model_validate(data).waivers
    except ValidationError as error:
        raise SpecError(_problems(error)) from None


def parse_waivers(entries: Any) -> list[Waiver]:
    """Validate waivers given as data (a list of mappings, e.g. the deploy's hardhouse_waivers);
    every failure is a SpecError whose path starts with waivers[INDEX]."""
    try:
        return WaiverFile.model_validate({"waivers": entries}).waivers
    except ValidationError as error:
        raise SpecError(_problems(error)) from None


def _problems(error: ValidationError) -> list[Problem]:
    return [
        Problem(
            field_path(item["loc"]),
            item["msg"].removeprefix("Value error, "),
            "each waiver has control (a catalog id), reason, expires (YYYY-MM-DD) and optional targets",
        )
        for item in error.errors()[:20]
    ]
