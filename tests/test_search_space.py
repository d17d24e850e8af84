"""space.SearchSpace's uniform draws: what the fidelity study and the latency table sample."""

from __future__ import annotations

from space import SearchSpace, StageSpace, baseline, default_space, genome_params, sample_genomes
from evaluators.fidelity import genomes_for


def test_sampled_genomes_lie_in_the_space_they_were_drawn_from():
    space = default_space()
    genomes = sample_genomes(space, 30, num_classes=10, seed=0)
    assert len(genomes) == 30
    assert all(genome_params(genome, space) is not None for genome in genomes)


def test_a_seed_repeats_the_draws_and_another_seed_changes_them():
    space = default_space()
    first, again = sample_genomes(space, 5, 10, seed=3), sample_genomes(space, 5, 10, seed=3)
    assert first == again
    assert sample_genomes(space, 5, 10, seed=4) != first


def test_draws_cover_every_choice_of_a_narrowed_space():
    stages = tuple(StageSpace(width=(16, 16), repeats=(1, 1), kernel=(3, 5), expansion=(2,), block=("standard",))
                   for _ in baseline().stages)
    genomes = sample_genomes(SearchSpace(stages=stages), 40, 10, seed=0)
    assert {stage.kernel for genome in genomes for stage in genome.stages} == {3, 5}
    assert {stage.out_channels for genome in genomes for stage in genome.stages} == {16}


def test_a_space_without_valid_genomes_yields_fewer_genomes_instead_of_hanging():
    stages = tuple(StageSpace(width=(16, 16), repeats=(1, 1), block=("se",), se_ratio=(100000,))
                   for _ in baseline().stages)
    assert sample_genomes(SearchSpace(stages=stages), 3, 10, seed=0) == []


def test_the_fidelity_study_ranks_the_baseline_and_genomes_of_the_search_space():
    genomes = genomes_for(8, num_classes=10, seed=0)
    assert genomes[0] == baseline().replace(num_classes=10)
    assert all(genome_params(genome, default_space()) is not None for genome in genomes[1:])


def test_the_space_package_loads_nothing_of_the_evaluators_or_the_search():
    import subprocess
    import sys

    code = ("import sys, space, space.builder, space.cost, space.weights, space.sampling; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('evaluators', 'search')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
