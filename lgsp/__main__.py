"""`python -m lgsp` is the `lgsp` command."""

from lgsp.cli import app

app()
