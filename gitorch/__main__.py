"""`python -m gitorch` is the `gitorch` command."""

from gitorch.cli.main import main

main()
