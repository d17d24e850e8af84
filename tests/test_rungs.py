"""The successive-halving rule on hand-made rung data: rungs, ranking, promotions and their determinism.

Objectives are (accuracy to maximise, MACs to minimise) as the search records them, unless a test says else.
"""

import itertools
import math
import random

import numpy as np
import pytest

from search.pareto import minimise_form, nondominated_ranks
from search.study import (CONTINUE, PENDING, STOP, Halving, Ladder, Standing, chance_floor, promoted, promotion_order,
                          rung_units)

DIRECTIONS = ("maximize", "minimize")


def _ladder(rungs=(1, 3, 9), eta=3, directions=DIRECTIONS, floor=None) -> Ladder:
    return Ladder(rungs, eta, directions, floor)


def _rung(ladder: Ladder, rung: int, elders: list[tuple[float, float]], arrival: tuple[float, float]) -> str:
    """Record ``elders`` (each settled at this rung after continuing below it) then ``arrival``; its decision."""
    for number, values in enumerate(elders):
        ladder.add(number, order=number)
        for below in range(1, rung + 1):
            ladder.record(number, below, values)
    ladder.add("arrival", order=len(elders))
    for below in range(1, rung + 1):
        ladder.record("arrival", below, arrival)
    return ladder.decision("arrival", rung)


def test_rungs_grow_by_eta_from_grace_and_end_at_max_units():
    assert rung_units(1, 3, 9) == (1, 3, 9)
    assert rung_units(1, 3, 10) == (1, 3, 9, 10)
    assert rung_units(2, 2, 16) == (2, 4, 8, 16)
    assert rung_units(5, 3, 5) == (5,)


@pytest.mark.parametrize("arguments, message", [((0, 3, 9), "grace: must be an integer >= 1"),
                                                ((1, 1, 9), "eta: must be an integer >= 2"),
                                                ((1, 2.5, 9), "eta: must be an integer >= 2"),
                                                ((10, 3, 9), r"grace: must be <= max_units \(9\)")])
def test_bad_rung_settings_are_named_in_one_line(arguments, message):
    with pytest.raises(ValueError, match=message):
        rung_units(*arguments)


def test_first_arrival_at_a_rung_continues():
    assert promoted([[-10.0, 5.0]], arrival=0, eta=3)
    assert _rung(_ladder(), 1, [], (10.0, 5e6)) == CONTINUE


def test_an_arrival_that_dominates_its_rung_continues():
    elders = [(30.0, 50e6), (25.0, 40e6), (40.0, 90e6), (20.0, 60e6), (35.0, 70e6)]
    assert _rung(_ladder(), 1, elders, (41.0, 39e6)) == CONTINUE


def test_a_dominated_arrival_stops():
    # n = 4, eta = 3: two continue; the three elders form the front and all dominate the arrival.
    elders = [(30.0, 50e6), (25.0, 40e6), (40.0, 90e6)]
    assert _rung(_ladder(), 1, elders, (24.0, 95e6)) == STOP


def test_an_arrival_dominated_by_fewer_than_the_kept_share_continues():
    # n = 4, eta = 2: two continue; only the first elder dominates the arrival, which dominates the others.
    elders = [(30.0, 50e6), (10.0, 70e6), (5.0, 90e6)]
    assert _rung(_ladder(eta=2), 1, elders, (25.0, 60e6)) == CONTINUE


def test_no_front_member_stops_while_the_front_fits_in_the_kept_share():
    # syne-tune's MOASHA passed positions where priorities were expected and could stop a front member; here
    # every front member is promoted whenever the front holds no more than ceil(n / eta) trials, wherever
    # it sits in the rung's list.
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        n, eta = int(rng.integers(1, 12)), int(rng.integers(2, 5))
        points = minimise_form(np.column_stack([rng.integers(0, 8, n), rng.integers(0, 8, n)]), DIRECTIONS)
        front = np.flatnonzero(nondominated_ranks(points) == 0)
        if front.size > math.ceil(n / eta):
            continue
        for arrival in front:
            assert promoted(points, int(arrival), eta), (points.tolist(), arrival, eta)
            checked += 1
    assert checked > 300


def test_a_front_member_listed_last_continues():
    # n = 6, eta = 3: two continue; the front is the last two rows.
    points = minimise_form([(10, 90), (11, 80), (12, 70), (13, 60), (50, 20), (60, 30)], DIRECTIONS)
    assert promoted(points, 4, 3) and promoted(points, 5, 3)
    assert not promoted(points, 0, 3)


def test_a_front_too_large_for_the_kept_share_keeps_its_largest_hypervolume_contributions():
    # In minimise form (0, 10), (5, 5), (10, 0): reference (11, 11); the middle point alone dominates
    # 5 x 5 = 25, each end 1 x 5 = 5. n = 3, eta = 3: one continues.
    points = [(0.0, 10.0), (5.0, 5.0), (10.0, 0.0)]
    assert promotion_order(points).tolist()[0] == 1
    assert promoted(points, 1, 3) and not promoted(points, 0, 3) and not promoted(points, 2, 3)


def test_equal_contributions_go_to_the_elder():
    assert promotion_order([(1.0, 1.0), (1.0, 1.0), (0.0, 2.0), (2.0, 0.0)]).tolist()[2:] == [0, 1]


def test_ranking_by_fronts_comes_before_contributions():
    # The dominated point (3, 3) has no contribution; it comes after both front members however large
    # the area it dominates.
    assert promotion_order([(3.0, 3.0), (0.0, 2.9), (2.9, 0.0)]).tolist() == [1, 2, 0]


def test_a_third_objective_counts_in_the_ranking():
    # n = 3, eta = 2: two continue. The arrival is dominated in accuracy and MACs by both elders, but it is
    # the fastest of all, so with latency as a third objective it shares the front with the second elder.
    elders, arrival = [(30.0, 50e6, 9.0), (31.0, 40e6, 8.0)], (20.0, 60e6, 1.0)
    three = _ladder(eta=2, directions=("maximize", "minimize", "minimize"))
    assert _rung(three, 1, elders, arrival) == CONTINUE
    assert _rung(_ladder(eta=2), 1, [e[:2] for e in elders], arrival[:2]) == STOP


def test_the_chance_floor_is_the_binomial_quantile_of_guessing():
    # 10 classes, 1,000 images: guessing gets X ~ Binomial(1000, 0.1) right; P(X <= 116) >= 0.95 > P(X <= 115).
    assert chance_floor(10, 1000) == pytest.approx(11.6)
    assert chance_floor(100, 5000) == pytest.approx(1.24)


@pytest.mark.parametrize("arguments, message", [((1, 1000), "classes: must be an integer >= 2"),
                                                ((10, 0), "evaluation_images: must be an integer >= 1")])
def test_bad_chance_floor_arguments_are_named_in_one_line(arguments, message):
    with pytest.raises(ValueError, match=message):
        chance_floor(*arguments)


def test_a_cheap_arrival_at_chance_stops_behind_trials_that_learned():
    # n = 4, eta = 3: two continue. The arrival is the cheapest, so on the front by MACs alone, but its 10.5 %
    # does not clear the 11.6 % floor while two elders do.
    elders, arrival = [(20.0, 90e6), (14.0, 80e6), (10.2, 70e6)], (10.5, 20e6)
    assert _rung(_ladder(), 1, elders, arrival) == CONTINUE
    assert _rung(_ladder(floor=11.6), 1, elders, arrival) == STOP


def test_trials_at_chance_rank_among_themselves_by_the_usual_rule():
    # Nobody clears the floor (a first rung where nothing has learned yet): the front of the rest decides.
    assert _rung(_ladder(floor=11.6), 1, [(10.0, 90e6), (10.4, 80e6), (9.8, 70e6)], (10.5, 20e6)) == CONTINUE
    assert promotion_order([(-10.0, 5.0), (-10.0, 1.0), (-20.0, 9.0)], learned=[False, False, True]).tolist() == [2, 1, 0]


def test_an_accuracy_floor_needs_an_accuracy_first():
    with pytest.raises(ValueError, match="accuracy_floor: the first objective must be an accuracy"):
        Ladder((1, 3), 3, ("minimize", "maximize"), accuracy_floor=11.6)
    with pytest.raises(ValueError, match=r"accuracy_floor: must be a top-1 % in \[0, 100\)"):
        Halving("moasha", accuracy_floor=150.0)


def test_the_decision_waits_for_an_elder_still_below_the_rung():
    ladder = _ladder()
    ladder.add(0, order=0)
    ladder.add(1, order=1)
    ladder.record(1, 1, (10.0, 5e6))
    assert ladder.decision(1, 1) == PENDING
    assert ladder.action(1) == CONTINUE  # trains on while it waits
    ladder.record(0, 1, (20.0, 4e6))
    assert ladder.decision(1, 1) == STOP  # n = 2, eta = 3: one continues, and the elder dominates
    assert ladder.action(1) == STOP


def test_younger_trials_do_not_count_against_an_elder():
    ladder = _ladder()
    ladder.add(0, order=0)
    ladder.add(1, order=1)
    ladder.record(1, 1, (90.0, 1e6))
    ladder.record(0, 1, (10.0, 9e6))
    assert ladder.decision(0, 1) == CONTINUE


def test_an_elder_settled_below_the_rung_does_not_count_there():
    ladder = _ladder()
    ladder.add(0, order=0)
    ladder.record(0, 1, (50.0, 1e6))
    ladder.settle(0)  # continued at rung 1, then failed before rung 2
    ladder.add(1, order=1)
    ladder.record(1, 1, (60.0, 1e6))
    ladder.record(1, 2, (5.0, 9e6))
    assert ladder.decision(1, 1) == CONTINUE
    assert ladder.decision(1, 2) == CONTINUE  # alone at rung 2: n = 1


def test_an_elder_stopped_below_the_rung_does_not_count_there():
    ladder = _ladder(eta=2)
    for number, values in enumerate([(50.0, 1e6), (40.0, 2e6)]):
        ladder.add(number, order=number)
        ladder.record(number, 1, values)
    assert ladder.decision(1, 1) == STOP
    ladder.record(1, 2, (99.0, 1e5))  # trained on before the stop reached it: counts nowhere
    ladder.add(2, order=2)
    ladder.record(2, 1, (60.0, 1e6))
    ladder.record(2, 2, (10.0, 1e6))
    assert ladder.decision(2, 2) == PENDING  # trial 0 is still on its way to rung 2
    ladder.settle(0)
    assert ladder.decision(2, 2) == CONTINUE


def test_the_baseline_continues_when_dominated_and_counts_against_younger_trials():
    ladder = _ladder()
    ladder.add(0, order=0)
    ladder.record(0, 1, (90.0, 1e6))
    ladder.add("baseline", order=1, exempt=True)
    ladder.record("baseline", 1, (10.0, 9e6))
    assert ladder.decision("baseline", 1) == CONTINUE
    ladder.add(2, order=2)
    ladder.record(2, 1, (11.0, 9e6))
    # n = 3, eta = 3: one continues; trial 0 dominates both.
    assert ladder.decision(2, 1) == STOP


def test_the_first_record_at_a_rung_is_kept():
    ladder = _ladder()
    ladder.add(0, order=0)
    assert ladder.record(0, 1, (10.0, 1e6))
    assert not ladder.record(0, 1, (12.0, 1e6))
    assert ladder.records(0) == {1: (10.0, 1e6)}


def test_a_settled_trial_records_nothing_more():
    ladder = _ladder()
    ladder.add(0, order=0, settled=True)
    with pytest.raises(ValueError, match="settled"):
        ladder.record(0, 1, (10.0, 1e6))


def test_a_trial_cannot_join_behind_younger_trials_already_judged():
    ladder = _ladder()
    ladder.add(5, order=5)
    ladder.record(5, 1, (10.0, 1e6))
    assert ladder.decision(5, 1) == CONTINUE
    with pytest.raises(ValueError, match="joins after younger trials were judged"):
        ladder.add(3, order=3)


def test_standing_says_where_a_climb_ended_once_decided():
    ladder = _ladder(rungs=(1, 3), eta=2)
    ladder.add(0, order=0)
    ladder.add(1, order=1)
    ladder.record(1, 1, (10.0, 5e6))
    assert ladder.standing(1) is None  # pending on trial 0
    ladder.record(0, 1, (20.0, 1e6))
    ladder.record(0, 2, (30.0, 1e6))
    assert ladder.standing(0) == Standing("top", 2)
    assert ladder.standing(1) == Standing("stopped", 1)
    ladder.add(2, order=2)
    ladder.record(2, 1, (40.0, 1e6))
    assert ladder.standing(2) is None  # continued, still training
    ladder.settle(2)
    assert ladder.standing(2) == Standing("ended", 1)


def _rebuilt(ladder: Ladder, numbers, settled: set) -> Ladder:
    """A new ladder from another's records, as a resumed search rebuilds it from the study's storage."""
    fresh = _ladder()
    for number in numbers:
        fresh.add(number, order=number, exempt=number == 0, records=ladder.records(number), settled=number in settled)
    return fresh


def _climb(records: dict, rng: random.Random | None, resume_at: int | None = None) -> tuple[dict, int]:
    """Run every trial up the ladder as Ray would and return (each trial's standing, pending decisions seen).

    Trials start in sampling order, up to three at a time; a started trial reports its next rung and stops as
    soon as ``action`` says so. With ``rng`` the next report comes from a random running trial, else trials
    run one after another. At report ``resume_at`` the ladder is rebuilt from its records, as after a stop.
    """
    ladder = _ladder()
    for number in records:
        ladder.add(number, order=number, exempt=number == 0)
    progress, settled, pending = {number: 0 for number in records}, set(), 0
    waiting, running = list(records), []
    for report in itertools.count():
        while waiting and len(running) < (3 if rng else 1):
            running.append(waiting.pop(0))
        if not running:
            break
        if report == resume_at:
            ladder = _rebuilt(ladder, records, settled)
        number = rng.choice(running) if rng else running[0]
        rung = progress[number] = progress[number] + 1
        ladder.record(number, rung, records[number][rung - 1])
        pending += rung < ladder.top and ladder.decision(number, rung) == PENDING
        if ladder.action(number) == STOP or rung == ladder.top:
            ladder.settle(number)
            settled.add(number)
            running.remove(number)
    return {number: ladder.standing(number) for number in records}, pending


def _random_records(rng: np.random.Generator, trials: int = 12) -> dict:
    """Accuracies that grow from rung to rung at a MACs count fixed per trial."""
    return {number: [(float(accuracy), float(macs)) for accuracy in np.sort(rng.uniform(10, 60, 3))]
            for number, macs in enumerate(rng.uniform(1e6, 9e7, trials))}


def test_decisions_do_not_depend_on_the_order_trials_report_in():
    rng = np.random.default_rng(7)
    pending = 0
    for _ in range(10):
        records = _random_records(rng)
        sequential, _ = _climb(records, None)
        assert all(standing is not None for standing in sequential.values())
        assert {s.outcome for s in sequential.values()} == {"stopped", "top"}
        for seed in range(5):
            interleaved, waited = _climb(records, random.Random(seed))
            assert interleaved == sequential
            pending += waited
    assert pending > 0  # the interleavings did make trials wait for their elders


def test_a_ladder_rebuilt_mid_climb_decides_as_if_nothing_had_stopped():
    rng = np.random.default_rng(8)
    for _ in range(10):
        records = _random_records(rng)
        uninterrupted, _ = _climb(records, random.Random(1))
        for resume_at in (3, 10, 17):
            assert _climb(records, random.Random(1), resume_at=resume_at)[0] == uninterrupted
