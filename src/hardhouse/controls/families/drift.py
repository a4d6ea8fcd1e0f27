"""The running server still matches its spec: nothing merged after hardhouse's files, and no
hand edit, undoes a control."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.DRIFT_1,
        "The server runs what its spec renders",
        Severity.HIGH,
        "A file merged after hardhouse's (a debug override, a package's or an image's own file) or "
        "a hand edit silently undoes a control; the audit compares the merged configuration "
        "with the spec and names the file that changed it.",
        (f"{DOCS}/operations/configuration-files",),
        (),
    ),
)
