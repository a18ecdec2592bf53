"""Realistic example runs for a newcomer to explore (``picidae demo``).

Written straight through the store with back-dated times, so the store looks like three days
of a small lab's work: the W2S idea with five seeds, an AutoGo iteration with three phases, a
learning-rate sweep, a crashed run with its traceback, a canceled run, a queued run and a long
pretraining run with thousands of steps over several stages. Every demo run is tagged ``demo``.
"""

from __future__ import annotations

import math
import random
import time
from array import array
from typing import Any

from picidae.core.ids import new_id
from picidae.core.run import LogLine
from picidae.store.base import Batch, RunQuery, SeriesChunk, Store

DEMO_TAG = "demo"
DAY = 86400.0


class _Maker:
    """Builds back-dated runs in a store."""

    def __init__(self, store: Store, rng: random.Random, start: float) -> None:
        self.store = store
        self.rng = rng
        self.clock = start
        self.ids: list[str] = []

    def run(self, name: str, *, at: float, parent: dict[str, Any] | None = None,
            status: str = "running", queued_for: float = 0.0, **fields: Any) -> dict[str, Any]:
        run_id = new_id(at)
        started = at + queued_for
        moves = []
        if status != "queued":
            moves.append({"from": "queued", "to": "running", "at": started,
                          "reason": fields.pop("start_reason", "started in-process"),
                          "actor": fields.pop("actor", "sdk")})
        record = {
            "id": run_id, "name": name, "status": status, "created_at": at,
            "started_at": started if status != "queued" else None,
            "last_heartbeat_at": started if status != "queued" else None,
            "parent_id": parent["id"] if parent else None,
            "root_id": (parent.get("root_id") or parent["id"]) if parent else run_id,
            "trigger": fields.pop("trigger", "child" if parent else "user"),
            "attempt": 1, "transitions": moves,
            "command": fields.pop("command", ["python", "train.py"]),
            "env": {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "hostname": "gpu-node-3"},
            **fields,
        }
        record["tags"] = [*record.get("tags", []), DEMO_TAG]
        rec = self.store.create_run(record)
        self.ids.append(run_id)
        return rec

    def series(self, run: dict[str, Any], key: str, steps: range | list[int], fn: Any,
               *, t0: float, dt: float, stage: str | None = None) -> list[float]:
        chunk = SeriesChunk(key, stage, array("q"), array("d"), array("d"))
        for i, step in enumerate(steps):
            chunk.steps.append(step)
            chunk.values.append(float(fn(step)))
            chunk.times.append(t0 + i * dt)
        self.store.write(run["id"], Batch(chunks=[chunk]))
        return list(chunk.values)

    def end(self, run: dict[str, Any], status: str, at: float, *, reason: str | None = None,
            actor: str = "sdk", failure: dict[str, Any] | None = None) -> None:
        self.store.transition(run["id"], status, reason=reason, actor=actor, at=at,
                              failure=failure)

    def noise(self, scale: float) -> float:
        return self.rng.gauss(0.0, scale)


def _w2s(m: _Maker, t: float) -> None:
    config = {"method": "confidence-reweighting", "weak_model": "gpt2",
              "strong_model": "qwen2.5-1.5b", "lr": 1e-5, "epochs": 2, "batch_size": 32,
              "aux_loss_weight": 0.5}
    parent = m.run("confidence-reweighting", at=t, alias="W2S idea", agent="research-agent",
                   benchmark="w2s-sciq", evaluation="pgr-hidden-labels", config=config,
                   tags=["w2s", "idea"], trigger="agent",
                   primary_metric={"name": "pgr", "mode": "max", "best": None, "step": None})
    ends = []
    for k, seed in enumerate(range(42, 47)):
        start = t + 60 + k * 40
        child = m.run(f"confidence-reweighting/seed-{seed}", at=start, parent=parent,
                      kind="seed", seed=seed, agent="research-agent", benchmark="w2s-sciq",
                      evaluation="pgr-hidden-labels", config={**config, "seed": seed},
                      primary_metric={"name": "pgr", "mode": "max", "best": None, "step": None},
                      command=["python", "w2s/train.py", "--seed", str(seed)])
        base = 0.62 + m.noise(0.03)
        m.series(child, "train/loss", range(0, 400), lambda s: 0.35 + 0.5 * math.exp(-s / 90)
                 + m.noise(0.02), t0=start + 5, dt=2.0, stage="train")
        pgr = m.series(child, "pgr", range(50, 401, 50),
                       lambda s, b=base: b * (1 - math.exp(-s / 120)) + m.noise(0.01),
                       t0=start + 100, dt=100.0, stage="eval")
        strong = 0.78 + m.noise(0.01)
        weak = 0.64 + m.noise(0.005)
        m.series(child, "strong_acc", [400], lambda s, v=strong: v, t0=start + 820, dt=1,
                 stage="eval")
        m.series(child, "weak_acc", [400], lambda s, v=weak: v, t0=start + 820, dt=1,
                 stage="eval")
        m.store.write(child["id"], Batch(
            summary={"pgr": pgr[-1], "strong_acc": strong, "weak_acc": weak,
                     "predictions": f"predictions-seed-{seed}.jsonl"},
            logs=[LogLine(start + 2, "stdout", f"seed {seed}: loading weak labels (gpt2)"),
                  LogLine(start + 820, "stdout", f"seed {seed}: PGR {pgr[-1]:.3f}")]))
        end = start + 830 + m.rng.uniform(0, 60)
        m.end(child, "completed", end)
        ends.append(end)
    m.store.write(parent["id"], Batch(summary={"note": "mean ± std across seeds 42–46"}))
    m.end(parent, "completed", max(ends) + 5, reason="all 5 seeds completed")


def _autogo(m: _Maker, t: float) -> None:
    parent = m.run("autogo-iteration-17", at=t, alias="AutoGo #17", agent="autogo-loop",
                   config={"iteration": 17, "board_size": 9, "mcts_simulations": 400,
                           "games_per_iteration": 2000},
                   tags=["autogo"], trigger="schedule",
                   command=["python", "-m", "autogo.iterate", "--iteration", "17"])
    t1 = t + 30
    games = m.run("autogo-iteration-17/collect-games", at=t1, parent=parent, kind="phase",
                  config={"games": 2000, "workers": 16})
    m.series(games, "games_played", range(0, 2001, 100), lambda s: s, t0=t1 + 10, dt=90)
    m.series(games, "avg_game_length", range(0, 2001, 100),
             lambda s: 61 + m.noise(2.0), t0=t1 + 10, dt=90)
    m.store.write(games["id"], Batch(outputs={"games": "game-records/iter-17 (2000 games)"},
                                     summary={"games_played": 2000}))
    m.end(games, "completed", t1 + 1900)
    t2 = t1 + 1920
    train = m.run("autogo-iteration-17/train-checkpoint", at=t2, parent=parent, kind="phase",
                  config={"lr": 2e-3, "batch_size": 512, "steps": 3000},
                  primary_metric={"name": "loss", "mode": "min", "best": None, "step": None})
    m.series(train, "loss", range(0, 3000, 10), lambda s: 1.2 * math.exp(-s / 1100) + 0.9
             + m.noise(0.03), t0=t2 + 20, dt=1.2, stage="train")
    m.series(train, "policy_loss", range(0, 3000, 10), lambda s: 0.8 * math.exp(-s / 900)
             + 0.6 + m.noise(0.02), t0=t2 + 20, dt=1.2, stage="train")
    m.series(train, "value_loss", range(0, 3000, 10), lambda s: 0.4 * math.exp(-s / 1300)
             + 0.3 + m.noise(0.02), t0=t2 + 20, dt=1.2, stage="train")
    m.store.write(train["id"], Batch(outputs={"checkpoint": "ckpt-iter-17.pt"}))
    m.end(train, "completed", t2 + 3700)
    t3 = t2 + 3720
    arena = m.run("autogo-iteration-17/arena-evaluation", at=t3, parent=parent, kind="phase",
                  config={"games": 400, "opponent": "iteration-16"},
                  primary_metric={"name": "win_rate", "mode": "max", "best": None,
                                  "step": None})
    m.series(arena, "win_rate", range(40, 401, 40), lambda s: 0.58 + m.noise(0.02),
             t0=t3 + 60, dt=60, stage="arena")
    m.store.write(arena["id"], Batch(summary={"win_rate": 0.583, "elo_gain": 58,
                                              "promoted": True}))
    m.end(arena, "completed", t3 + 640)
    m.store.write(parent["id"], Batch(summary={"promoted": True, "elo": 1847}))
    m.end(parent, "completed", t3 + 650, reason="all phases completed")


def _sweep(m: _Maker, t: float) -> None:
    parent = m.run("cv/resnet18-sweep", at=t, config={"model": "resnet18", "dataset": "cifar10",
                                                        "epochs": 30},
                   tags=["cv", "sweep"], primary_metric={"name": "val/acc", "mode": "max",
                                                         "best": None, "step": None})
    end = t
    k = 0
    for lr in (0.001, 0.003):
        for bs in (64, 128):
            start = t + 20 + k * 15
            k += 1
            child = m.run(f"cv/resnet18-sweep/lr={lr},bs={bs}", at=start, parent=parent,
                          kind="sweep-point",
                          config={"model": "resnet18", "dataset": "cifar10", "epochs": 30,
                                  "lr": lr, "batch_size": bs},
                          primary_metric={"name": "val/acc", "mode": "max", "best": None,
                                          "step": None})
            ceiling = 0.88 + (0.02 if lr == 0.003 else 0) - (0.01 if bs == 128 else 0)
            m.series(child, "train/loss", range(30), lambda s: 2.0 * math.exp(-s / 8) + 0.15
                     + m.noise(0.02), t0=start + 30, dt=40, stage="train")
            acc = m.series(child, "val/acc", range(30),
                           lambda s, c=ceiling: c * (1 - math.exp(-(s + 1) / 6))
                           + m.noise(0.004), t0=start + 50, dt=40, stage="val")
            m.store.write(child["id"], Batch(summary={"val/acc": acc[-1]}))
            finish = start + 1250 + m.rng.uniform(0, 100)
            m.end(child, "completed", finish)
            end = max(end, finish)
    m.end(parent, "completed", end + 2, reason="all 4 sweep points completed")


_TRACEBACK = """Traceback (most recent call last):
  File "train.py", line 142, in <module>
    main()
  File "train.py", line 118, in main
    loss = model(**batch).loss
  File "torch/nn/modules/module.py", line 1511, in _wrapped_call_impl
    return self._call_impl(*args, **kwargs)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB \
total capacity; 21.10 GiB already allocated)
"""


def _crashed(m: _Maker, t: float) -> None:
    run = m.run("nlp/bert-large-finetune", at=t, config={"model": "bert-large", "lr": 3e-5,
                                                          "batch_size": 64, "max_len": 512},
                tags=["nlp"], command=["python", "train.py", "--batch-size", "64"])
    m.series(run, "train/loss", range(0, 180), lambda s: 0.9 * math.exp(-s / 70) + 0.3
             + m.noise(0.02), t0=t + 10, dt=3, stage="train")
    m.store.write(run["id"], Batch(logs=[
        LogLine(t + 2, "stdout", "loading bert-large (335M parameters)"),
        LogLine(t + 550, "stderr", _TRACEBACK.strip().splitlines()[-1])]))
    m.end(run, "failed", t + 552, reason="crash", failure={
        "reason": "crash", "message": "torch.OutOfMemoryError: CUDA out of memory",
        "traceback": _TRACEBACK})


def _canceled(m: _Maker, t: float) -> None:
    run = m.run("rl/ppo-cartpole", at=t, config={"algo": "ppo", "env": "CartPole-v1",
                                                  "lr": 3e-4, "gamma": 0.99},
                tags=["rl"])
    m.series(run, "episode_return", range(0, 120), lambda s: min(500, 20 + s * 2.5
                                                                  + m.noise(15)),
             t0=t + 5, dt=4, stage="train")
    m.end(run, "canceled", t + 490, reason="interrupted", actor="user")


def _queued(m: _Maker, t: float) -> None:
    m.run("cv/vit-base-pretrain", at=t, status="queued", trigger="agent", agent="research-agent",
          config={"model": "vit-base", "lr": 1e-3, "epochs": 90},
          resources={"cpus": 8, "gpus": 1, "memory": "32G"}, tags=["cv"],
          command=["python", "pretrain.py", "--model", "vit-base"])


def _long(m: _Maker, t: float) -> None:
    run = m.run("lm/gpt-small-pretrain", at=t, config={"model": "gpt-small", "layers": 12,
                                                        "d_model": 768, "lr": 6e-4,
                                                        "warmup_steps": 500, "steps": 6000},
                tags=["lm"], primary_metric={"name": "eval/loss", "mode": "min", "best": None,
                                             "step": None})
    stages = [("warmup", range(0, 500)), ("train", range(500, 5000)),
              ("anneal", range(5000, 6000))]
    for stage, steps in stages:
        m.series(run, "loss", steps, lambda s: 2.6 + 8 * math.exp(-s / 700) + m.noise(0.05),
                 t0=t + 30 + steps.start * 1.5, dt=1.5, stage=stage)
        m.series(run, "lr", steps, lambda s: 6e-4 * min(1, (s + 1) / 500)
                 * (0.5 * (1 + math.cos(math.pi * s / 6000))), t0=t + 30 + steps.start * 1.5,
                 dt=1.5, stage=stage)
        m.series(run, "grad_norm", steps, lambda s: 0.4 + 2 * math.exp(-s / 400)
                 + abs(m.noise(0.1)), t0=t + 30 + steps.start * 1.5, dt=1.5, stage=stage)
    evals = m.series(run, "eval/loss", range(250, 6001, 250), lambda s: 2.75
                     + 8 * math.exp(-s / 700) + m.noise(0.02), t0=t + 400, dt=375, stage="eval")
    m.store.write(run["id"], Batch(
        summary={"eval/loss": evals[-1], "tokens_seen": 6000 * 512 * 1024},
        logs=[LogLine(t + 30 + i * 750, "stdout", f"step {i * 500}: loss falling")
              for i in range(12)]))
    m.end(run, "completed", t + 30 + 6000 * 1.5 + 60)


def fill(store: Store, *, seed: int = 17, now: float | None = None) -> list[str]:
    """Add the demo runs to ``store`` and return their ids."""
    now = time.time() if now is None else now
    m = _Maker(store, random.Random(seed), now)
    _long(m, now - 3.0 * DAY)
    _sweep(m, now - 2.2 * DAY)
    _crashed(m, now - 1.6 * DAY)
    _w2s(m, now - 1.2 * DAY)
    _canceled(m, now - 0.8 * DAY)
    _autogo(m, now - 0.5 * DAY)
    _queued(m, now - 0.1 * DAY)
    return m.ids


def has_demo(store: Store) -> bool:
    """Whether the store already holds demo runs."""
    return bool(store.list_runs(RunQuery(tags=[DEMO_TAG], limit=1)))
