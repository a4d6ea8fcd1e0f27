"""What every `hardhouse` command shares: the --json flag and the exit code for bad input."""

import click

EXIT_INVALID = 2  # a bad spec, a missing secret, a usage error

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
