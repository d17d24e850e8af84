"""Every `--sampler` works on the real genome space, past its random start-up trials."""

import dataclasses
import math

import optuna
import pytest
from optuna.trial import TrialState

from search.study import DIRECTIONS, default_space, enqueue_baselines, genome_params, make_sampler
from search.tune import define_by_run
from space import Genome, baseline, cost_of

STARTUP = 10
"""The start-up trials of TPE and GP (NSGA-II's first population has the same size)."""


def _study_with_the_baseline(name: str, trials: int) -> optuna.Study:
    """A search as ``search.run`` drives it: the baseline first, then sampled genomes, accuracy vs MACs."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(directions=DIRECTIONS, sampler=make_sampler(name, seed=0))
    enqueue_baselines(study, ["standard"], num_classes=10, space=default_space())
    sample = define_by_run(default_space(), num_classes=10, search_training=False)
    for index in range(trials):
        trial = study.ask()
        config = sample(trial)
        assert "invalid" not in config, config
        macs = cost_of(Genome.from_dict(config["genome"])).total_macs
        study.tell(trial, [10 * math.log(macs) + index % 3, macs])
    return study


def _genome_ids(study: optuna.Study) -> list[str]:
    return [t.user_attrs["genome_id"] for t in study.trials]


@pytest.mark.parametrize("name", ["tpe", "nsga2", "random", "gp"])
def test_sampler_proposes_valid_genomes_after_its_start_up_trials(name):
    study = _study_with_the_baseline(name, STARTUP + 2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * (STARTUP + 2)


@pytest.mark.parametrize("name", ["nsga2", "gp"])
def test_model_based_sampler_stops_sampling_at_random_after_its_start_up_trials(name):
    random_ids = _genome_ids(_study_with_the_baseline("random", STARTUP + 2))
    ids = _genome_ids(_study_with_the_baseline(name, STARTUP + 2))
    assert ids[STARTUP:] != random_ids[STARTUP:]


def test_the_baseline_trial_records_the_params_that_describe_it():
    study = _study_with_the_baseline("random", 1)
    genome = baseline().replace(num_classes=10)
    assert study.trials[0].params == genome_params(genome, default_space())
    assert study.trials[0].user_attrs["genome_id"] == genome.id


def test_unknown_sampler_is_a_one_line_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"^sampler: must be one of tpe, nsga2, random, gp, got 'cma'$"):
        make_sampler("cma", seed=0)


def test_every_baseline_block_type_is_expressible_in_the_default_space():
    for block in ("standard", "se", "condconv"):
        assert genome_params(baseline(block).replace(num_classes=10), default_space()) is not None


def test_a_baseline_outside_the_space_has_no_params_and_is_still_trained_as_table_1():
    space = default_space()
    space = dataclasses.replace(space, stages=tuple(dataclasses.replace(s, kernel=(5, 7)) for s in space.stages))
    genome = baseline().replace(num_classes=10)
    assert genome_params(genome, space) is None
    study = optuna.create_study(directions=DIRECTIONS)
    enqueue_baselines(study, ["standard"], num_classes=10, space=space)
    config = define_by_run(space, num_classes=10, search_training=False)(study.ask())
    assert config["genome"] == genome.to_dict()


def test_with_searched_training_the_baseline_records_the_training_knobs_it_trains_with():
    training = {"lr": 0.01, "weight_decay": 5e-5, "label_smoothing": 0.0}
    study = optuna.create_study(directions=DIRECTIONS)
    enqueue_baselines(study, ["standard"], num_classes=10, space=default_space(), training=training)
    trial = study.ask()
    config = define_by_run(default_space(), num_classes=10, search_training=True)(trial)
    assert config["training"] == {}
    assert {name: trial.params[name] for name in training} == training


def test_a_training_knob_outside_the_space_leaves_the_baseline_without_params():
    genome = baseline().replace(num_classes=10)
    training = {"lr": 0.5, "weight_decay": 5e-5, "label_smoothing": 0.0}
    assert genome_params(genome, default_space(), training) is None
