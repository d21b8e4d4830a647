"""The general options move in front of the command wherever they are typed."""

from __future__ import annotations

import click
import pytest

from gitorch.cli.options import TlsOptions, hoist


def test_options_after_the_command_move_to_the_front() -> None:
    args = ["job", "status", "-address=http://a:4646", "web", "-token", "t", "--namespace=n"]
    assert hoist(args) == [
        "--address", "http://a:4646", "--token", "t", "--namespace", "n", "job", "status", "web"
    ]  # fmt: skip


def test_flags_take_true_or_false_and_double_dash_stops() -> None:
    assert hoist(["job", "status", "-json"]) == ["--json", "job", "status"]
    assert hoist(["job", "status", "-tls-skip-verify=false"]) == ["job", "status"]
    assert hoist(["-tls-skip-verify=true", "x"]) == ["--tls-skip-verify", "x"]
    assert hoist(["alloc", "logs", "--", "-address"]) == ["alloc", "logs", "--", "-address"]
    assert hoist(["job", "run", "-var", "address=x", "f"]) == [
        "job",
        "run",
        "-var",
        "address=x",
        "f",
    ]
    with pytest.raises(click.UsageError, match="takes true or false"):
        hoist(["-json=maybe"])
    with pytest.raises(click.UsageError, match="-region needs a value"):
        hoist(["job", "status", "-region"])


def test_client_cert_without_key_is_refused() -> None:
    tls = TlsOptions(client_cert="/tmp/c.pem")
    with pytest.raises(click.UsageError, match="together"):
        tls.context()
    assert TlsOptions().context() is True
