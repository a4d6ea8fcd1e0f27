#!/bin/bash
# hardhouse-files: owner, mode and keyed digest of some paths, the files some globs match, and
# whether ClickHouse's server runs; reads, never writes. The fact
# hardhouse.deploy.facts.HardhouseFiles runs it as
#
#   bash -c TEXT hardhouse-files KEY PATH... [--globs GLOB...]
#
#   KEY   the digest key (random per deploy run; pyinfra shows it masked)
#   PATH  a path to report on; GLOB a pattern expanded here, on the host
#
# Prints "G PATH" for each existing path a glob matches, then one line per PATH (lib/
# paths-report.sh: F, D or M), then RUNNING when a process named in HH_SERVER_PROCESSES runs.
# Exit status: 0, whatever it finds.

# @hardhouse-contract-begin@
HH_SERVER_PROCESSES=()
# @hardhouse-contract-end@
# shellcheck source-path=SCRIPTDIR source=lib/paths-report.sh
. "${0%/*}/lib/paths-report.sh"
key=$1; shift; globs=no; paths=()
for arg do
    if [ "$arg" = --globs ]; then globs=yes; continue; fi
    if [ "$globs" = yes ]; then
        for p in $arg; do [ -e "$p" ] && printf 'G %s\n' "$p"; done
    else
        paths+=("$arg")
    fi
done
paths_report "$key" "${paths[@]}"
if pidof "${HH_SERVER_PROCESSES[@]}" >/dev/null 2>&1; then echo RUNNING; fi
true
