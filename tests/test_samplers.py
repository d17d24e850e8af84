"""Every `--sampler` works on the real genome space, past its random start-up trials."""

import math

import optuna
import pytest
from optuna.trial import TrialState

from search.search_space import default_space
from search.study import DIRECTIONS, define_by_run, make_sampler
from space import Genome, cost_of

STARTUP = 10
"""The start-up trials of TPE and GP (NSGA-II's first population has the same size)."""


@pytest.mark.parametrize("name", ["tpe", "nsga2", "random", "gp"])
def test_sampler_proposes_valid_genomes_after_its_start_up_trials(name):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=DIRECTIONS, sampler=make_sampler(name, seed=0))
    sample = define_by_run(default_space(), num_classes=10, search_training=False)
    for _ in range(STARTUP + 3):
        trial = study.ask()
        config = sample(trial)
        assert "invalid" not in config, config
        macs = cost_of(Genome.from_dict(config["genome"])).total_macs
        study.tell(trial, [10 * math.log(macs), macs])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * (STARTUP + 3)


def test_unknown_sampler_is_a_one_line_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"^sampler: must be one of tpe, nsga2, random, gp, got 'cma'$"):
        make_sampler("cma", seed=0)
