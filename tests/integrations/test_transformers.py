"""Hugging Face's PicidaeCallback: a 2-layer BERT built from a config in the test (no
download), trained by ``Trainer`` for a few steps on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from integration_helpers import framework, points, stored

import picidae

torch = framework("torch", "transformers")
transformers = framework("transformers", "transformers")
from picidae.integrations.transformers import PicidaeCallback  # noqa: E402


def _model() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=16, num_labels=2)
    return transformers.BertForSequenceClassification(config)


def _data(n: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(0, 50, (8,), generator=gen),
             "attention_mask": torch.ones(8, dtype=torch.long),
             "labels": torch.tensor(i % 2)} for i in range(n)]


def _trainer(tmp_path: Path, callbacks: list[Any], **args: Any) -> Any:
    args = {"eval_strategy": "steps", "eval_steps": 2, **args}
    arguments = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=8,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
        learning_rate=1e-3, seed=5, **args)
    return transformers.Trainer(model=_model(), args=arguments, train_dataset=_data(32),
                                eval_dataset=_data(8), callbacks=callbacks)


class _Raise(transformers.TrainerCallback):  # type: ignore[misc]
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 2:
            raise RuntimeError("NaN in the gradients")


def test_arguments_and_model_config_logs_at_the_global_step_summary_and_model(
        tmp_path: Path) -> None:
    cb = PicidaeCallback("hf/bert-tiny", log_checkpoints=True)
    trainer = _trainer(tmp_path, [cb])
    trainer.train()

    rv = stored(cb.run)
    assert rv.status == "completed"
    assert rv.config["hidden_size"] == 16 and rv.config["num_hidden_layers"] == 2
    assert rv.config["model_type"] == "bert"
    assert rv.config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}
    assert rv.config["learning_rate"] == 1e-3 and rv.config["max_steps"] == 4
    assert rv.config["seed"] == 5 and rv.config["output_dir"] == str(tmp_path / "out")
    history = trainer.state.log_history
    keys = {k for entry in history for k in entry} - {"step"}
    assert sorted(rv.metric_keys()) == sorted(keys)
    assert {"loss", "learning_rate", "eval_loss", "train_loss"} <= keys
    for key in keys:
        assert points(rv, key) == [(e["step"], e[key]) for e in history if key in e]
    final_eval = [e for e in history if "eval_loss" in e][-1]
    totals = history[-1]
    assert rv.summary["eval_loss"] == final_eval["eval_loss"]
    assert rv.summary["train_loss"] == totals["train_loss"]
    assert rv.summary["train_runtime"] == totals["train_runtime"]
    [artifact] = [a for a in rv.artifacts() if a.type != "code"]  # a dirty tree adds a diff
    assert (artifact.name, artifact.type) == ("final-model", "model")
    assert (tmp_path / "out" / "final-model" / "config.json").exists()


def test_an_exception_inside_training_fails_the_run_at_the_end_of_its_block(
        tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="NaN"), PicidaeCallback("hf/boom") as cb:
        _trainer(tmp_path, [cb, _Raise()]).train()

    rv = stored(cb.run)
    assert rv.status == "failed" and rv.failure["reason"] == "crash"
    assert rv.failure["message"] == "RuntimeError: NaN in the gradients"
    assert [s for s, _ in points(rv, "loss")] == [1]  # step 2 raised before its log


def test_a_given_run_is_recorded_into_and_left_open(tmp_path: Path) -> None:
    run = picidae.init("hf/mine")
    _trainer(tmp_path, [PicidaeCallback(run=run)], eval_strategy="no").train()
    rv = stored(run)
    assert rv.status == "running" and [s for s, _ in points(rv, "loss")] == [1, 2, 3, 4]
    run.finish()
