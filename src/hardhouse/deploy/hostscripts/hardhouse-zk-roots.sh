#!/bin/bash
# hardhouse-zk-roots: what an anonymous client sees of each of ClickHouse's root znodes;
# reads, never writes. The fact hardhouse.deploy.zookeeper.ZooKeeperRootsFact runs it as
#
#   bash -c TEXT hardhouse-zk-roots ADDRESS PORT ROOT...
#
# Prints NO-CLIENT alone when Debian's zkCli.sh is not installed; else for each ROOT "ROOT
# /path" and then MISSING, CLOSED (its ACL refused to an anonymous client), or zkCli.sh's ACL
# lines ("'scheme,'id" and ": perms"), a digest cut to its user; nothing after "ROOT /path"
# when zkCli.sh gave no answer.
# Exit status: 0.
set -u

# shellcheck source-path=SCRIPTDIR source=lib/zookeeper.sh
. "${0%/*}/lib/zookeeper.sh"
address=$1 port=$2; shift 2
if [ ! -x "$HH_ZK_CLI" ]; then echo NO-CLIENT; exit 0; fi
for root do
    echo "ROOT $root"
    out=$(zk_cli "$address:$port" getAcl "$root" 2>&1 | tail -c 8000)
    case $out in
        *"Node does not exist: $root"*) echo MISSING ;;
        *"Insufficient permission : $root"*) echo CLOSED ;;
        *) printf '%s\n' "$out" | grep -E "^('|: )" | head -n 40 | sed "s/^'digest,'\([^:]*\):.*/'digest,'\1:*/" ;;
    esac
done
