"""`python -m hardhouse.provision`: see hardhouse.provision.apply."""

import sys

from hardhouse.provision.apply import main

sys.exit(main())
