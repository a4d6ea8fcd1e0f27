#!/bin/bash
# hardhouse-snapshot: everything a deploy run compares on this host, and the host's
# fingerprint, in one command; reads, never writes. The fact hardhouse.deploy.snapshot.HostSnapshot
# runs it as
#
#   bash -c TEXT hardhouse-snapshot KEY SALT STAMP CONTEXT PATH... --globs GLOB... \
#       --packages PACKAGE... --scope SCOPE...
#
#   KEY      the digest key of lib/paths-report.sh (masked in pyinfra's output)
#   SALT     the fingerprint's salt (masked), or "" for none: a run that trusts no stamp
#            needs no fingerprint, and nothing of state() below is read (no FP, STAMP or SAME)
#   STAMP    the verified-state stamp's path, or "" for none
#   CONTEXT  the context id a stamp must name for SAME (masked; "-" never matches)
#   PATH     paths to report on (lib/paths-report.sh); GLOB patterns expanded here
#   PACKAGE  Debian packages whose installed versions are reported and fingerprinted
#   SCOPE    paths fingerprinted (at most HH_FIND_DEPTH levels down, each pass bounded by
#            HH_FIND_SECONDS); an absent one is fingerprinted as absent
#
# Prints, in this order: "P NAME VERSION" for each installed PACKAGE; RUNNING when a server
# process (HH_SERVER_PROCESSES) runs; with a SALT, "FP FINGERPRINT" (64 hex digits: SHA-256
# over SALT and what the host's state is, see state() below) and "STAMP LINE" when STAMP
# exists; then either SAME (the stamp names FINGERPRINT and CONTEXT: nothing more is read) or
# the paths report and "G PATH" for each existing path a glob matches.
# Exit status: 0, whatever it finds.
#
# The fingerprint is what every verified-state stamp in the field was made over: a change to
# what state() prints (not to this script's text, which is hashed nowhere) makes every stamp
# one that no longer holds, and each host is proven in full once more.
set -u

# @hardhouse-contract-begin@
HH_SERVER_PROCESSES=()
HH_FIND_DEPTH=
HH_FIND_SECONDS=
# @hardhouse-contract-end@
# shellcheck source-path=SCRIPTDIR source=lib/paths-report.sh
. "${0%/*}/lib/paths-report.sh"
key=$1; salt=$2; stamp=$3; context=$4; shift 4
mode=paths; paths=(); globs=(); scope=(); present=(); packages=()
for arg do
    case $arg in --globs|--packages|--scope) mode=$arg; continue ;; esac
    case $mode in
    paths) paths+=("$arg") ;;
    --globs) globs+=("$arg") ;;
    --packages) packages+=("$arg") ;;
    --scope) [ -e "$arg" ] && { scope+=("$arg"); present+=("$arg"); } || scope+=("") ;;
    esac
done
installed=
if [ ${#packages[@]} -gt 0 ]; then
    installed=$(dpkg-query -W -f='${Status} ${Package} ${Version}\n' "${packages[@]}" 2>/dev/null \
        | awk '$3 == "installed" {print "P", $4, $5}')
    [ -z "$installed" ] || printf '%s\n' "$installed"
fi
pids=$(pidof "${HH_SERVER_PROCESSES[@]}" 2>/dev/null) && echo RUNNING
state() {
    local pid fields -
    set -o pipefail  # (local to this function) a pass that timed out or failed says so below
    printf 'scope %s\n' "${scope[@]}"  # an absent path is named empty: its appearing changes this
    printf '%s\n' "$installed"  # package versions
    if [ ${#present[@]} -gt 0 ]; then
        # Every path as it is (a link with its target), then as the server reads it, through
        # symbolic links (what a link leads to, files under a linked directory), with the
        # contents of the regular files found that way. Bounded in time: a link to something
        # endless (a file in /proc) makes the fingerprint one no stamp holds, never a hang.
        timeout "$HH_FIND_SECONDS" find "${present[@]}" -xdev -maxdepth "$HH_FIND_DEPTH" -printf '%y %U:%G:%m %p %l\n' 2>&1 \
            | LC_ALL=C sort || echo "incomplete listing"
        timeout "$HH_FIND_SECONDS" find -L "${present[@]}" -xdev -maxdepth "$HH_FIND_DEPTH" -printf '%Y %U:%G:%m %p\n' \
            \( -type f -exec sha256sum {} + \) 2>&1 | LC_ALL=C sort || echo "incomplete reading through links"
    fi
    for pid in ${pids:-}; do
        read -r -a fields < "/proc/$pid/stat"
        printf 'process %s %s ' "$pid" "${fields[21]}"  # a restart (an upgrade's too) changes these
        tr '\0' ' ' < "/proc/$pid/cmdline"; echo
    done
    awk 'FNR > 1 && $4 == "0A" {print "listen", $2}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | LC_ALL=C sort -u
}
if [ -n "$salt" ]; then
    fp=$({ printf '%s\n' "$salt"; state; } | sha256sum | cut -c1-64)
    printf 'FP %s\n' "$fp"
    if [ -n "$stamp" ] && [ -f "$stamp" ]; then
        line=$(head -c 300 "$stamp" | head -n 1 | tr -cd 'v0-9a-f ')
        printf 'STAMP %s\n' "$line"
        case $line in "v1 "*" $fp $context "*) echo SAME; exit 0 ;; esac
    fi
fi
paths_report "$key" "${paths[@]}"
for arg in "${globs[@]}"; do
    for p in $arg; do [ -e "$p" ] && printf 'G %s\n' "$p"; done
done
true
