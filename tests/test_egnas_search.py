"""The EG-NAS greedy search driven by scripted accuracies.

Every rule is checked against hand-written accuracy tables: depth acceptance at +0.10, the
-0.05 neutral band, fail counters, train-accuracy and target stops, incumbent (not last) depth
kept, width loop, epoch bookkeeping, the micro-phase parameter budget, batched mode, prefix
tells through checkpoints, and resume through the runner.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from jaxnas.errors import ConfigError
from jaxnas.nn import count_params
from jaxnas.search import runner
from jaxnas.search.base import EvalRecord, SearchContext, SearchRecord
from jaxnas.search.codec import decode, encode
from jaxnas.search.egnas import (
    EGNAS,
    EGNASConfig,
    PRESETS,
    TrainerEvaluator,
    plain_genome,
    searched_space,
)
from jaxnas.search.store import SeedStore
from jaxnas.spaces.egnas import EgnasGenome
from jaxnas.train.options import MemberResult
from jaxnas.train.recipe import TrainRecipe

CTX = SearchContext(space_name="egnas", dataset="fashion_mnist")
SPACE = searched_space(None, EGNASConfig())  # parses every genome the tests' searches write


def parse_genome(text: str) -> EgnasGenome:
    return SPACE.parse(text)


def genome_string(g: EgnasGenome) -> str:
    return SPACE.to_string(g)


def params(g: EgnasGenome) -> int:
    """Parameters on Fashion-MNIST (10 classes, 28x28x1), as the search counts them."""
    return count_params("egnas", g, 10, (28, 28, 1))


class Script:
    """Accuracies from tables: depth -> (acc, train acc) in the depth phase, width -> acc in
    the width phase, and a function for micro candidates. Records every asked candidate."""

    def __init__(self, depth_acc, width_acc=None, micro=None, train_acc=None):
        self.depth_acc = depth_acc
        self.width_acc = width_acc or {}
        self.micro = micro or (lambda g: 50.0)
        self.train_acc = train_acc or {}
        self.asked: list[tuple[str, int]] = []

    def __call__(self, genome: str, epochs: int, role: str) -> dict[str, float]:
        self.asked.append((genome, epochs))
        g = parse_genome(genome)
        if role in ("start", "depth"):
            acc = self.depth_acc.get(g.depth, 0.0)  # past the stop (batched)
            return {"accuracy": acc, "train_accuracy": self.train_acc.get(g.depth, 90.0)}
        if role == "width":
            return {"accuracy": self.width_acc.get(g.width, 0.0), "train_accuracy": 90.0}
        return {"accuracy": self.micro(g), "train_accuracy": 90.0}


def drive(strategy: EGNAS, script: Script, max_steps: int = 500, split: bool = False):
    """Run to the end; returns (final state, list of asked batches of (genome, epochs, role)).
    ``split``: tell each population in two parts with a checkpoint round trip between them
    (as the runner does when the budget cuts a batch, then resumes)."""
    state = strategy.init(0)
    batches = []
    for _ in range(max_steps):
        state, genomes = strategy.ask(state)
        if not genomes:
            break
        assert all(type(g) is EgnasGenome for g in genomes)  # plain genomes, no config
        epochs = [b.epochs for b in strategy.budgets(state, genomes)]
        roles = [c.role for c in state.open]
        names = [genome_string(g) for g in genomes]
        batches.append(list(zip(names, epochs, roles)))
        records = [SearchRecord(n, n, script(n, e, r)) for n, e, r in zip(names, epochs, roles)]
        if split and len(genomes) > 1:
            state = strategy.tell(state, genomes[:1], records[:1])
            state = decode(json.loads(json.dumps(encode(state))), strategy.init(0))
            state, rest = strategy.ask(state)
            assert [genome_string(g) for g in rest] == names[1:]
            state = strategy.tell(state, rest, records[1:])
        else:
            state = strategy.tell(state, genomes, records)
    assert state.done and strategy.ask(state)[1] == []
    return state, batches


def flat(batches):
    return [c for b in batches for c in b]


def macro_only(**kw):
    return EGNAS(None, EGNASConfig(search_ops=False, search_kernels=False, **kw), CTX)


# ------------------------------------------------------------------------------ depth phase

DEPTH_TABLE = {
    10: 80.00,
    11: 80.11,  # >= 80.00 + 0.10: accept
    12: 80.15,  # < 80.21 but >= 80.06: neutral, no fail
    13: 80.07,  # neutral
    14: 80.00,  # < 80.06: fail 1
    15: 80.30,  # >= 80.21: accept, fails reset
    16: 79.00,  # fail 1
    17: 79.00,  # fail 2
    18: 80.35,  # neutral (< 80.40): fails stay at 2
    19: 79.00,  # third fail: stop
    20: 99.0, 21: 99.0,
}
WIDTH_TABLE = {62: 80.30, 60: 80.0, 58: 80.5, 56: 80.0, 54: 80.0, 52: 80.0, 50: 99.0}


def test_depth_and_width_rules_and_epoch_bookkeeping():
    state, batches = drive(macro_only(), Script(DEPTH_TABLE, WIDTH_TABLE))
    cands = flat(batches)
    depth = [(parse_genome(n).depth, e) for n, e, r in cands if r in ("start", "depth")]
    # depths 10..19 tried, each at 10 + (d - 10) epochs (E grows for rejected ones too)
    assert depth == [(d, d) for d in range(10, 20)]
    assert state.macro_depth == 15  # the incumbent, not the last depth tried (19)
    width = [(parse_genome(n).width, parse_genome(n).depth, e) for n, e, r in cands
             if r == "width"]
    # E continues from 19: +2 per narrower candidate; 62 accepted (not worse), 60 fail,
    # 58 accepted, 56/54 fail, 52 is the third fail in a row -> stop
    assert width == [(62, 15, 21), (60, 15, 23), (58, 15, 25), (56, 15, 27), (54, 15, 29),
                     (52, 15, 31)]
    assert state.macro_width == 58 and state.macro_epochs == 25
    # micro phase: the macro net retrained once at 2 epochs (ops and kernels switched off)
    base = [c for c in cands if c[2] == "op_base"]
    assert base == [(genome_string(plain_genome(15, 58)), 2, "op_base")]
    assert state.result == genome_string(plain_genome(15, 58))


def test_train_accuracy_stop_is_strictly_above_threshold():
    # 99.6 > 99.5: no deeper candidate; the width phase starts at E = 10 + 2
    s1, b1 = drive(macro_only(max_width_candidates=1), Script({10: 70.0}, {62: 60.0},
                                                              train_acc={10: 99.6}))
    assert [(r, e) for n, e, r in flat(b1)][:2] == [("start", 10), ("width", 12)]
    # exactly 99.5 is not above: the depth phase goes on
    s2, b2 = drive(macro_only(max_depth_candidates=1, max_width_candidates=1),
                   Script({10: 70.0, 11: 70.0}, {62: 60.0}, train_acc={10: 99.5}))
    assert [r for n, e, r in flat(b2)][:3] == ["start", "depth", "width"]


def test_target_accuracy_stops_depth_phase():
    state, batches = drive(macro_only(max_width_candidates=0), Script({10: 99.95}))
    assert [r for n, e, r in flat(batches)] == ["start", "op_base"]
    assert state.macro_depth == 10


def test_width_stops_at_min_width_and_max_depth_cap():
    cfg = dict(max_width=20, min_width=16, max_depth=12)
    table = {10: 50.0, 11: 51.0, 12: 52.0}
    state, batches = drive(macro_only(**cfg), Script(table, {18: 60.0, 16: 61.0}))
    cands = flat(batches)
    # depth stops at max_depth (the loop condition L != max_depth), both accepted
    assert [parse_genome(n).depth for n, e, r in cands if r in ("start", "depth")] == [10, 11, 12]
    # width: 18 and 16 tried (E 14, 16) then C <= min_width stops
    assert [(parse_genome(n).width, e) for n, e, r in cands if r == "width"] == [(18, 14),
                                                                                 (16, 16)]
    assert state.macro_width == 16 and state.macro_depth == 12


def test_epoch_scale_and_caps():
    s = macro_only(epoch_scale=0.25, max_depth_candidates=2, max_width_candidates=1)
    _, batches = drive(s, Script({10: 1.0, 11: 2.0, 12: 3.0, 13: 9.0}, {62: 1.0}))
    # nominal E 10, 11, 12 -> 2, 3, 3 trained epochs (rounded, >= 1); width nominal 14 -> 4;
    # micro 2 -> 0.5 -> at least 1
    assert [e for n, e, r in flat(batches)] == [2, 3, 3, 4, 1]


@pytest.mark.parametrize("mode", ["faithful", "batched"])
def test_cpu_preset_trains_every_candidate_at_least_4_epochs_of_20000_images(mode):
    cfg = dataclasses.replace(PRESETS["cpu"], mode=mode)
    assert cfg.n_train >= 10_000 and cfg.min_epochs >= 2
    # every flip improves, so the micro phase runs its longest (accepted flips shrink widths)
    script = Script({6: 85.0, 7: 86.0, 8: 87.0}, {46: 87.5, 44: 88.0},
                    micro=lambda g: 88.0 + 0.5 * sum(g.ops) + 0.1 * g.kernels.count(5))
    _, batches = drive(EGNAS(None, cfg, CTX), script)
    cands = flat(batches)
    roles = {r for _, _, r in cands}
    assert {"start", "depth", "width", "op_base", "op", "kernel"} <= roles
    assert min(e for _, e, _ in cands) == 4  # micro candidates too
    # measured ~56 s per trained candidate-epoch here (a faithful search: 37 in 2,076 s), so
    # even this longest search (every flip accepted) stays inside the hour
    assert sum(e for _, e, _ in cands) <= 50


# ------------------------------------------------------------------------------ micro phase


def micro_script(better_layers: set[int], kernel_better: set[int] = frozenset()):
    """Micro accuracy: 50 + 1 per standard conv at a 'better' layer - 1 per other one,
    + 0.5 per kernel 5 at a 'kernel_better' layer - 0.5 per other one."""
    def acc(g):
        a = 50.0
        for i, (o, k) in enumerate(zip(g.ops, g.kernels)):
            if o == 1:
                a += 1.0 if i in better_layers else -1.0
            if k == 5:
                a += 0.5 if i in kernel_better else -0.5
        return a
    return acc


def test_operation_and_kernel_phase_param_budget_and_cumulative_flips():
    strategy = EGNAS(None, EGNASConfig(max_width=24, max_depth_candidates=0,
                                       max_width_candidates=0), CTX)
    script = Script({10: 50.0}, {}, micro_script({1, 4}, {2}))
    state, batches = drive(strategy, script)
    cands = flat(batches)
    micro = [(parse_genome(n), e, r) for n, e, r in cands if r in ("op", "kernel")]
    assert all(e == 2 for _, e, _ in micro)  # micro epochs fixed at 2
    assert len([m for m in micro if m[2] == "op"]) == 10  # one candidate per layer
    assert len([m for m in micro if m[2] == "kernel"]) == 10
    macro = plain_genome(10, 24)
    p0 = params(macro)
    ops_seen = []
    for g, _, role in micro:
        if role != "op":
            continue
        # width: the largest one <= the macro width within P0 + 0.01 M
        assert params(g) <= p0 + 10_000
        if g.width < 24:
            assert params(dataclasses.replace(g, width=g.width + 1)) > p0 + 10_000
        ops_seen.append(g.ops)
    # flips accumulate: layer 1 accepted, so every later candidate keeps op[1] = 1;
    # layer 0 was rejected and reverted
    assert ops_seen[2][1] == 1 and ops_seen[2][0] == 0
    final = parse_genome(state.result)
    assert final.ops == tuple(1 if i in (1, 4) else 0 for i in range(10))
    assert final.kernels == tuple(5 if i == 2 else 3 for i in range(10))
    # kernel budget reference = the ops result
    ops_result = [g for g, _, r in micro if r == "op" and g.ops == final.ops][0]
    ref = params(ops_result)
    for g, _, role in micro:
        if role == "kernel":
            assert params(g) <= ref + 10_000
    assert state.acc == pytest.approx(50.0 + 2 + 0.5)


def test_micro_acceptance_is_strict():
    # every flip scores exactly the baseline: nothing is accepted (authors: acc > cur)
    strategy = EGNAS(None, EGNASConfig(max_width=20, max_depth_candidates=0,
                                       max_width_candidates=0, micro_layers=3), CTX)
    state, _ = drive(strategy, Script({10: 50.0}, {}, lambda g: 50.0))
    assert state.result == genome_string(plain_genome(10, 20))


def test_final_width_macro_option():
    strategy = EGNAS(None, EGNASConfig(max_width=24, max_depth_candidates=0,
                                       max_width_candidates=0, final_width="macro"), CTX)
    state, _ = drive(strategy, Script({10: 50.0}, {}, micro_script({0, 1, 2})))
    g = parse_genome(state.result)
    assert g.width == 24 and g.ops[:3] == (1, 1, 1)


# ------------------------------------------------------------------------------ batched mode


def test_batched_macro_decisions_equal_faithful():
    faithful, fb = drive(macro_only(), Script(DEPTH_TABLE, WIDTH_TABLE))
    batched, bb = drive(macro_only(mode="batched", batch_depth=4, batch_width=4),
                        Script(DEPTH_TABLE, WIDTH_TABLE))
    assert (batched.macro_depth, batched.macro_width, batched.macro_epochs) == \
        (faithful.macro_depth, faithful.macro_width, faithful.macro_epochs)
    assert batched.result == faithful.result
    # same budget for every candidate both modes trained
    fe = {(n, e) for n, e, r in flat(fb)}
    assert fe <= {(n, e) for n, e, r in flat(bb)}
    # fewer populations, a few extra (unused) candidates past the stopping points
    assert len(bb) < len(fb) and len(flat(bb)) >= len(flat(fb))
    assert len(bb[0]) == 5  # start net + depths 11..14 together


def test_batched_micro_round_and_combos():
    strategy = EGNAS(None, EGNASConfig(mode="batched", max_width=24, max_depth_candidates=0,
                                       max_width_candidates=0, batch_combos=2), CTX)
    state, batches = drive(strategy, Script({10: 50.0}, {}, micro_script({1, 4, 7}, {2})))
    roles = [[r for _, _, r in b] for b in batches]
    assert roles[1] == ["op_base"] + ["op"] * 10  # baseline + all single flips together
    assert roles[2] == ["op_combo"] * 2  # best 2 and best 3 improving flips
    assert roles[3] == ["kernel"] * 10
    final = parse_genome(state.result)
    assert final.ops == tuple(1 if i in (1, 4, 7) else 0 for i in range(10))
    assert final.kernels == tuple(5 if i == 2 else 3 for i in range(10))


def test_context_batched_flag_and_presets():
    s = EGNAS(None, EGNASConfig(), dataclasses.replace(CTX, batched=True))
    assert s.config.mode == "batched"
    assert set(PRESETS) == {"paper", "small", "smoke", "cpu"}
    assert PRESETS["paper"] == EGNASConfig()  # the authors' limits unchanged
    # the run-size presets only shrink limits and data (and, for the short CPU proxies, the
    # recipe); every search rule stays the authors'
    rules = ("start_epochs", "add_epochs", "add_epochs_w", "micro_epochs", "dp_add_tolerance",
             "ch_drop_tolerance", "dp_break_tolerance", "ch_break_tolerance", "train_acc_stop",
             "param_slack", "micro_kernels", "width_resolution", "selection")
    for name in ("small", "smoke", "cpu"):
        assert all(getattr(PRESETS[name], r) == getattr(EGNASConfig(), r) for r in rules)
    assert PRESETS["small"].learning_rate == PRESETS["smoke"].learning_rate == 0.025
    # every recipe field reaches the candidates' TrainRecipe (crop_size: 28 px MNIST crops)
    recipe = EGNASConfig(crop_size=28, cutout_size=0, learning_rate=0.1).recipe(3)
    assert (recipe.epochs, recipe.crop_size, recipe.cutout_size, recipe.learning_rate) == (
        3, 28, 0, 0.1)
    assert EGNASConfig().recipe(1).crop_size == 32  # the authors' 32 px crops by default
    with pytest.raises(ConfigError, match="crop_size"):
        EGNASConfig(crop_size=0)
    with pytest.raises(ConfigError):
        EGNASConfig(mode="fast")
    with pytest.raises(ConfigError):
        EGNASConfig(selection="train")


def test_prefix_tells_through_checkpoints_keep_every_decision():
    """The runner may tell part of a population, checkpoint and resume: same decisions."""
    cfg = EGNASConfig(mode="batched", max_width=24, max_depth_candidates=4,
                      max_width_candidates=3, micro_layers=4)
    script = Script(DEPTH_TABLE, {22: 80.5, 20: 80.4, 18: 81.0}, micro_script({0, 3}, {6}))
    whole, wb = drive(EGNAS(None, cfg, CTX), script)
    parts, pb = drive(EGNAS(None, cfg, CTX), script, split=True)
    assert pb == wb and parts.result == whole.result and parts.events == whole.events


# ------------------------------------------------------------------------------ evaluator


class FakeTrainer:
    """Stands in for train_population: accuracy from a table, counts trainings."""

    def __init__(self, fail_after: int | None = None):
        self.trained: list[tuple[str, int]] = []
        self.fail_after = fail_after

    def __call__(self, space_name, genomes, budgets, train, val, **kwargs):
        out = []
        for g, b in zip(genomes, budgets):
            if self.fail_after is not None and len(self.trained) >= self.fail_after:
                raise KeyboardInterrupt("killed")
            self.trained.append((genome_string(g), b.epochs))
            acc = DEPTH_TABLE.get(g.depth, 50.0) - (64 - g.width) * 0.01
            out.append(MemberResult(genome_string(g), "ok", val_acc_per_epoch=(acc - 1, acc),
                                    train_acc_per_epoch=(80.0, 90.0), params=1))
        return out


def run_with(monkeypatch, cfg, trainer, run_dir, **kw):
    """One seed through the runner, its EG-NAS evaluator training with ``trainer``."""
    made = []

    def make_evaluator(name, space, context, **options):
        assert name == "egnas"
        made.append(TrainerEvaluator(space, context, cfg, data=(None, None, None),
                                     train_fn=trainer))
        return made[-1]

    monkeypatch.setattr(runner, "make_evaluator", make_evaluator)
    options = tuple((f.name, str(getattr(cfg, f.name))) for f in dataclasses.fields(cfg)
                    if getattr(cfg, f.name) != f.default)
    config = runner.RunConfig(space="egnas", dataset="fashion_mnist", strategy="egnas",
                              queries=10 ** 6, options=options)
    return runner.run_seed(config, 0, run_dir, **kw), made[-1]


def test_killed_search_resumes_through_the_runner_without_retraining(monkeypatch, tmp_path):
    cfg = EGNASConfig(max_width=24, max_depth_candidates=3, max_width_candidates=2,
                      micro_layers=2)
    killed = FakeTrainer(fail_after=5)
    with pytest.raises(KeyboardInterrupt):
        run_with(monkeypatch, cfg, killed, tmp_path)
    assert len(SeedStore(tmp_path, 0).load_evals()) == 5
    fresh = FakeTrainer()
    result, _ = run_with(monkeypatch, cfg, fresh, tmp_path)
    assert not set(fresh.trained) & set(killed.trained)  # nothing trained twice
    evals = SeedStore(tmp_path, 0).load_evals()
    assert len(evals) == len(killed.trained) + len(fresh.trained)
    # the runner's budget is in candidate-epochs: the sum of the trained epochs
    assert result["queries"] == sum(e for _, e in killed.trained + fresh.trained)
    # an uninterrupted run in a new directory gives the same output and trainings
    whole = FakeTrainer()
    result2, _ = run_with(monkeypatch, cfg, whole, tmp_path / "whole")
    assert whole.trained == killed.trained + fresh.trained
    assert result2["result"]["genome"] == result["result"]["genome"]
    assert result2["curve"] == result["curve"]


def test_records_carry_the_epochs_and_selection_switch():
    cfg = EGNASConfig(selection="test")
    res = MemberResult("g", "ok", val_acc_per_epoch=(10.0, 20.0),
                       test_acc_per_epoch=(30.0, 25.0), train_acc_per_epoch=(5.0, 6.0))
    seen = {}

    def train_fn(space_name, genomes, budgets, train, val, *, key, test_data=None, **kwargs):
        seen["test"] = test_data
        return [res for _ in genomes]

    ev = TrainerEvaluator(None, CTX, cfg, data=("tr", "va", "te"), train_fn=train_fn)
    strategy = EGNAS(None, cfg, CTX)
    state, genomes = strategy.ask(strategy.init(0))
    budgets = strategy.budgets(state, genomes)
    assert budgets == [TrainRecipe(epochs=10)]  # the counter's epochs, TrainRecipe's SGD
    assert ev.costs(genomes, budgets) == [10.0]
    (rec,) = ev.evaluate(genomes, budgets)
    assert isinstance(rec, EvalRecord) and rec.cost == 10.0
    assert rec.key == genome_string(genomes[0]) and rec.info["epochs"] == 10
    assert rec.metrics["accuracy"] == 30.0  # best test acc
    assert rec.metrics["train_accuracy"] == 6.0 and seen["test"] == "te"
    assert rec.report["best_val_acc"] == 20.0
    # trained before: free, the same record; the same genome at another budget is not
    assert ev.costs(genomes, budgets) == [0.0]
    assert ev.costs(genomes, [TrainRecipe(epochs=2)]) == [2.0]
    # diverged members lose every comparison
    bad = dataclasses.replace(res, status="diverged")
    ev2 = TrainerEvaluator(None, CTX, data=(1, 2, 3), train_fn=lambda *a, **k: [bad])
    (rec2,) = ev2.evaluate(genomes, budgets)
    assert rec2.metrics["accuracy"] == 0.0 and not math.isnan(rec2.metrics["accuracy"])
    # the evaluator keeps its own settings and needs the strategy's recipes
    assert ev2.config == EGNASConfig()
    with pytest.raises(ConfigError, match="TrainRecipe"):
        ev2.evaluate(genomes)
    assert TrainerEvaluator(None, CTX, preset="smoke", n_val="64").config == \
        dataclasses.replace(PRESETS["smoke"], n_val=64)


@pytest.mark.slow
def test_end_to_end_with_real_trainer_on_fashion_mnist(shared_data, tmp_path):
    cfg = dataclasses.replace(PRESETS["smoke"], n_train=256, n_val=128, n_test=128)
    options = (("n_test", "128"), ("n_train", "256"), ("n_val", "128"))
    # the evaluator gets the run's preset and data sizes through evaluator_options
    config = runner.RunConfig(space="egnas", dataset="fashion_mnist", strategy="egnas",
                              queries=10 ** 6, preset="smoke", options=options,
                              evaluator_options=(("preset", "smoke"),) + options,
                              data_dir=str(shared_data))
    made = []
    make = runner.make_evaluator

    def make_evaluator(*args, **kw):  # the real evaluator, kept to count its trainings
        made.append(make(*args, **kw))
        return made[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "make_evaluator", make_evaluator)
        part = runner.run_seed(config, 0, tmp_path, stop_after_steps=2)
        assert not part["finished"] and made[-1].config == cfg
        first = made[-1].trainings
        result = runner.run_seed(config, 0, tmp_path)
    evals = SeedStore(tmp_path, 0).load_evals()
    assert result["finished"] and "genome" in result["result"]
    trained = sum(1 for _, _, rec in evals if rec.cost > 0)  # cost 0: a repeat, not trained
    assert made[-1].trainings == trained - first  # the resumed run never retrained
    for _, _, rec in evals:
        assert 0.0 <= rec.metrics["accuracy"] <= 100.0


def test_finished_search_asks_nothing_and_evaluator_accepts_it():
    # the generic runner asks a finished search again (resume of a completed run)
    ev = TrainerEvaluator(None, CTX, data=(None, None, None), train_fn=FakeTrainer())
    assert ev.costs([]) == [] and ev.evaluate([]) == []
