"""Confirming a search's front: its genomes and the baseline re-trained with fresh seeds, compared in pairs."""

from ._runner import SEED_OFFSET, Confirmation, ConfirmationError, confirm_front, confirmed_table

__all__ = ["SEED_OFFSET", "Confirmation", "ConfirmationError", "confirm_front", "confirmed_table"]
