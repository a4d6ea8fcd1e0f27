"""A child that never answers (tests/deploy/test_child.py)."""

import time

time.sleep(60)
