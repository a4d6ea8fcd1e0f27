#!/bin/sh
# hardhouse-config-tree: ClickHouse's configuration tree on this host as one sealed tar
# archive, for the audit over SSH; reads, never writes. The fact
# hardhouse.deploy.audit.ClickHouseConfigTree runs it as
#
#   sh -c TEXT hardhouse-config-tree DIR LIMIT DEPTH KEY
#
#   DIR    ClickHouse's configuration directory
#   LIMIT  bytes of archive that may leave the host (LIMIT + 1 are sent: too large is seen)
#   DEPTH  directory levels below DIR that are fetched
#   KEY    the archive key (masked in pyinfra's output; openssl reads it from its
#          environment, never from its own command line)
#
# Every .xml, .conf, .yaml or .yml file or link under DIR (TLS keys and certificates left out)
# goes into the archive, encrypted (openssl enc -aes-256-ctr, HH_KDF_ITERATIONS rounds of
# PBKDF2) and base64-encoded. Prints marked lines: "HH-ERROR WHY" alone when the tree cannot
# be fetched; else "HH-DATA BASE64", "HH-TAR STATUS" (tar's exit status), "HH-VERSION
# VERSION" (the clickhouse-server package's) and "HH-INCLUDE" with "absent", "unreadable" or
# /etc/metrika.xml sealed the same way (at most HH_INCLUDE_LIMIT + 1 bytes).
# Exit status: 0 for every outcome (pyinfra never prints a failed fact's output; the deploy
# machine judges what the host says, as untrusted text). Needs GNU find and tar.
set -u

# @hardhouse-contract-begin@
HH_KDF_ITERATIONS=
HH_INCLUDE_LIMIT=
# @hardhouse-contract-end@
dir=$1 limit=$2 depth=$3
say() { printf '%s\n' "$*"; }
for tool in find tar head openssl base64; do
    command -v "$tool" >/dev/null 2>&1 || { say "HH-ERROR $tool is not installed on the host"; exit 0; }
done
if ! { cd -- "$dir" 2>/dev/null && [ -r . ]; }; then say "HH-ERROR $dir is not a directory this user can read"; exit 0; fi
[ -f config.xml ] || { say "HH-ERROR $dir/config.xml does not exist"; exit 0; }
named() { find . -mindepth 1 -maxdepth "$depth" \( -iname '*.xml*' -o -iname '*.conf*' -o -iname '*.yaml*' \
    -o -iname '*.yml*' \) ! -iname '*.key' ! -iname '*.pem' ! -iname '*.p12' ! -iname '*.pfx' "$@" 2>/dev/null; }
seal() { HH_KEY=$1 openssl enc -aes-256-ctr -pbkdf2 -iter "$HH_KDF_ITERATIONS" -md sha256 -pass env:HH_KEY | base64 -w 0; }
unreadable=$( { find . -mindepth 1 -maxdepth "$depth" -type d \( ! -readable -o ! -executable \) -printf '%P ' \
    2>/dev/null; named -type f ! -readable -printf '%P '; } | head -c 300)
[ -z "$unreadable" ] || { say "HH-ERROR not readable by this user: $unreadable"; exit 0; }
exec 4>&1
printf 'HH-DATA '
rc=$( { { named \( -type f -o -type l \) -printf '%P\0' \
        | tar --null --no-recursion --hard-dereference -T - -cf - 2>/dev/null; echo "$?" >&3; } \
    | head -c "$((limit + 1))" | seal "$4" >&4; } 3>&1 )
exec 4>&-
printf '\nHH-TAR %s\n' "$rc"
# What the server's reading depends on beyond the tree: its version, and /etc/metrika.xml, which
# ClickHouse includes from when include_from is not set (it may hold secrets: sealed too).
say "HH-VERSION $(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null | head -c 100 | tr -cd '[:alnum:].:+~-')"
if [ ! -e /etc/metrika.xml ] && [ ! -L /etc/metrika.xml ]; then
    say "HH-INCLUDE absent"
elif [ -f /etc/metrika.xml ] && [ -r /etc/metrika.xml ]; then
    printf 'HH-INCLUDE '; head -c "$((HH_INCLUDE_LIMIT + 1))" /etc/metrika.xml | seal "$4"; printf '\n'
else
    say "HH-INCLUDE unreadable"
fi
