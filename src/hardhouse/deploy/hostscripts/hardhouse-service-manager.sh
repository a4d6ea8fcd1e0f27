#!/bin/sh
# hardhouse-service-manager: which service manager runs clickhouse-server, and whose
# defaults file is there; reads, never writes. The fact
# hardhouse.deploy.keys.ServiceManagerFact runs it as
#
#   sh -c TEXT hardhouse-service-manager DEFAULTS MARKER
#
#   DEFAULTS  the SysV defaults file (/etc/default/clickhouse-server)
#   MARKER    the first line of the defaults file hardhouse writes
#
# Prints two lines: "systemd" or "sysv" (lib/service-manager.sh: hardhouse-apply asks the
# same way); then "absent" (no DEFAULTS, not even a dangling link), "hardhouse" (a regular
# file, not a link, whose first line is MARKER) or "other".
# Environment: HARDHOUSE_SYSTEMD_DIR, systemd's runtime directory (tests).
# Exit status: 0.

SYSTEMD_DIR=${HARDHOUSE_SYSTEMD_DIR:-/run/systemd/system}
# shellcheck source-path=SCRIPTDIR source=lib/service-manager.sh
. "${0%/*}/lib/service-manager.sh"
if systemd_runs; then echo systemd; else echo sysv; fi
defaults=$1 marker=$2
if [ ! -e "$defaults" ] && [ ! -L "$defaults" ]; then
    echo absent
elif [ -f "$defaults" ] && [ ! -L "$defaults" ] && [ "$(head -c 200 "$defaults" | head -n 1)" = "$marker" ]; then
    echo hardhouse
else
    echo other
fi
