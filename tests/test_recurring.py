import os

import keras
import pytest

import agp_tf
from agp_tf import recurring, schedules
from agp_tf.data.synthetic import SyntheticCriteo
from agp_tf.data.windows import SyntheticWindows
from agp_tf.metrics import ctr_metrics
from agp_tf.models.dlrm import build_dlrm


def _setup(run_dir, settings):
    stream = SyntheticCriteo(seed=1, num_days=2, rows_per_day=768, max_vocab_size=100)
    source = SyntheticWindows(stream, [0], test_day=1, window_rows=256)

    def build():
        model = build_dlrm(source.vocab_sizes, bottom_mlp=(16, 4), top_mlp=(16, 1), seed=0)
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", metrics=ctr_metrics())
        return model

    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), None, importance_batches=2)
    run = recurring.WindowedRun(source, run_dir, 64, settings, callback, verbose=0)
    return run, build


def test_windows_are_evaluated_then_trained_and_checkpointed(tmp_path):
    run_dir = str(tmp_path)
    run, build = _setup(run_dir, {"a": 1})
    model = run.restore_or(build)
    results = run.train(model)
    assert [r.index for r in results] == [0, 1, 2]
    assert set(results[0].lookahead) >= {"loss", "accuracy", "auc", "bce", "ne"}
    assert all(r.rows == 256 for r in results)
    assert recurring.mean_lookahead(results, "bce") == pytest.approx(
        sum(r.lookahead["bce"] for r in results) / 3
    )
    assert sorted(f for f in os.listdir(run_dir) if f.endswith(".keras")) == [
        "checkpoint-2.keras", "checkpoint-3.keras"
    ]
    assert recurring.load_state(run_dir)["windows_done"] == 3

    again, build = _setup(run_dir, {"a": 1})
    restored = again.restore_or(build)
    assert again.windows_done == 3 and len(again.results) == 3
    assert int(keras.ops.convert_to_numpy(restored.optimizer.iterations)) == 12
    assert again.callback.flips and again.callback.flips[0].step == run.callback.flips[0].step

    other, build = _setup(run_dir, {"a": 2})
    with pytest.raises(ValueError, match=r"other settings \(a\)"):
        other.restore_or(build)


def test_relative_change():
    assert recurring.relative_change(0.99, 1.0) == pytest.approx(-0.01)
    assert recurring.relative_change(1.0, None) != recurring.relative_change(1.0, None)  # NaN


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    run_dir = str(tmp_path)
    run, build = _setup(run_dir, {"a": 1})
    run.train(run.restore_or(build))
    reference = recurring.load_state(run_dir)["previous"]
    with open(os.path.join(run_dir, "checkpoint-3.keras"), "wb") as handle:
        handle.write(b"half a zip file")
    again, build = _setup(run_dir, {"a": 1})
    restored = again.restore_or(build)
    assert "checkpoint-3.keras" in capsys.readouterr().out
    assert again.windows_done == 2 == reference["windows_done"]
    assert len(again.results) == 2
    assert int(keras.ops.convert_to_numpy(restored.optimizer.iterations)) == 8
    again.train(restored)  # the last window again, then a good checkpoint-3
    assert recurring.load_state(run_dir)["windows_done"] == 3
    assert recurring.load_state(run_dir)["previous"]["windows_done"] == 2


def test_a_corrupt_state_file_is_named(tmp_path):
    with open(os.path.join(tmp_path, recurring.STATE_FILE), "w") as handle:
        handle.write('{"windows_done": 2,')
    with pytest.raises(ValueError, match="state.json"):
        recurring.load_state(str(tmp_path))
