"""Each strategy's training FLOPs, composed by hand from the official formulas in flops.py."""
import pytest

from electra_lab import flops
from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import available, from_config
from electra_lab.train.budget import resolve_budget

# the tiny config (conftest): discriminator L2 / h32 / 2 heads / FFN 64 / embedding 16, seq_len 32,
# a 64-token vocabulary; at gen_fraction 0.5 the generator is h16 / 1 head / FFN 64
VOCAB, SEQ = 64, 32
DISC = flops.TransformerShape(layers=2, hidden=32, heads=2, ffn=64, embedding_size=16, vocab_size=VOCAB,
                              seq_len=SEQ)
HALF_GEN = flops.TransformerShape(layers=2, hidden=16, heads=1, ffn=64, embedding_size=16, vocab_size=VOCAB,
                                  seq_len=SEQ)


def train(shape, head, output_frac=flops.DEFAULT_OUTPUT_FRAC):
    return flops.model_flops_per_sequence(shape, head, output_frac)


EXPECTED = {
    "joint": flops.electra_flops_per_sequence(DISC, HALF_GEN),
    "electra_15": flops.electra_flops_per_sequence(DISC, HALF_GEN),  # D still scores every token
    "adversarial": flops.electra_flops_per_sequence(DISC, HALF_GEN),
    "mlm": flops.mlm_flops_per_sequence(DISC),
    "unigram_generator": train(DISC, "disc"),  # no generator network at all
    "replace_mlm": train(HALF_GEN, "mlm") + flops.mlm_flops_per_sequence(DISC),
    "all_tokens_mlm": train(HALF_GEN, "mlm") + train(DISC, "mlm", output_frac=1.0),
}


def strategy_for(tiny_cfg, tokenizer, **overrides):
    """A strategy told the length of its 10-step run."""
    cfg = tiny_cfg(**{"train.steps": 10, **overrides})
    strategy = from_config(cfg, SpecialIds.of(tokenizer))
    resolve_budget(cfg, strategy)
    return strategy


def test_tiny_vocabulary_is_what_the_shapes_assume(tiny_tokenizer):
    assert SpecialIds.of(tiny_tokenizer).vocab_size == VOCAB


@pytest.mark.parametrize("name", sorted(set(available()) - {"two_stage"}))  # two-stage: per phase, below
def test_flops_per_sequence_matches_the_official_formulas(tiny_cfg, tiny_tokenizer, name):
    assert name in EXPECTED, f"add strategy {name!r} to EXPECTED: its official FLOPs per sequence"
    strategy = strategy_for(tiny_cfg, tiny_tokenizer, **{"strategy.name": name})
    for step in (0, 9):
        assert strategy.flops_per_sequence(step) == pytest.approx(EXPECTED[name], rel=1e-12)


def test_unigram_costs_less_than_electra_and_all_tokens_more_than_replace_mlm(tiny_cfg, tiny_tokenizer):
    def cost(name):
        return strategy_for(tiny_cfg, tiny_tokenizer, **{"strategy.name": name}).flops_per_sequence(0)
    assert cost("unigram_generator") < cost("joint")
    assert cost("replace_mlm") < cost("all_tokens_mlm")


def test_two_stage_counts_each_phase(tiny_cfg, tiny_tokenizer):
    strategy = strategy_for(tiny_cfg, tiny_tokenizer, **{"strategy.name": "two_stage", "model.gen_fraction": 1.0})
    # a 10-step run, switch_fraction 0.5: steps 0-4 generator, 5-9 discriminator
    gen = DISC  # equal sizes
    phase_1 = train(gen, "mlm")
    phase_2 = train(DISC, "disc") + 0.5 * train(gen, "mlm")  # frozen generator: forward only, half a step
    assert [strategy.flops_per_sequence(s) for s in (0, 4)] == pytest.approx([phase_1] * 2, rel=1e-12)
    assert [strategy.flops_per_sequence(s) for s in (5, 9)] == pytest.approx([phase_2] * 2, rel=1e-12)


def test_a_flops_budget_places_the_two_stage_switch_within_the_run(tiny_cfg, tiny_tokenizer):
    """The switch is a fraction of the run, the run length depends on the per-step cost: the budget
    must settle on a step count whose own switch point spends the budget."""
    budget = 3e10
    cfg = tiny_cfg(**{"strategy.name": "two_stage", "model.gen_fraction": 1.0, "train.steps": None,
                      "train.flops": budget})
    strategy = from_config(cfg, SpecialIds.of(tiny_tokenizer))
    result = resolve_budget(cfg, strategy)
    assert strategy.ctx.total_steps == result.total_steps
    switch = strategy.switch_step
    assert switch == round(0.5 * result.total_steps)
    per_step = result.flops_per_step
    assert len(set(per_step[:switch])) == 1 and len(set(per_step[switch:])) == 1 and per_step[0] < per_step[-1]
    assert budget <= result.total_flops < budget + per_step[-1]
    # the switch as a report marks it: its step and the FLOPs spent before it
    assert result.phases() == [{"phase": "generator", "step": 0, "flops": 0.0},
                               {"phase": "discriminator", "step": switch, "flops": sum(per_step[:switch])}]


def test_a_steps_budget_sets_the_run_length_before_counting(tiny_cfg, tiny_tokenizer):
    cfg = tiny_cfg(**{"strategy.name": "two_stage", "model.gen_fraction": 1.0, "train.steps": 8})
    strategy = from_config(cfg, SpecialIds.of(tiny_tokenizer))
    result = resolve_budget(cfg, strategy)
    assert result.flops_per_step[3] < result.flops_per_step[4]  # the switch at step 4 of 8, not at 0
