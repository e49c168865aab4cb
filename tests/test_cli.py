"""The ``qpconv`` command line: help, exit codes and the messages of bad input."""

from __future__ import annotations

import re

import pytest

from qpconv.cli import main


@pytest.mark.parametrize(
    "argv", [["--help"], ["run", "--help"], ["data", "prepare", "--help"], ["data", "download", "--help"], ["list", "--help"]]
)
def test_every_command_has_help(argv, capsys):
    assert main(argv) == 0
    assert "usage: qpconv" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "fig9"], "invalid choice: 'fig9'"),
        (["run", "fig4_5", "--preset", "huge"], "invalid choice: 'huge'"),
        (["run", "fig4_5", "--seeds", "0", "0"], r"seeds must be distinct; repeated: \[0\]"),
        (["run", "fig4_5", "--seeds", "-1"], "seed -1 is not a non-negative integer"),
        (["run", "fig4_5", "--seeds", "x"], "invalid int value: 'x'"),
    ],
)
def test_bad_run_command_lines_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


def test_missing_data_exits_1_and_names_the_prepare_command(tmp_path, offline, capsys):
    code = main(
        [
            "run",
            "fig4_5",
            "--device",
            "cpu",
            "--data-root",
            str(tmp_path / "empty"),
            "--results-dir",
            str(tmp_path / "results"),
            "--checkpoint-dir",
            str(tmp_path / "checkpoints"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "qpconv run: error: fashion-mnist is not in the data root" in err
    assert "qpconv data prepare fashion-mnist --from /usr/share/datasets/fashion-mnist" in err
    assert "Traceback" not in err


def test_prepare_from_a_missing_path_exits_2(tmp_path, capsys):
    assert main(["data", "prepare", "fashion-mnist", "--from", str(tmp_path / "nowhere"), "--root", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_list_shows_experiments_presets_and_no_runs(tmp_path, capsys):
    assert main(["list", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for expected in ("fig4_5", "fig6_7", "fig8", "quick", "full", "none"):
        assert expected in out
