"""``picidae demo``: fill a store with realistic example runs."""

from __future__ import annotations

from typing import Annotated

import typer

from picidae import demo as demo_data
from picidae.store.registry import open_store

from .common import JsonOpt, StoreOpt, console, print_json


def demo(
    again: Annotated[bool, typer.Option("--again",
                     help="Add another set even if the store has the demo runs.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Fill the store with realistic example runs to look at."""
    target = open_store(store)
    if demo_data.has_demo(target) and not again:
        if json:
            print_json({"created": [], "store": target.url, "already": True})
        else:
            console.print(f"The store at {target.url} already has the demo runs "
                          "(--again adds another set). Look at them with: picidae runs ls")
        return
    ids = demo_data.fill(target)
    if json:
        print_json({"created": ids, "store": target.url, "already": False})
        return
    console.print(f"Added {len(ids)} example runs to {target.url}:\n"
                  "  confidence-reweighting   the W2S idea: a parent with five seeds (42–46)\n"
                  "  autogo-iteration-17      collect-games → train-checkpoint → "
                  "arena-evaluation\n"
                  "  cv/resnet18-sweep        a 2×2 learning-rate × batch-size sweep\n"
                  "  nlp/bert-large-finetune  a crash, with its traceback\n"
                  "  rl/ppo-cartpole          canceled by hand\n"
                  "  lm/gpt-small-pretrain    6,000 steps over warmup, train and anneal\n"
                  "  cv/vit-base-pretrain     queued, waiting for a worker\n\n"
                  "Next: picidae ui    |    picidae runs ls    |    picidae runs show ID")
