import os

import keras
import pytest

import agp_tf
from agp_tf import recurring, schedules
from agp_tf.data.synthetic import SyntheticCriteo
from agp_tf.data.windows import SyntheticWindows
from agp_tf.metrics import ctr_metrics
from agp_tf.models.dlrm import build_dlrm


def _setup(run_dir, settings, **run_options):
    stream = SyntheticCriteo(seed=1, num_days=2, rows_per_day=768, max_vocab_size=100)
    source = SyntheticWindows(stream, [0], test_day=1, window_rows=256)

    def build():
        model = build_dlrm(source.vocab_sizes, bottom_mlp=(16, 4), top_mlp=(16, 1), seed=0)
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", metrics=ctr_metrics())
        return model

    callback = agp_tf.GrowPruneCallback(schedules.alternate(0.5), None, importance_batches=2)
    run_options.setdefault("verbose", 0)
    run = recurring.WindowedRun(source, run_dir, 64, settings, callback, **run_options)
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
    # The checkpoint time is what the state (and so a resumed run) keeps.
    saved = recurring.load_state(run_dir)["results"]
    assert all(r["checkpoint_seconds"] > 0 for r in saved)
    assert [r["checkpoint_seconds"] for r in saved] == [r.checkpoint_seconds for r in results]
    # Only the last checkpoint by default.
    assert sorted(f for f in os.listdir(run_dir) if ".keras" in f) == ["checkpoint-3.keras"]
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


@pytest.mark.slow
def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    run_dir = str(tmp_path)
    run, build = _setup(run_dir, {"a": 1}, keep_checkpoints=2)
    run.train(run.restore_or(build))
    assert sorted(f for f in os.listdir(run_dir) if ".keras" in f) == [
        "checkpoint-2.keras", "checkpoint-3.keras"
    ]
    reference = recurring.load_state(run_dir)["previous"]
    with open(os.path.join(run_dir, "checkpoint-3.keras"), "wb") as handle:
        handle.write(b"half a zip file")
    again, build = _setup(run_dir, {"a": 1}, keep_checkpoints=2)
    restored = again.restore_or(build)
    warning = capsys.readouterr().out
    assert "checkpoint-3.keras" in warning and "checkpoint-2.keras" in warning
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


def test_with_one_checkpoint_a_corrupt_one_is_a_clear_error(tmp_path):
    run_dir = str(tmp_path)
    run, build = _setup(run_dir, {"a": 1})
    run.train(run.restore_or(build))
    with open(os.path.join(run_dir, "checkpoint-3.keras"), "wb") as handle:
        handle.write(b"half a zip file")
    again, build = _setup(run_dir, {"a": 1})
    with pytest.raises(ValueError, match=r"checkpoint-3.keras.*no earlier checkpoint.*--restart"):
        again.restore_or(build)
    with pytest.raises(ValueError, match="keep_checkpoints"):
        _setup(run_dir, {"a": 1}, keep_checkpoints=0)


def test_progress_line_names_window_phase_and_step(tmp_path, capsys):
    run, build = _setup(str(tmp_path), {"a": 1}, verbose=2)
    run.train(run.restore_or(build))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("window")]
    # alternate(0.5) over 12 steps: phases start at steps 0, 2, 5, 7, 10 (dense,
    # sparse, dense, sparse, dense); 4 steps a window; the line ends each window.
    assert [line.split("  ")[:4] for line in lines] == [
        ["window 1/3", "day 0 rows 0-256", "sparse (50% pruned)", "step 4/12"],
        ["window 2/3", "day 0 rows 256-512", "sparse (50% pruned)", "step 8/12"],
        ["window 3/3", "day 0 rows 512-768", "dense (regrown)", "step 12/12"],
    ]
    assert all(" loss " in line and "rows/s" in line for line in lines)


@pytest.mark.slow
def test_look_ahead_at_a_larger_batch_gives_the_same_metrics(tmp_path):
    runs = {}
    for eval_batch in (None, 256):
        run, build = _setup(str(tmp_path / str(eval_batch)), {"a": 1}, eval_batch_size=eval_batch)
        runs[eval_batch] = run.train(run.restore_or(build))
    for small, large in zip(runs[None], runs[256]):
        for name in ("bce", "ne", "accuracy", "auc"):
            assert large.lookahead[name] == pytest.approx(small.lookahead[name], rel=1e-5)
