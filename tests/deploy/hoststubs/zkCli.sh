#!/bin/sh
# Stand-in for Debian's zkCli.sh: -server ADDRESS:PORT getAcl ROOT | create ROOT DATA ACL.
# A root exists when $HH_STUB_DIR/znodes/NAME does; its content is what getAcl prints, or
# "closed" for a root whose ACL an anonymous client may not read. Each call and its
# CLIENT_JVMFLAGS are recorded in $HH_STUB_DIR/calls.
echo "zkCli.sh $* [${CLIENT_JVMFLAGS:-}]" >>"$HH_STUB_DIR/calls"
[ -e "$HH_STUB_DIR/zk-hangs" ] && exec sleep 600
node=$HH_STUB_DIR/znodes/$(basename -- "$4")
case $3 in
    getAcl)
        if [ ! -e "$node" ]; then
            echo "Node does not exist: $4"
        elif [ "$(cat "$node")" = closed ]; then
            echo "Insufficient permission : $4"
        else
            cat "$node"
        fi
        ;;
    create)
        if [ -e "$node" ]; then
            echo "Node already exists: $4"
            exit 1
        fi
        mkdir -p "$HH_STUB_DIR/znodes" && echo closed >"$node" && echo "Created $4"
        ;;
    *) echo "zkCli.sh stub: unknown command $3" >&2; exit 1 ;;
esac
