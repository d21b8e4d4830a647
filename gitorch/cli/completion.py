"""``gitorch completion bash|zsh|fish``: the shell completion script, through click.

Install it with ``eval "$(gitorch completion bash)"`` (or zsh, fish) in the shell's rc
file; completion then offers commands, subcommands and options.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish)."""
    root = ctx.find_root()
    cls = get_completion_class(shell)
    if cls is None:  # click knows the three shells above
        raise click.ClickException(f"no completion support for {shell}")
    click.echo(cls(root.command, {}, "gitorch", "_GITORCH_COMPLETE").source())
