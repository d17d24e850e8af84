"""Confirmation seeds: fresh ones, never a seed a search trial trained with."""

import pytest

from search.confirmation import SEED_OFFSET, ConfirmationError
from search.confirmation._runner import check_fresh_seeds


def test_seeds_no_search_trial_used_are_accepted() -> None:
    check_fresh_seeds("s", [0, 1, 2, None, SEED_OFFSET - 1, SEED_OFFSET + 3], seeds=3)


def test_a_confirmation_seed_a_search_trial_trained_with_is_a_one_line_error() -> None:
    with pytest.raises(ConfirmationError) as error:
        check_fresh_seeds("s", [SEED_OFFSET - 5, SEED_OFFSET + 1], seeds=3)
    message = str(error.value)
    assert message.startswith(f"--seeds: seed {SEED_OFFSET + 1} of the confirmation's {SEED_OFFSET}..")
    assert "study 's'" in message and "\n" not in message
