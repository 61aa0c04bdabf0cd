"""Search options: length-penalty types, coverage penalty, minimum length, no repeated n-grams
and early stopping; each checked to change behaviour the way it claims (fake models, no golden
numbers), plus their wiring through SearchConfig, the Translator and the CLI."""

from __future__ import annotations

import itertools
import math
from typing import Any, get_args

import pytest
import torch
from fake_models import BOS, EOS, CounterState, MarkovModel, TableModel
from test_search import produced_ids, random_batch, run_beam
from torch import Tensor

from seq2seq.cli import _search_overrides, build_parser
from seq2seq.config import ModelConfig, SearchConfig, TokenizerConfig, load_config
from seq2seq.data.corpus import Pair
from seq2seq.data.pipeline import TextCodec
from seq2seq.decoding import Hypothesis
from seq2seq.decoding.penalties import (
    COVERAGE_FLOOR,
    LENGTH_PENALTY_TYPES,
    HypothesisScorer,
    coverage_penalty,
    gnmt_length_penalty,
)
from seq2seq.decoding.rules import (
    MinLength,
    NoRepeatNgram,
    StepRule,
    apply_rules,
    length_and_repeat_rules,
    min_output_lengths,
    repeated_ngram_tokens,
)
from seq2seq.decoding.sampling import sample_search
from seq2seq.decoding.translator import Translator
from seq2seq.errors import ConfigError, InputError
from seq2seq.models import build_model
from seq2seq.models.contract import EncoderOutput


class CountingModel:
    """Wraps a fake model and counts its ``decode_step`` calls."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, 0

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        return self.model.encode(src, src_lengths)

    def init_state(self, enc: EncoderOutput) -> CounterState:
        return self.model.init_state(enc)

    def decode_step(
        self, prev: Tensor, state: CounterState, enc: EncoderOutput, attention: bool = True
    ) -> Any:
        self.calls += 1
        return self.model.decode_step(prev, state, enc, attention)


class AttentionTableModel(TableModel):
    """A :class:`TableModel` whose attention over a 2-token source is set by the previous
    token: ``attention[prev]`` ``[2]`` (so coverage depends on what was produced)."""

    def __init__(self, probs: list[list[float]], attention: list[list[float]]) -> None:
        super().__init__(probs)
        self.attention = torch.tensor(attention)  # [prev, src_len]

    def decode_step(
        self, prev_tokens: Tensor, state: CounterState, enc: EncoderOutput, attention: bool = True
    ) -> tuple[Tensor, CounterState, Tensor]:
        log_probs, state, _ = super().decode_step(prev_tokens, state, enc)
        return log_probs, state, self.attention[prev_tokens]


def min_rule(*minimums: int) -> list[StepRule]:
    return [MinLength(torch.tensor(minimums), EOS)]


def assert_no_repeated_ngram(ids: list[int], size: int) -> None:
    ngrams = [tuple(ids[i : i + size]) for i in range(len(ids) - size + 1)]
    assert len(ngrams) == len(set(ngrams)), ids


# Always wants EOS at once (log 0.96); ordinary tokens 2..4 otherwise.
ALWAYS_EOS = TableModel([[0.0, 0.96, 0.02, 0.01, 0.01]] * 5)
# Wants to repeat token 2 for ever (2 -> 2 with 0.9), EOS nearly impossible.
REPEATER = TableModel(
    [[0.0, 1e-6, 0.9, 0.06, 0.04 - 1e-6], [0.0, 0.25, 0.25, 0.25, 0.25]]
    + [[0.0, 1e-6, 0.9, 0.06, 0.04 - 1e-6]] * 3
)
ONE_ROW = (torch.tensor([[2, 3]]), torch.tensor([2]))


# --- step rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3])
def test_repeated_ngram_tokens_match_brute_force(size: int) -> None:
    gen = torch.Generator().manual_seed(size)
    history = torch.randint(2, 5, (6, 7), generator=gen)  # [rows, step]: small vocab, repeats
    for step in range(history.size(1) + 1):
        banned = repeated_ngram_tokens(history[:, :step], size, 6)
        for row in range(history.size(0)):
            ids = history[row, :step].tolist()
            want = {
                token
                for token in range(6)
                if size <= step + 1
                and tuple([*ids[step - size + 1 :], token])
                in {tuple(ids[i : i + size]) for i in range(step - size + 1)}
            }
            assert set(banned[row].nonzero().flatten().tolist()) == want


def test_min_length_masks_eos_per_input_row_only_while_too_short() -> None:
    log_probs = torch.full((4, 5), -1.0)
    rule = MinLength(torch.tensor([0, 2]), EOS)
    history = torch.zeros(4, 1, dtype=torch.long)  # one token produced
    out = rule(log_probs, history, torch.tensor([0, 1, 1, 0]))  # beams of input rows 0, 1
    assert out[:, EOS].isneginf().tolist() == [False, True, True, False]
    assert bool((out[:, 2:] == -1.0).all())
    out = rule(log_probs, torch.zeros(4, 2, dtype=torch.long), torch.tensor([0, 1, 1, 0]))
    assert not bool(out.isneginf().any())


def test_a_row_with_every_token_forbidden_can_still_end_with_eos() -> None:
    # No token may repeat (size 1) and EOS is forbidden (min length 10): after producing the
    # three ordinary tokens once each, only EOS is left, at its model log-prob.
    never_eos = TableModel([[0.0, 1e-9, 0.5, 0.3, 0.2 - 1e-9]] * 5)
    rules = [*min_rule(10), NoRepeatNgram(1)]
    [hyp] = run_greedy_rules(never_eos, *ONE_ROW, torch.tensor([10]), rules)
    assert sorted(hyp.tokens) == [2, 3, 4] and hyp.finished
    assert hyp.token_log_probs[-1] == pytest.approx(math.log(1e-9), rel=1e-4)
    no_history = torch.zeros(1, 0, dtype=torch.long)
    log_probs = torch.tensor([[-1.0, -2.0, float("-inf")]])
    assert apply_rules([], log_probs, no_history, torch.tensor([0]), EOS) is log_probs


def run_greedy_rules(
    model: object, src: Tensor, lengths: Tensor, max_lengths: Tensor, rules: list[StepRule]
) -> list[Hypothesis]:
    from seq2seq.decoding import greedy_search

    return greedy_search(
        model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths, rules=rules
    )


def run_sampling(
    model: object, src: Tensor, lengths: Tensor, max_lengths: Tensor, rules: list[StepRule]
) -> list[Hypothesis]:
    gen = torch.Generator().manual_seed(0)
    samples = sample_search(
        model,
        src,
        lengths,
        bos_id=BOS,
        eos_id=EOS,
        max_lengths=max_lengths,
        num_samples=3,
        generator=gen,
        rules=rules,
    )
    return [h for hyps in samples for h in hyps]


def run_beam_rules(
    model: object, src: Tensor, lengths: Tensor, max_lengths: Tensor, rules: list[StepRule]
) -> list[Hypothesis]:
    results = run_beam(model, src, lengths, max_lengths, beam_size=3, n_best=3, rules=rules)
    return [h for hyps in results for h in hyps]


RULE_SEARCHES = {"greedy": run_greedy_rules, "beam": run_beam_rules, "sampling": run_sampling}


@pytest.mark.parametrize("name", list(RULE_SEARCHES))
def test_min_len_makes_outputs_at_least_that_long(name: str) -> None:
    search = RULE_SEARCHES[name]
    [plain, *_] = search(ALWAYS_EOS, *ONE_ROW, torch.tensor([8]), [])
    assert plain.tokens == [] and plain.finished  # the model wants to stop at once
    for hyp in search(ALWAYS_EOS, *ONE_ROW, torch.tensor([8]), min_rule(4)):
        assert len(hyp.tokens) >= 4 and hyp.finished
    src, lengths = torch.tensor([[2, 3], [4, 0]]), torch.tensor([2, 1])
    hyps = search(ALWAYS_EOS, src, lengths, torch.tensor([8, 8]), min_rule(1, 3))
    per_row = len(hyps) // 2
    assert all(len(h.tokens) >= 1 for h in hyps[:per_row])
    assert all(len(h.tokens) >= 3 for h in hyps[per_row:])
    assert any(len(h.tokens) == 1 for h in hyps[:per_row])  # each row gets its own minimum


def test_min_output_lengths_take_the_larger_minimum_within_the_maximum() -> None:
    max_lengths = torch.tensor([20, 20, 4, 0])
    got = min_output_lengths([3, 10, 10, 5], 5, 1.5, max_lengths)
    assert got.tolist() == [5, 15, 3, 0]  # max(5, ceil(1.5 n)), at most max_length - 1
    assert min_output_lengths([3], 0, 0.0, torch.tensor([9])).tolist() == [0]


@pytest.mark.parametrize("name", list(RULE_SEARCHES))
@pytest.mark.parametrize("size", [1, 2, 3])
def test_no_repeat_ngram_size_forbids_repeats(name: str, size: int) -> None:
    search = RULE_SEARCHES[name]
    [plain, *_] = search(REPEATER, *ONE_ROW, torch.tensor([8]), [])
    assert plain.tokens.count(2) >= 4  # the model wants to repeat
    for hyp in search(REPEATER, *ONE_ROW, torch.tensor([8]), [NoRepeatNgram(size)]):
        assert_no_repeated_ngram(produced_ids(hyp), size)
        assert len(hyp.token_log_probs) == 8 or hyp.finished


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_equals_greedy_with_each_option(seed: int) -> None:
    model = MarkovModel(seed=seed)
    src, lengths = random_batch(seed)
    max_lengths = torch.tensor([8, 3, 5, 1, 10])
    rule_sets = {
        "min_len": min_rule(3, 1, 4, 0, 6),
        "no_repeat_1": [NoRepeatNgram(1)],
        "no_repeat_2": [NoRepeatNgram(2)],
        "both": [*min_rule(5, 2, 2, 1, 9), NoRepeatNgram(2)],
    }
    for rules in rule_sets.values():
        greedy = run_greedy_rules(model, src, lengths, max_lengths, rules)
        for lp_type, beta in itertools.product(LENGTH_PENALTY_TYPES, [0.0, 0.5]):
            beam = run_beam(
                model,
                src,
                lengths,
                max_lengths,
                beam_size=1,
                length_penalty=0.7,
                length_penalty_type=lp_type,
                coverage_penalty=beta,
                rules=rules,
                early_stopping=True,
            )
            for g, [b] in zip(greedy, beam, strict=True):
                assert b.tokens == g.tokens and b.finished == g.finished
                assert b.log_prob == pytest.approx(g.log_prob, abs=1e-5)


# --- length and coverage penalties ---------------------------------------------------------------


def test_length_penalty_types_pick_different_winners() -> None:
    # Three finished candidates (log-probs): [] -1.0, [2] -1.1, [2, 3] -1.6. Ranking by
    # log-prob (none) picks [], by log-prob / length (average: -1, -0.55, -0.53) picks [2, 3],
    # by GNMT alpha=1 (/1, /(7/6), /(8/6): -1, -0.94, -1.2) picks [2].
    e = math.exp
    rest = (1 - e(-1) - e(-0.5)) / 2
    model = TableModel(
        [
            [0.0, e(-1.0), e(-0.5), rest, rest],  # BOS
            [0.0, 0.25, 0.25, 0.25, 0.25],  # EOS (never fed)
            [0.0, e(-0.6), 0.0, e(-1.0), 1 - e(-0.6) - e(-1.0)],  # 2
            [0.0, e(-0.1), (1 - e(-0.1)) / 3, (1 - e(-0.1)) / 3, (1 - e(-0.1)) / 3],  # 3
            [0.0, 0.9, 0.05, 0.05, 0.0],  # 4
        ]
    )
    winners = {}
    for lp_type in LENGTH_PENALTY_TYPES:
        [[best]] = run_beam(
            model,
            *ONE_ROW,
            torch.tensor([4]),
            beam_size=8,
            length_penalty=1.0,
            length_penalty_type=lp_type,
        )
        assert best.finished
        winners[lp_type] = best.tokens
        scorer = HypothesisScorer(lp_type, 1.0)
        assert best.score == pytest.approx(
            scorer.score_one(best.log_prob, len(best.token_log_probs), None), abs=1e-6
        )
    assert winners == {"none": [], "average": [2, 3], "gnmt": [2]}


def test_average_score_is_mean_token_log_prob_and_gnmt_keeps_todays_scores() -> None:
    model = MarkovModel(seed=3)
    src, lengths = random_batch(3)
    max_lengths = torch.full((5,), 6)
    average = run_beam(
        model, src, lengths, max_lengths, beam_size=3, n_best=3, length_penalty_type="average"
    )
    gnmt = run_beam(model, src, lengths, max_lengths, beam_size=3, n_best=3, length_penalty=0.6)
    for hyp in itertools.chain(*average):
        assert hyp.score == pytest.approx(hyp.log_prob / len(hyp.token_log_probs), abs=1e-5)
    for hyp in itertools.chain(*gnmt):
        lp = gnmt_length_penalty(len(hyp.token_log_probs), 0.6)
        assert hyp.score == pytest.approx(hyp.log_prob / lp, abs=1e-5)


@pytest.mark.parametrize("kind", LENGTH_PENALTY_TYPES)
def test_a_finished_hypothesis_scores_as_the_beams_were_ranked(kind: str) -> None:
    """``score_one`` (plain Python, for returned hypotheses) agrees with the tensor ``score``
    search ranks by, for every length-penalty type and length, 0 included."""
    scorer = HypothesisScorer(kind, 0.7)
    lengths = torch.arange(6)
    ranked = scorer.score(torch.full((6,), -2.5), lengths, 0.0)
    one_by_one = [scorer.score_one(-2.5, length, None) for length in lengths.tolist()]
    assert one_by_one == pytest.approx(ranked.tolist(), rel=1e-6)


def test_coverage_penalty_formula() -> None:
    coverage = torch.tensor([[2.0, 0.5, 0.0], [1.0, 1.0, 0.3]])  # [rows, src_len]
    mask = torch.tensor([[True, True, True], [True, True, False]])
    got = coverage_penalty(coverage, mask, 0.2)
    want = [0.2 * (math.log(0.5) + math.log(COVERAGE_FLOOR)), 0.0]
    assert got.tolist() == pytest.approx(want, abs=1e-5)


def test_coverage_penalty_prefers_the_hypothesis_that_covers_the_source() -> None:
    # Token 3 is the only one after which the model attends to source position 1. [2] is the
    # most probable output but leaves position 1 unattended; [2, 3] covers both positions.
    model = AttentionTableModel(
        [
            [0.0, 0.01, 0.97, 1e-4, 0.02 - 1e-4],
            [0.0, 0.25, 0.25, 0.25, 0.25],
            [0.0, 0.3, 0.5, 0.19, 0.01],
            [0.0, 0.9, 0.04, 0.04, 0.02],
            [0.0, 0.25, 0.25, 0.25, 0.25],
        ],
        attention=[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]],
    )
    kwargs: dict[str, Any] = {"beam_size": 8, "n_best": 4, "length_penalty_type": "none"}
    [plain] = run_beam(model, *ONE_ROW, torch.tensor([3]), **kwargs)
    [covered] = run_beam(model, *ONE_ROW, torch.tensor([3]), coverage_penalty=0.5, **kwargs)
    assert plain[0].tokens == [2] and covered[0].tokens == [2, 3]
    assert covered[0].log_prob < plain[0].log_prob
    for hyp in covered:  # score = log_prob + beta * sum_j log(min(coverage_j, 1))
        assert hyp.attention is not None
        cp = 0.5 * hyp.attention.sum(0).clamp(COVERAGE_FLOOR, 1.0).log().sum()
        assert hyp.score == pytest.approx(hyp.log_prob + float(cp), abs=1e-5)


def test_coverage_counts_the_attention_of_the_step_being_ranked() -> None:
    # After token 2 the model attends to source position 1, after BOS and 3 to position 0.
    # [3, EOS] and [3, 4] are more probable than [2, EOS], but only [2, EOS] covers the source,
    # through the attention of the step that produces its EOS: a beam of 2 keeps it only if
    # that step's attention counts when the candidates are ranked.
    model = AttentionTableModel(
        [
            [0.0, 0.05, 0.3, 0.6, 0.05],
            [0.0, 0.25, 0.25, 0.25, 0.25],
            [0.0, 0.5, 0.2, 0.2, 0.1],
            [0.0, 0.6, 0.03, 0.02, 0.35],
            [0.0, 0.25, 0.25, 0.25, 0.25],
        ],
        attention=[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]],
    )
    kwargs: dict[str, Any] = {"beam_size": 2, "length_penalty_type": "none"}
    [[plain]] = run_beam(model, *ONE_ROW, torch.tensor([2]), **kwargs)
    [[covered]] = run_beam(model, *ONE_ROW, torch.tensor([2]), coverage_penalty=0.5, **kwargs)
    assert plain.tokens == [3] and covered.tokens == [2] and covered.finished
    assert covered.score == pytest.approx(covered.log_prob, abs=1e-6)  # full coverage: cp = 0


def test_coverage_penalty_ignores_padding_batched_equals_one_by_one() -> None:
    model = MarkovModel(seed=4)
    src, lengths = random_batch(4, batch=6)
    max_lengths = torch.tensor([9, 2, 5, 7, 1, 4])
    kwargs: dict[str, Any] = {"beam_size": 3, "n_best": 2, "coverage_penalty": 0.4}
    batched = run_beam(model, src, lengths, max_lengths, **kwargs)
    changed = False
    for row, hyps in enumerate(batched):
        n = int(lengths[row])
        one = (src[row : row + 1, :n], lengths[row : row + 1], max_lengths[row : row + 1])
        [alone] = run_beam(model, *one, **kwargs)
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in alone], abs=1e-5)
        [plain] = run_beam(model, *one, beam_size=3)
        changed |= plain[0].score != pytest.approx(hyps[0].score, abs=1e-5)
    assert changed


# --- early stopping ----------------------------------------------------------------------------


def run_counted(seed: int, **kwargs: Any) -> tuple[list[list[Hypothesis]], int]:
    model = CountingModel(MarkovModel(seed=seed))
    src, lengths = random_batch(seed)
    results = run_beam(model, src, lengths, torch.full((5,), 15), beam_size=4, **kwargs)
    return results, model.calls


@pytest.mark.parametrize("n_best", [1, 2])
def test_early_stopping_without_length_penalty_returns_the_same_n_best_in_fewer_steps(
    n_best: int,
) -> None:
    # With log-prob ranking, extending a live beam only lowers its score, so once the n_best
    # finished hypotheses beat every live beam the results are settled.
    saved = 0
    for seed in range(5):
        kwargs: dict[str, Any] = {"n_best": n_best, "length_penalty_type": "none"}
        full, full_calls = run_counted(seed, **kwargs)
        early, early_calls = run_counted(seed, early_stopping=True, **kwargs)
        for want, got in zip(full, early, strict=True):
            assert [h.tokens for h in got] == [h.tokens for h in want]
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)
            assert all(h.finished for h in got)
        assert early_calls <= full_calls
        saved += full_calls - early_calls
    assert saved > 0


@pytest.mark.parametrize(
    ("lp_type", "beta"), [("gnmt", 0.0), ("average", 0.0), ("gnmt", 0.3), ("none", 0.3)]
)
def test_early_stopping_never_returns_a_worse_best_hypothesis(lp_type: str, beta: float) -> None:
    # The bound is optimistic, so this only checks soundness: no dropped beam could have won.
    for seed in range(5):
        kwargs: dict[str, Any] = {
            "n_best": 2,
            "length_penalty": 1.0,
            "length_penalty_type": lp_type,
            "coverage_penalty": beta,
        }
        full, full_calls = run_counted(seed, **kwargs)
        early, early_calls = run_counted(seed, early_stopping=True, **kwargs)
        for want, got in zip(full, early, strict=True):
            assert got[0].score >= want[0].score - 1e-6
            scores = [h.score for h in got]
            assert scores == sorted(scores, reverse=True)
        assert early_calls <= full_calls


# --- errors ------------------------------------------------------------------------------------


def test_invalid_options_raise_input_errors_naming_them() -> None:
    model = MarkovModel()
    src, lengths = random_batch(0)
    max_lengths = torch.full((5,), 4)
    with pytest.raises(InputError, match=r"length_penalty_type 'long' is not one of none, av"):
        run_beam(model, src, lengths, max_lengths, beam_size=2, length_penalty_type="long")
    with pytest.raises(InputError, match=r"coverage_penalty \(GNMT beta\) must be >= 0, got -1"):
        run_beam(model, src, lengths, max_lengths, beam_size=2, coverage_penalty=-1.0)
    with pytest.raises(InputError, match=r"length_penalty \(GNMT alpha\) must be >= 0, got -0.5"):
        run_beam(model, src, lengths, max_lengths, beam_size=2, length_penalty=-0.5)
    with pytest.raises(InputError, match=r"no_repeat_ngram_size must be >= 0 \(0 = off\), got -2"):
        length_and_repeat_rules(EOS, None, -2)
    with pytest.raises(InputError, match=r"no_repeat_ngram_size must be >= 1 for a rule, got 0"):
        NoRepeatNgram(0)
    with pytest.raises(InputError, match=r"min_lengths must be >= 0, got \[2, -1\]"):
        length_and_repeat_rules(EOS, torch.tensor([2, -1]), 0)


def test_coverage_penalty_on_a_model_without_attention_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"coverage_penalty=0.2 needs attention weights.*set "):
        run_beam(ALWAYS_EOS, *ONE_ROW, torch.tensor([4]), beam_size=2, coverage_penalty=0.2)
    [[hyp]] = run_beam(ALWAYS_EOS, *ONE_ROW, torch.tensor([4]), beam_size=2)  # 0 = off: fine
    assert hyp.attention is None


def test_length_and_repeat_rules_build_only_what_is_asked() -> None:
    assert length_and_repeat_rules(EOS, None, 0) == []
    assert length_and_repeat_rules(EOS, torch.tensor([0, 0]), 0) == []
    rules = length_and_repeat_rules(EOS, torch.tensor([0, 3]), 2)
    assert [type(r) for r in rules] == [MinLength, NoRepeatNgram]


# --- wiring: config, Translator, CLI ------------------------------------------------------------


def config_errors(search: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(
            {"data": {"corpus": "toy-reverse"}, "train": {"max_steps": 1}, "search": search}
        )
    return str(info.value)


def test_search_config_fields_defaults_and_errors() -> None:
    defaults = SearchConfig()
    assert defaults.length_penalty_type == "gnmt" and defaults.coverage_penalty == 0.0
    assert (defaults.min_len, defaults.min_len_ratio, defaults.no_repeat_ngram_size) == (0, 0, 0)
    assert defaults.early_stopping is False
    annotation = SearchConfig.model_fields["length_penalty_type"].annotation
    assert get_args(annotation) == LENGTH_PENALTY_TYPES  # config and search agree
    message = config_errors({"length_penalty_type": "long"})
    assert "search.length_penalty_type: 'long':" in message and "'average'" in message
    assert "search.coverage_penalty: -0.1:" in config_errors({"coverage_penalty": -0.1})
    assert "search.min_len_ratio: -1:" in config_errors({"min_len_ratio": -1})
    assert "search.no_repeat_ngram_size: -3:" in config_errors({"no_repeat_ngram_size": -3})
    message = config_errors({"min_len": 40, "max_len": 40})
    assert "min_len (40) must be < max_len (40)" in message


def make_translator(attention: str = "luong_general") -> Translator:
    pairs = [Pair("1 2 3 4", "4 3 2 1", "t:1"), Pair("5 6 7", "7 6 5", "t:2")]
    codec = TextCodec.build(pairs, TokenizerConfig(kind="word"))
    torch.manual_seed(0)
    model_cfg = ModelConfig.model_validate(
        {
            "encoder": {"type": "gru", "hidden_size": 8, "embedding_size": 8},
            "decoder": {"type": "gru", "hidden_size": 8, "embedding_size": 8},
            "attention": attention,
        }
    )
    vocab = codec.tgt_vocab
    model = build_model(model_cfg, len(codec.src_vocab), len(vocab), vocab.pad_id)
    return Translator(model, codec, SearchConfig(beam_size=3, max_len_ratio=1.0, max_len_extra=4))


def test_translator_passes_every_option_to_the_searches() -> None:
    translator = make_translator()
    sources = ["1 2 3 4", "5 6"]
    for beam_size, sample in [(1, False), (3, False), (2, True)]:
        search = {"beam_size": beam_size, "sample": sample, "seed": 0, "n_best": 2 if sample else 1}
        for translation in translator.translate(sources, min_len=4, **search):
            for candidate in translation.candidates:
                assert len(candidate.token_log_probs) > 4  # >= 4 tokens, then EOS or the cap
        for translation in translator.translate(sources, no_repeat_ngram_size=1, **search):
            for candidate in translation.candidates:
                assert len(set(candidate.tokens)) == len(candidate.tokens)
    options = {"length_penalty_type": "average", "coverage_penalty": 0.3, "early_stopping": True}
    [translation] = translator.translate(["1 2 3 4"], n_best=2, **options)
    [best, second] = translation.candidates
    assert best.attention is not None and best.score >= second.score
    mean = sum(best.token_log_probs) / len(best.token_log_probs)
    cp = 0.3 * best.attention.sum(0).clamp(COVERAGE_FLOOR, 1.0).log().sum()
    assert best.score == pytest.approx(mean + float(cp), abs=1e-5)
    with pytest.raises(InputError, match=r"coverage_penalty=0\.3 needs attention weights"):
        make_translator("none").translate(["1 2 3"], coverage_penalty=0.3)
    with pytest.raises(InputError, match=r"min_len \(300\) must be < max_len \(256\)"):
        translator.translate(["1 2"], min_len=300)


def test_cli_flags_become_search_overrides() -> None:
    args = build_parser().parse_args(
        [
            "translate",
            "runs/x",
            "--length-penalty-type",
            "average",
            "--coverage-penalty",
            "0.2",
            "--min-len",
            "3",
            "--min-len-ratio",
            "0.5",
            "--no-repeat-ngram-size",
            "2",
            "--early-stopping",
        ]
    )
    assert _search_overrides(args) == {
        "length_penalty_type": "average",
        "coverage_penalty": 0.2,
        "min_len": 3,
        "min_len_ratio": 0.5,
        "no_repeat_ngram_size": 2,
        "early_stopping": True,
    }
    off = build_parser().parse_args(["evaluate", "runs/x", "--no-early-stopping"])
    assert _search_overrides(off) == {"early_stopping": False}
    assert _search_overrides(build_parser().parse_args(["translate", "runs/x"])) == {}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["translate", "runs/x", "--length-penalty-type", "long"])
