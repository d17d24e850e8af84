"""Bad numbers and names on the command line are refused by argparse in one line naming the flag, before
anything starts (``evaluators.arguments``, ``search._cli.folder_name``)."""

import argparse
import os

import pytest

from evaluators.arguments import (MAX_SEED, refuse, finite_float, int_at_least, int_between, non_negative_float,
                                  non_negative_int, positive_float, positive_int, random_seed, thread_count)
from evaluators.bench import main as bench
from evaluators.train import main as train
from search._cli import folder_name
from search.compare import main as compare
from search.run import main as run


@pytest.mark.parametrize("kind, text, message", [
    (positive_int, "0", "must be an integer >= 1, got '0'"),
    (positive_int, "2.5", "must be an integer >= 1, got '2.5'"),
    (non_negative_int, "-1", "must be an integer >= 0, got '-1'"),
    (random_seed, "-1", f"must be an integer from 0 to {MAX_SEED}, got '-1'"),
    (random_seed, str(2**32), f"must be an integer from 0 to {MAX_SEED}"),
    (positive_float, "nan", "must be a finite number, got 'nan'"),
    (positive_float, "0", "must be a number > 0, got '0'"),
    (non_negative_float, "-0.5", "must be a number >= 0, got '-0.5'"),
    (finite_float, "inf", "must be a finite number, got 'inf'"),
    (finite_float, "x", "must be a number, got 'x'"),
    (thread_count, str((os.cpu_count() or 1) + 1), f"must be an integer from 1 to {os.cpu_count() or 1}"),
    (int_between(2, 40), "41", "must be an integer from 2 to 40, got '41'"),
    (int_at_least(50), "10", "must be an integer >= 50, got '10'"),
    (folder_name, "", "must name one folder"),
    (folder_name, "../elsewhere", "must name one folder"),
    (folder_name, "..", "must name one folder"),
])
def test_a_bad_value_is_refused_saying_what_is_allowed(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        kind(text)


@pytest.mark.parametrize("kind, text, value", [
    (positive_int, "3", 3), (non_negative_int, "0", 0), (random_seed, str(MAX_SEED), MAX_SEED),
    (positive_float, "0.25", 0.25), (non_negative_float, "0", 0.0), (finite_float, "-2", -2.0),
    (folder_name, "default-moasha", "default-moasha"),
])
def test_a_good_value_is_read_as_its_number(kind, text, value):
    assert kind(text) == value


def _refusal(capsys, command, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        command(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("command, argv, flag", [
    (train, ["--threads", "0"], "--threads"),
    (train, ["--seed", str(10**20)], "--seed"),
    (train, ["--weight-decay", "nan"], "--weight-decay"),
    (bench, ["--steps", "0"], "--steps"),
    (bench, ["--threads", "99999"], "--threads"),
    (bench, ["--classes", "1"], "--classes"),
    (bench, ["--images-per-class", "10001"], "--images-per-class"),
    (compare, ["--cpus", "nan", "somewhere"], "--cpus"),
    (run, ["--max-concurrent", "0"], "--max-concurrent"),
    (run, ["--cpus-per-trial", "nan"], "--cpus-per-trial"),
])
def test_commands_name_the_flag_of_a_bad_number(capsys, command, argv, flag):
    assert f"argument {flag}: must be" in _refusal(capsys, command, argv)


@pytest.mark.parametrize("device", ["bogus", "meta", "cpu:1"])
def test_a_bad_device_is_one_line_naming_what_is_allowed(capsys, device):
    assert _refusal(capsys, train, ["--device", device]) == \
        f"error: --device: expected auto, cpu or cuda[:N], got {device!r}"


def test_a_bad_sampler_seed_leaves_no_study_folder_behind(capsys, tmp_path):
    assert "argument --seed: must be an integer from 0" in _refusal(
        capsys, run, ["--seed", "-1", "--results-dir", str(tmp_path), "--study-name", "s"])
    assert not (tmp_path / "s").exists()


def test_a_study_name_that_leaves_the_results_folder_is_refused(capsys, tmp_path):
    assert "argument --study-name: must name one folder" in _refusal(
        capsys, run, ["--results-dir", str(tmp_path / "results"), "--study-name", "../outside"])
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("flag", ["--save", "--checkpoint-dir"])
def test_a_training_s_output_folder_that_is_a_file_is_refused_before_training(capsys, tmp_path, flag):
    (tmp_path / "taken").write_text("")
    assert _refusal(capsys, train, [flag, str(tmp_path / "taken")]) == \
        f"error: {flag}: must be a folder, and {tmp_path / 'taken'} is a file"


@pytest.mark.parametrize("command, argv, message", [
    (run, ["--data-fraction", "2"], "error: --data-fraction: must be in (0, 1], got 2.0"),
    (run, ["--scheduler", "moasha", "--eta=1"], "error: --eta: must be an integer >= 2, got 1"),
    (train, ["--momentum", "1.5"], "error: --momentum: must be in [0, 1), got 1.5"),
    (train, ["--mom", "1.5"], "error: --momentum: must be in [0, 1), got 1.5"),  # argparse takes a unique prefix
])
def test_a_setting_refused_by_its_own_check_is_named_by_the_flag_the_user_typed(capsys, command, argv, message):
    assert _refusal(capsys, command, argv) == message


def test_a_refused_setting_the_user_did_not_type_keeps_its_field_name(capsys):
    """Say a resumed study's settings file holds it: the field is what the user can find there."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-fraction", type=float)
    with pytest.raises(SystemExit):
        refuse(parser, ValueError("data_fraction: must be in (0, 1], got 2.0"), parser.parse_args([]))
    assert capsys.readouterr().err == "error: data_fraction: must be in (0, 1], got 2.0\n"
