"""Every sub-command's ``--help`` prints its usage and exits 0 (argparse %-formats help
strings: a literal ``%`` in a metric name once crashed ``dosecalc dvh --help``)."""

import pytest

from dosecalc.cli import main
from dosecalc.commands import command_modules

COMMANDS = [m.NAME for m in command_modules()]


def test_every_command_is_listed():
    assert {"demo", "info", "dvh", "eqd2", "check", "batch", "protocols"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_exits_zero(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: dosecalc {name}")


def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(n in out for n in COMMANDS)
