"""The controls' ids, typed. Each value is the id waivers, SARIF rule ids, rendered comments and
reports print: stable, never reused or renumbered. Code that names a control names it here
(`ControlId.PORT_2`), so a misspelt id is an AttributeError at import, not a rule that judges
nothing. A member compares and hashes equal to its string, so `BY_ID["HH-PORT-2"]` still works.

The members are listed in the order the README's control table, `hardhouse controls` and SARIF
show the controls: a new control goes at the end. Its family module
(hardhouse.controls.families) declares it once, with its severity."""

from __future__ import annotations

from enum import StrEnum


class ControlId(StrEnum):
    AUTH_1 = "HH-AUTH-1"
    AUTH_2 = "HH-AUTH-2"
    AUTH_3 = "HH-AUTH-3"
    NET_1 = "HH-NET-1"
    LISTEN_1 = "HH-LISTEN-1"
    PORT_1 = "HH-PORT-1"
    PORT_2 = "HH-PORT-2"
    PORT_3 = "HH-PORT-3"
    TLS_1 = "HH-TLS-1"
    TLS_2 = "HH-TLS-2"
    TLS_3 = "HH-TLS-3"
    DATA_1 = "HH-DATA-1"
    LEAK_1 = "HH-LEAK-1"
    LOG_1 = "HH-LOG-1"
    LOG_2 = "HH-LOG-2"
    QUOTA_1 = "HH-QUOTA-1"
    DRIFT_1 = "HH-DRIFT-1"
    CLUSTER_1 = "HH-CLUSTER-1"
    CLUSTER_2 = "HH-CLUSTER-2"
    ZK_1 = "HH-ZK-1"
    SET_1 = "HH-SET-1"
    LOG_3 = "HH-LOG-3"
    LOG_4 = "HH-LOG-4"
    LEAK_2 = "HH-LEAK-2"
    LIMIT_1 = "HH-LIMIT-1"
    HTTP_1 = "HH-HTTP-1"
    HTTP_2 = "HH-HTTP-2"
    EGRESS_1 = "HH-EGRESS-1"
    EGRESS_2 = "HH-EGRESS-2"
    FILES_1 = "HH-FILES-1"
    AUTH_4 = "HH-AUTH-4"
    DATA_2 = "HH-DATA-2"
    ZK_2 = "HH-ZK-2"
    ZK_3 = "HH-ZK-3"
    DATA_3 = "HH-DATA-3"
    DATA_4 = "HH-DATA-4"
