"""How a global batch is cut up over data-parallel processes, and each rank's share of the blocks."""
import numpy as np
import pytest

from electra_lab.config import ConfigError
from electra_lab.train.batches import BlockSampler
from electra_lab.train.distributed import micro_batch_seed, step_plan


def test_world_dividing_grad_accum_keeps_the_one_process_micro_batches():
    one = step_plan(batch_size=8, grad_accum=4, world=1, rank=0)
    assert (one.micro_per_step, one.micro_batch, one.accum, one.first) == (4, 2, 4, 0)
    shares = [step_plan(8, 4, world=2, rank=r) for r in (0, 1)]
    assert [(p.micro_per_step, p.micro_batch, p.accum, p.first) for p in shares] == [(4, 2, 2, 0), (4, 2, 2, 2)]


def test_more_processes_than_micro_batches_gives_each_one_micro_batch():
    plans = [step_plan(8, 1, world=4, rank=r) for r in range(4)]
    assert {(p.micro_per_step, p.micro_batch, p.accum) for p in plans} == {(4, 2, 1)}
    assert [p.first for p in plans] == [0, 1, 2, 3]


@pytest.mark.parametrize("batch, accum, world, named", [(6, 1, 4, "batch_size=6"), (8, 3, 2, "grad_accum=3"),
                                                         (12, 8, 4, "batch_size=12")])
def test_a_split_that_does_not_divide_names_the_keys(batch, accum, world, named):
    with pytest.raises(ConfigError, match=named):
        step_plan(batch, accum, world, 0)


def test_ranks_read_disjoint_shares_that_make_up_the_one_process_stream():
    """Over several steps (crossing an epoch), rank 0 and rank 1 together read exactly the micro-batches
    one process reads, in order, and neither reads the other's."""
    n, micro, steps = 23, 3, 9
    one = BlockSampler(n, micro, seed=5, micro_per_step=2, first=0, keep=2)
    ranks = [BlockSampler(n, micro, seed=5, micro_per_step=2, first=r, keep=1) for r in (0, 1)]
    for _ in range(steps):
        expected = [one.next_indices(), one.next_indices()]
        got = [ranks[0].next_indices(), ranks[1].next_indices()]
        assert all(np.array_equal(e, g) for e, g in zip(expected, got, strict=True))
        assert not set(got[0]) & set(got[1])
        assert ranks[0].state_dict() == ranks[1].state_dict() == one.state_dict()
    assert one.state_dict()["epoch"] > 0


def test_a_resumed_sampler_continues_at_the_next_step():
    a = BlockSampler(40, 4, seed=1, micro_per_step=2, first=0, keep=2)
    for _ in range(6):
        a.next_indices()
    b = BlockSampler(40, 4, seed=1, micro_per_step=2, first=0, keep=2)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.next_indices(), b.next_indices())


def test_micro_batch_seeds_differ_by_step_and_index_and_fit_torch():
    seeds = {micro_batch_seed(0, step, i) for step in range(50) for i in range(4)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)
    assert micro_batch_seed(0, 3, 1) == micro_batch_seed(0, 3, 1) != micro_batch_seed(1, 3, 1)
