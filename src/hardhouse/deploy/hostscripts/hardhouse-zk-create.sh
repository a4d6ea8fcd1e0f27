#!/bin/bash
# hardhouse-zk-create: create one of ClickHouse's root znodes with its ACL
# (hardhouse.deploy.zookeeper.zookeeper_roots).
#
#   bash -c TEXT hardhouse-zk-create ADDRESS:PORT ROOT ACL
#
#   ACL  digest:USER:BASE64(SHA1(USER:PASSWORD)):cdrwa (masked in pyinfra's output; the
#        password itself never reaches the host)
#
# A root that exists by now was created meanwhile, by a ClickHouse replica that went live and
# connected first (pyinfra runs the hosts' steps side by side): not a failure; the deploy reads
# its ACL again after every create. Prints the last lines of zkCli.sh's answer, or that ROOT
# exists already.
# Exit status: zkCli.sh's (0 created), 0 when ROOT exists already.

# shellcheck source-path=SCRIPTDIR source=lib/zookeeper.sh
. "${0%/*}/lib/zookeeper.sh"
out=$(zk_cli "$1" create "$2" '' "$3" 2>&1)
rc=$?
case $out in
    *"Node already exists: $2"*) echo "$2 exists already (created meanwhile); its ACL is read next"; exit 0 ;;
esac
printf '%s\n' "$out" | tail -n 20
exit "$rc"
