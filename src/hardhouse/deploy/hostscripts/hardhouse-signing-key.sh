#!/bin/sh
# hardhouse-signing-key: fetch a package repository's signing key and install it only if its
# fingerprint is the pinned one (hardhouse.deploy.operations.signing_key).
#
#   sh -c TEXT hardhouse-signing-key URL FINGERPRINT KEYRING
#
#   URL          where the key is (https only)
#   FINGERPRINT  the pinned fingerprint, upper-case hex without spaces
#   KEYRING      where the dearmored key goes (mode 644)
#
# Prints nothing when installed; on a fingerprint that is not the pinned one, says which it
# was on stderr and installs nothing.
# Exit status: 0 installed; else not (the download, gpg or the pin failed).
set -eu
t=$(mktemp); trap 'rm -f "$t" "$t.gpg"' EXIT
curl -fsSL --proto =https -- "$1" -o "$t"
got=$(gpg --show-keys --with-colons "$t" | awk -F: '/^fpr:/ {print toupper($10)}')
if [ "$got" != "$2" ]; then
    printf 'hardhouse: the key at %s has fingerprint %s, not %s; not installed\n' "$1" "$got" "$2" >&2
    exit 1
fi
gpg --dearmor < "$t" > "$t.gpg"
install -m 644 "$t.gpg" "$3"
