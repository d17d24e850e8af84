"""Other libraries' private APIs the project relies on, each behind one adapter module: an upgrade that
removes what an adapter needs fails here, with a message that names the adapter to update."""

from search import _optuna_internals, _ray_internals
from space import _timm_internals


def test_optuna_private_api_still_fails_a_trial_with_its_reason_and_requeues_a_running_one():
    _optuna_internals.check()


def test_optuna_heartbeat_query_still_finds_exactly_the_trials_whose_heartbeat_lapsed():
    _optuna_internals.check_heartbeats()


def test_ray_optuna_search_still_keeps_its_trials_and_study():
    _ray_internals.check()


def test_timm_private_blocks_still_take_the_arguments_the_builder_passes():
    _timm_internals.check()


def test_timm_condconv_still_mixes_experts_per_example_as_its_onnx_form_does():
    _timm_internals.check_condconv()
