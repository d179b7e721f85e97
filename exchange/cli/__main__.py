"""`python -m exchange.cli`: the `congvan` command line."""

from exchange.cli import main

main()
