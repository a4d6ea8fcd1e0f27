#!/bin/sh
# hardhouse-stamp: write the verified-state stamp (hardhouse.deploy.snapshot.record_verified).
#
#   sh -c TEXT hardhouse-stamp PATH LINE
#
# Writes LINE and a newline to PATH through PATH.new, renamed over it (a reader sees the old
# stamp or the new one, never half of one), readable by root only (umask 077). Prints nothing.
# Exit status: 0 written, else the failing command's (nothing trusted on a later run: a stamp
# that is missing or malformed is only a full proof more).

umask 077 && printf "%s\n" "$2" > "$1.new" && mv -f "$1.new" "$1"
