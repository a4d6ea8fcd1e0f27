"""A stand-in for the probe's worker child in JobServer tests: `python -m
tests.probe.stand_in_worker FILE` does what FILE says when it starts (read again by each new
child, so a test can change what the next child does)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hardhouse.childproc import serve
from hardhouse.probe.worker import OUTPUT_CAP

if __name__ == "__main__":
    what = Path(sys.argv[1]).read_text()
    if what == "sleep":  # never reads its job
        time.sleep(60)
    elif what == "answer 7":
        serve({"tls_quick_posture": lambda body: 7})
    elif what == "flood":
        sys.stdout.buffer.write(b"x" * (OUTPUT_CAP + 4096))
        sys.stdout.flush()
    elif what == "exit 3":
        sys.stdin.readline()
        sys.exit(3)
    elif what == "babble":  # says something that is not a reply, then stays
        sys.stdin.readline()
        print("not json", flush=True)
        time.sleep(60)
