"""Non-dominated sorting and hypervolume for any number of objectives, on points to minimise.

Oracles independent of the code under test: hand-computed cases, the definition of dominance checked pair
by pair, and counting the unit cells of an integer grid that some point dominates. (The reports' 2-D
``pareto_mask`` and ``hypervolume`` are tested in test_report.py.)
"""

import itertools

import numpy as np
import pytest

from search.pareto import (dominated_hypervolume, hypervolume_contributions, minimise_form,
                           nondominated_mask, nondominated_ranks)


def _grid_volume(points: np.ndarray, reference: tuple[int, ...]) -> int:
    """Unit cells [c, c + 1) inside the reference box that some point is <= in every objective."""
    cells = np.array(list(itertools.product(*(range(r) for r in reference))))
    covered = (points[None, :, :] <= cells[:, None, :]).all(axis=2).any(axis=1)
    return int(covered.sum())


def test_minimise_form_negates_the_maximised_objectives_only():
    values = [[70.0, 100.0, 3.0]]
    assert minimise_form(values, ["maximize", "minimize", "min"]).tolist() == [[-70.0, 100.0, 3.0]]
    assert minimise_form(values, ["max", "min", "max"]).tolist() == [[-70.0, 100.0, -3.0]]


def test_minimise_form_rejects_an_unknown_direction_by_name():
    with pytest.raises(ValueError, match="directions: each must be one of .* got 'up'"):
        minimise_form([[1.0, 2.0]], ["up", "min"])


def test_minimise_form_rejects_a_column_count_that_does_not_match_the_directions():
    with pytest.raises(ValueError, match="one column per direction"):
        minimise_form([[1.0, 2.0]], ["max", "min", "min"])


def test_points_without_a_value_are_refused():
    with pytest.raises(ValueError, match="finite"):
        nondominated_ranks([[1.0, np.nan]])


def test_ranks_peel_fronts_one_after_another():
    #   (1, 4) (2, 2) (4, 1) form front 0; (3, 3) and (2, 5) are dominated once; (4, 5) twice over.
    points = [(1, 4), (2, 2), (4, 1), (3, 3), (2, 5), (4, 5)]
    assert nondominated_ranks(points).tolist() == [0, 0, 0, 1, 1, 2]


def test_duplicates_share_their_front():
    assert nondominated_ranks([(1, 1), (1, 1), (2, 2), (2, 2)]).tolist() == [0, 0, 1, 1]


def test_a_point_equal_in_two_objectives_and_worse_in_the_third_is_dominated():
    assert nondominated_mask([(1, 1, 1), (1, 1, 2), (0, 2, 3)]).tolist() == [True, False, True]


def test_a_third_objective_can_lift_a_point_that_two_objectives_dominate():
    points = np.array([(1, 1, 5), (2, 2, 1)])
    assert nondominated_mask(points[:, :2]).tolist() == [True, False]
    assert nondominated_mask(points).tolist() == [True, True]


def test_the_front_is_exactly_the_points_no_other_point_dominates():
    rng = np.random.default_rng(0)
    for _ in range(50):
        points = rng.integers(0, 6, size=(12, 3)).astype(float)  # small integers: many ties
        dominated = [any((q <= p).all() and (q < p).any() for q in points) for p in points]
        assert nondominated_mask(points).tolist() == [not d for d in dominated]


def test_no_points_have_no_ranks_and_no_volume():
    assert nondominated_ranks(np.empty((0, 3))).shape == (0,)
    assert dominated_hypervolume([], (1.0, 1.0)) == 0.0
    assert hypervolume_contributions(np.empty((0, 2)), (1.0, 1.0)).shape == (0,)


def test_three_objective_hypervolume_of_two_overlapping_boxes():
    # Box volumes 3*3*1 and 1*1*3 overlap in the box at (2, 2, 2): 1*1*1.
    assert dominated_hypervolume([(0, 0, 2), (2, 2, 0)], (3, 3, 3)) == pytest.approx(9 + 3 - 1)


@pytest.mark.parametrize("objectives", [2, 3, 4])
def test_hypervolume_equals_the_count_of_dominated_grid_cells(objectives):
    rng = np.random.default_rng(objectives)
    reference = (5,) * objectives
    for _ in range(20):
        points = rng.integers(0, 6, size=(7, objectives))  # 5 is on the reference: adds nothing
        assert dominated_hypervolume(points, reference) == pytest.approx(_grid_volume(points, reference))


def test_points_outside_the_reference_add_no_volume():
    assert dominated_hypervolume([(4, 0, 0), (0, 3, 0)], (3, 3, 3)) == 0.0


def test_reference_must_have_one_value_per_objective():
    with pytest.raises(ValueError, match="reference: expected 3 finite values"):
        dominated_hypervolume([(0, 0, 0)], (1, 1))


def test_contributions_are_the_area_each_point_alone_dominates():
    # Reference (4, 4): (1, 3) alone covers [1, 2) x [3, 4); (2, 1) alone covers [2, 4) x [1, 3).
    assert hypervolume_contributions([(1, 3), (2, 1)], (4, 4)).tolist() == pytest.approx([1.0, 4.0])


def test_dominated_points_and_duplicates_contribute_nothing():
    contributions = hypervolume_contributions([(1, 1), (1, 1), (2, 2), (0, 3)], (4, 4))
    assert contributions.tolist() == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_three_objective_contributions_match_removing_each_point():
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1, size=(6, 3))
    reference = (1.0, 1.0, 1.0)
    total = dominated_hypervolume(points, reference)
    for index, contribution in enumerate(hypervolume_contributions(points, reference)):
        rest = dominated_hypervolume(np.delete(points, index, axis=0), reference)
        assert contribution == pytest.approx(total - rest, abs=1e-12)
