"""`python -m hardhouse` is the `hardhouse` command."""

from hardhouse.cli import main

main()
