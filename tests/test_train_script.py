"""End to end: scripts/train.py with small sizes, in subprocesses."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import agp_tf.models.dlrm  # noqa: F401  (registers DLRM's classes for load_model)
from tests.criteo_helpers import KAGGLE_HEAD
from tests.criteo_helpers import needs_kaggle_head
from tests.helpers import SMALL_TRAIN_FLAGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "train.py")
# The XLA path (the default) is run by the text-source and recurring tests,
# which pass --jit_compile (both slow); in the default suite, test_dlrm.py and
# test_compact.py train DLRM's layers under XLA in-process.
SMALL = SMALL_TRAIN_FLAGS
SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
data = np.load(sys.argv[2])
out = served.signatures["serving_default"](
    dense_features=tf.constant(data["dense"]), sparse_features=tf.constant(data["sparse"]))
np.save(sys.argv[3], out["probabilities"].numpy())
print(json.dumps(sorted(m for m in ("agp_tf", "keras_rs") if m in sys.modules)))
"""


def _train(run_dir, *flags, check=True):
    result = subprocess.run(
        [sys.executable, SCRIPT, f"--run_dir={run_dir}", *SMALL, *flags],
        capture_output=True, text=True, timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def _summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run"))
    result = _train(run_dir)
    return run_dir, result.stdout


def test_summary_flops_match_prediction(finished_run):
    run_dir, stdout = finished_run
    summary = _summary(run_dir)
    assert summary["train_flops_change"] == pytest.approx(summary["predicted_train_flops_change"], rel=1e-9)
    assert summary["train_flops_change"] < -0.2
    assert summary["flips"] == 4
    assert len(summary["windows"]) == 8
    for name in ("accuracy", "auc", "bce", "ne"):
        assert np.isfinite(summary["test"][name])
    assert "| training FLOPs change (measured)" in stdout
    assert "| look-ahead NE (mean over windows)" in stdout
    assert os.path.isfile(os.path.join(run_dir, "export", "saved_model.pb"))
    # CPU time of training: the windows' own, summed.
    with open(os.path.join(run_dir, "history.csv")) as handle:
        cpu = [float(row["train_cpu_seconds"]) for row in csv.DictReader(handle)]
    assert all(seconds > 0 for seconds in cpu)
    assert summary["train_cpu_seconds"] == pytest.approx(sum(cpu))
    assert "| training CPU time (all threads)" in stdout


@pytest.mark.slow  # about 6 s; tests/test_export.py serves an export in the default suite
def test_export_serves_without_agp_tf_and_matches_the_model(finished_run, tmp_path):
    run_dir, _ = finished_run
    import keras

    from agp_tf.data.synthetic import SyntheticCriteo

    batch = SyntheticCriteo(seed=0, num_days=3, rows_per_day=2048, max_vocab_size=500).day(2, 256)
    model = keras.models.load_model(os.path.join(run_dir, "final.keras"))
    expected = keras.ops.convert_to_numpy(model(batch.features()))
    np.savez(tmp_path / "data.npz", dense=batch.dense, sparse=batch.sparse)
    (tmp_path / "serve.py").write_text(SERVE)
    served = subprocess.run(
        [sys.executable, str(tmp_path / "serve.py"), os.path.join(run_dir, "export"),
         str(tmp_path / "data.npz"), str(tmp_path / "out.npy")],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=300,
    )
    assert served.returncode == 0, served.stderr[-2000:]
    assert json.loads(served.stdout.strip().splitlines()[-1]) == []
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_saved_model_cli_reads_the_export(finished_run):
    run_dir, _ = finished_run
    cli = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir",
         os.path.join(run_dir, "export"), "--all"],
        capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "serving_default" in cli.stdout and "sparse_features" in cli.stdout


@pytest.mark.slow
def test_recurring_training_continues_from_the_saved_step(finished_run, tmp_path):
    run_dir, _ = finished_run
    import keras

    saved = keras.models.load_model(os.path.join(run_dir, "final.keras"))
    steps_before = int(keras.ops.convert_to_numpy(saved.optimizer.iterations))
    recurring = str(tmp_path / "recurring")
    cache = tmp_path / "xla_cache"
    _train(recurring, "--jit_compile", f"--resume_from={os.path.join(run_dir, 'final.keras')}",
           "--schedule=dense", "--synthetic_train_days=3", "--synthetic_test_day=4",
           f"--xla_cache_dir={cache}", f"--baseline_run={run_dir}")
    model = keras.models.load_model(os.path.join(recurring, "final.keras"))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == steps_before + 4 * 8
    assert len(_summary(recurring)["windows"]) == 4
    summary, baseline = _summary(recurring), _summary(run_dir)
    assert summary["total_seconds_vs_baseline"] == pytest.approx(
        summary["total_seconds"] / baseline["total_seconds"] - 1
    )
    assert summary["test_ne_vs_baseline"] == pytest.approx(
        summary["test"]["ne"] / baseline["test"]["ne"] - 1
    )
    assert summary["checkpoint_seconds"] > 0 and summary["other_seconds"] > 0
    # The compiled steps went into the persistent cache for the next run, in
    # the folder of this TensorFlow version.
    import tensorflow as tf

    folder = cache / f"tensorflow-{tf.__version__}"
    assert any(name.startswith("xla_compile_cache") for name in os.listdir(folder))


def _masks_and_step(path):
    import keras

    model = keras.models.load_model(path)
    masks = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights if w.name == "mask"}
    return masks, int(keras.ops.convert_to_numpy(model.optimizer.iterations))


@pytest.mark.slow
def test_killed_run_resumes_and_ends_like_an_uninterrupted_one(finished_run, tmp_path):
    reference_dir, _ = finished_run
    run_dir = str(tmp_path / "killed")
    process = subprocess.Popen(
        [sys.executable, SCRIPT, f"--run_dir={run_dir}", *SMALL, "--keep_checkpoints=2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    state_path = os.path.join(run_dir, "state.json")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(state_path):
            with open(state_path) as handle:
                if json.load(handle)["windows_done"] >= 3:  # inside the first sparse phase
                    break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with open(state_path) as handle:
        done = json.load(handle)["windows_done"]
    assert 3 <= done < 8

    checkpoint = f"checkpoint-{done}.keras"
    masks, step = _masks_and_step(os.path.join(run_dir, checkpoint))
    assert step == done * 8
    assert any(not m.all() for m in masks.values()) or done >= 4

    _train(run_dir, "--keep_checkpoints=2")
    resumed = _summary(run_dir)
    reference = _summary(reference_dir)
    assert sorted(f for f in os.listdir(run_dir) if f.startswith("checkpoint")) == [
        "checkpoint-7.keras", "checkpoint-8.keras"
    ]
    assert resumed["resumed_after_windows"] == done
    for name in ("accuracy", "auc", "bce", "ne"):
        assert resumed["test"][name] == pytest.approx(reference["test"][name], rel=1e-5, abs=1e-6)
    assert resumed["train_flops"] == reference["train_flops"]
    assert [w["bce"] for w in resumed["windows"]] == pytest.approx(
        [w["bce"] for w in reference["windows"]], rel=1e-5
    )


@pytest.mark.parametrize("flags, message", [
    (["--schedule=dense", "--sparsity=0.5"], "--sparsity has no effect"),
    (["--schedule=pruning_only", "--prune_end=0.8"], "--prune_end has no effect"),
    (["--sparsity=1.5"], "sparsity=1.5"),
    (["--data=shards"], "--data=shards needs --data_path"),
    (["--data_path=/some/where"], "--data_path is only read with"),
    (["--pad_short_lines"], "--pad_short_lines is only read with --data=text"),
    (["--data=shards", "--data_path=x", "--synthetic_cache_dir=c"],
     "--synthetic_cache_dir is only read with --data=synthetic"),
    (["--data=text", "--data_path=x", "--window_rows=100"], "multiple of --batch_size"),
    (["--compact_export"], "ends dense"),
    (["--synthetic_test_day=1"], "--synthetic_test_day"),
    (["--keep_checkpoints=0"], "--keep_checkpoints must be >= 1"),
    (["--eval_batch_size=0"], "--eval_batch_size must be >= 1"),
    (["--steps_per_execution=0"], "--steps_per_execution must be >= 1"),
    (["--verbose=3"], "--verbose must be 0, 1 or 2"),
    (["--learning_rate=0"], "--learning_rate must be > 0"),
    (["--growth_scale=0"], "--growth_scale must be in (0, 1], got 0.0"),
    (["--growth=zero", "--growth_scale=0.5"], "--growth_scale has no effect with --growth=zero"),
    (["--bottom_mlp=a,b"], "--bottom_mlp must be comma-separated integers"),
    (["--prunable_layers=top_mlp_0,top_mlp_9"],
     "--prunable_layers: `prunable` names layers the model does not have: ['top_mlp_9']"),
    (["--prunable_layers=top_mlp_0", f"--resume_from={__file__}"],
     "--prunable_layers has no effect with --resume_from"),
    (["--importance_batches=100", "--taylor_source=data"], "exceeds --window_rows"),
])
def test_invalid_flags_are_named(train_flags, flags, message):
    train = train_flags(*flags)
    with pytest.raises(train.SettingsError, match=re.escape(message)):
        train.check_flags()


PS_CLUSTER = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "ps": ["127.0.0.1:3"]}


@pytest.mark.parametrize("tf_config, flags, message", [
    (None, ["--strategy=multi_worker"], "--strategy=multi_worker needs TF_CONFIG"),
    ({"cluster": {"worker": ["127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}},
     ["--strategy=multi_worker", "--jit_compile"], "add --nojit_compile"),
    ({"cluster": {"worker": ["127.0.0.1:2", "127.0.0.1:3"]}, "task": {"type": "worker", "index": 0}},
     ["--strategy=multi_worker", "--nojit_compile", "--steps_per_execution=8"],
     "--strategy=multi_worker runs one step per execution"),
    (None, ["--strategy=parameter_server"], "--strategy=parameter_server needs TF_CONFIG"),
    ("{not json", ["--strategy=multi_worker"], "TF_CONFIG is not valid JSON"),
    ({"cluster": PS_CLUSTER, "task": {"type": "chief", "index": 0}},
     ["--strategy=multi_worker"], "(it has a 'ps' job): use agp_tf.distribute.parameter_server (train.py --strategy=parameter_server)"),
    ({"cluster": {"worker": ["127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}},
     ["--strategy=parameter_server", "--nojit_compile"], "needs a chief (the coordinator) and a ps job"),
    ({"cluster": PS_CLUSTER, "task": {"type": "chief", "index": 0}},
     ["--strategy=parameter_server", "--jit_compile"], "add --nojit_compile"),
    ({"cluster": PS_CLUSTER, "task": {"type": "worker", "index": 5}},
     ["--strategy=parameter_server", "--nojit_compile"], "is not in the cluster"),
    ({"cluster": PS_CLUSTER, "task": {"type": "chief", "index": 0}},
     ["--strategy=parameter_server", "--nojit_compile", "--steps_per_execution=8"],
     "--steps_per_execution does not apply"),
])
def test_invalid_cluster_settings_are_named(train_flags, monkeypatch, tf_config, flags, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
    train = train_flags(*flags)
    with pytest.raises(train.SettingsError, match=re.escape(message)):
        train.check_flags()


def test_xla_cache_folder_per_tensorflow_version(train_flags, tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    train = train_flags("--jit_compile", f"--xla_cache_dir={tmp_path / 'xla'}")
    path = train.xla_cache_path()
    assert path == str(tmp_path / "xla" / f"tensorflow-{tf.__version__}")
    assert os.path.isdir(path)  # checked writable before TensorFlow reads it
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_auto_jit=0")
    train.use_xla_cache(path)
    train.use_xla_cache(path)  # a second run in one process adds nothing
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={path}"
    assert train_flags("--nojit_compile").xla_cache_path() is None
    assert train_flags("--jit_compile", "--xla_cache_dir=").xla_cache_path() is None
    # An unwritable folder: an error when asked for, a note for the default.
    (tmp_path / "file").write_text("not a folder")
    train = train_flags("--jit_compile", f"--xla_cache_dir={tmp_path / 'file'}")
    with pytest.raises(train.SettingsError, match="--xla_cache_dir: cannot write"):
        train.xla_cache_path()
    train = train_flags("--jit_compile")
    train.FLAGS.xla_cache_dir = str(tmp_path / "file")  # as if it were the default
    train.FLAGS["xla_cache_dir"].present = 0
    assert train.xla_cache_path() is None
    assert "Note: no XLA compilation cache" in capsys.readouterr().out


def test_invalid_settings_fail_before_training_with_one_line(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    result = _train(str(tmp_path / "bad"), f"--export_dir={tmp_path / 'file' / 'export'}",
                    check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("train.py: error")]
    assert len(lines) == 1 and "--export_dir: cannot write" in lines[0], result.stderr[-1000:]
    assert not os.path.exists(tmp_path / "bad" / "state.json")


def test_noexport_row_cache_and_growth_scale_end_to_end(finished_run, tmp_path):
    run_dir, cache = tmp_path / "cached", tmp_path / "rows"
    result = _train(str(run_dir), "--noexport", f"--synthetic_cache_dir={cache}",
                    "--growth_scale=0.5")
    summary, fresh = _summary(run_dir), _summary(finished_run[0])
    assert summary["export_dir"] is None and not os.path.exists(run_dir / "export")
    assert "none (--noexport)" in result.stdout
    # Every window and the test day were kept; the rows are the stream's own, so
    # the look-ahead before the first regrowth (at 40%) equals the uncached run's.
    (stream_dir,) = os.listdir(cache)
    assert len(os.listdir(cache / stream_dir)) == len(fresh["windows"]) + 1
    for cached_window, fresh_window in zip(summary["windows"][:3], fresh["windows"][:3]):
        assert cached_window["ne"] == pytest.approx(fresh_window["ne"], rel=1e-6)
    # Half-scale regrowth trains another model from there.
    assert summary["settings"]["growth_scale"] == 0.5
    assert summary["test"]["ne"] != pytest.approx(fresh["test"]["ne"], rel=1e-6)
    assert summary["train_flops"] == fresh["train_flops"]


def test_prunable_layers_choose_what_is_pruned(tmp_path):
    run_dir = tmp_path / "top_only"
    _train(str(run_dir), "--noexport", "--synthetic_train_days=0", "--synthetic_test_day=1",
           "--prunable_layers=top_mlp_0")
    summary = _summary(run_dir)
    assert summary["settings"]["prunable_layers"] == ["top_mlp_0"]
    with open(os.path.join(run_dir, "history.csv")) as handle:
        sparse = [row for row in csv.DictReader(handle) if float(row["train_sparsity"]) > 0]
    assert sparse and all(
        row["train_top_mlp_0/active_units"] == "9.0" for row in sparse  # 30% of 32 kept
    )
    assert "train_bottom_mlp_0/active_units" not in sparse[0]


def test_a_finished_run_run_again_prints_its_summary(finished_run, tmp_path):
    import shutil

    run_dir = str(tmp_path / "again")
    shutil.copytree(finished_run[0], run_dir)
    before = _summary(run_dir)
    result = _train(run_dir)
    assert "is finished" in result.stdout
    assert _summary(run_dir) == before


@pytest.mark.slow
def test_a_run_killed_after_its_last_window_finishes_the_summary(finished_run, tmp_path):
    import shutil

    run_dir = str(tmp_path / "no_summary")
    shutil.copytree(finished_run[0], run_dir)
    reference = _summary(run_dir)
    os.remove(os.path.join(run_dir, "summary.json"))
    _train(run_dir)
    summary = _summary(run_dir)
    assert summary["train_flops"] == reference["train_flops"]
    assert summary["train_flops_change"] == reference["train_flops_change"]
    assert summary["test"] == pytest.approx(reference["test"], rel=1e-6)


# The text and shard sources with the script's default --window_rows.
SOURCE_FLAGS = [f for f in SMALL if not f.startswith(("--window_rows", "--synthetic"))]


@pytest.fixture(scope="module")
def criteo_like_text(tmp_path_factory):
    from agp_tf.data.synthetic import SyntheticCriteo

    path = str(tmp_path_factory.mktemp("text") / "train.txt")
    SyntheticCriteo(rows_per_day=512, max_vocab_size=50).write_tsv(path)  # 7 days
    return path


def _train_source(run_dir, data, path, *flags):
    """train.py on --data=text or shards with the script's default --window_rows."""
    return subprocess.run(
        [sys.executable, SCRIPT, f"--run_dir={run_dir}", *SOURCE_FLAGS, f"--data={data}",
         f"--data_path={path}", *flags],
        capture_output=True, text=True, timeout=600,
    )


def _stripped_text_with_a_bad_line(criteo_like_text, tmp_path):
    # As some copies are: trailing empty fields stripped, and one bad line.
    with open(criteo_like_text) as handle:
        lines = [line.rstrip("\t") for line in handle.read().splitlines()]
    lines.insert(700, "2" + lines[700][1:])  # label 2
    text = tmp_path / "stripped.txt"
    text.write_text("\n".join(lines) + "\n")
    return text


def test_short_text_lines_are_refused_before_training(criteo_like_text, tmp_path, train_flags):
    text = _stripped_text_with_a_bad_line(criteo_like_text, tmp_path)
    train = train_flags("--data=text", f"--data_path={text}")
    with pytest.raises(train.SettingsError, match=f"--data=text: {re.escape(str(text))}:\\d+: "
                       ".*pass pad_short_lines=True \\(--pad_short_lines\\)"):
        train.load_source()


@pytest.mark.slow  # about 19 s: a full train.py run with XLA on the text source
def test_text_source_trains_end_to_end(criteo_like_text, tmp_path):
    text = _stripped_text_with_a_bad_line(criteo_like_text, tmp_path)
    run_dir = str(tmp_path / "text")
    result = _train_source(run_dir, "text", str(text), "--jit_compile", "--verbose=2", "--pad_short_lines",
                           "--skip_bad_lines", "--max_bad_fraction=0.01", "--eval_batch_size=1000")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (f"Read 3,584 rows from 1 file(s); skipped 1 bad lines, first: {text}:701: "
            "field label") in result.stdout
    # Output a person can read: no start-up noise, a line per window with
    # the phase in words, only the last checkpoint, no empty CSV columns.
    assert result.stderr == "", result.stderr[-3000:]
    windows = [line for line in result.stdout.splitlines() if line.startswith("window ")]
    assert windows == [windows[0]] and windows[0].startswith(
        "window 1/1  rows 0-3072  dense (regrown)  step 48/48  loss "
    ), windows
    assert "| schedule " in result.stdout and "alternate(0.7, phase_fraction=0.2) |" in result.stdout
    assert [f for f in os.listdir(run_dir) if f.startswith("checkpoint")] == ["checkpoint-1.keras"]
    with open(os.path.join(run_dir, "history.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [row["window"] for row in rows] == ["1"]
    assert all(any(row[column] for row in rows) for column in rows[0])
    assert {"lookahead_ne", "train_loss", "train_sparsity", "train_seconds"} <= set(rows[0])
    flips = [line for line in result.stdout.splitlines() if ": prune to" in line or ": regrow" in line]
    assert len(flips) == 4 and "neurons kept: " in flips[0], result.stdout[-2000:]
    summary = _summary(run_dir)
    assert sum(w["rows"] for w in summary["windows"]) == 6 * 512  # days 0-5 of 7
    assert summary["train_flops_change"] == pytest.approx(summary["predicted_train_flops_change"])


@pytest.mark.slow
def test_shard_source_trains_end_to_end_with_default_window(criteo_like_text, tmp_path,
                                                            train_flags):
    shards_dir = str(tmp_path / "shards")
    preprocess = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "preprocess.py"),
         f"--input={criteo_like_text}", f"--output_dir={shards_dir}", "--progress_seconds=0"],
        capture_output=True, text=True, timeout=300,
    )
    assert preprocess.returncode == 0, preprocess.stderr[-3000:]
    run_dir = str(tmp_path / "run")
    result = _train_source(run_dir, "shards", shards_dir, "--taylor_source=data")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(run_dir)
    assert summary["settings"]["window_rows"] == round(50_000 / 64) * 64
    assert sum(w["rows"] for w in summary["windows"]) == 6 * 512

    # A broken test shard is reported before training, not after it.
    from agp_tf.data import shards

    test_shard = shards.load_metadata(shards_dir)["splits"]["test"]["shards"][0]["file"]
    with open(os.path.join(shards_dir, test_shard), "r+b") as handle:
        handle.truncate(100)
    train = train_flags("--data=shards", f"--data_path={shards_dir}",
                        f"--run_dir={tmp_path / 'broken'}")
    with pytest.raises(train.SettingsError, match=f"cannot read the test split.*{test_shard}"):
        train.check_outputs_and_test_data(train.load_source(), str(tmp_path / "broken" / "e"))
    assert not os.path.exists(tmp_path / "broken" / "state.json")


@pytest.mark.slow  # about 22 s: preprocessing and a full train.py run on the real head
@needs_kaggle_head
def test_kaggle_recipe_at_small_scale(tmp_path):
    """BUILD.md's Criteo Kaggle recipe on the real 1000-line head."""
    shards_dir = str(tmp_path / "shards")
    preprocess = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "preprocess.py"), f"--input={KAGGLE_HEAD}",
         f"--output_dir={shards_dir}", "--pad_short_lines", "--progress_seconds=0"],
        capture_output=True, text=True, timeout=300,
    )
    assert preprocess.returncode == 0, preprocess.stderr[-3000:]
    run_dir = str(tmp_path / "kaggle_agp")
    result = subprocess.run(
        [sys.executable, SCRIPT, "--data=shards", f"--data_path={shards_dir}",
         "--schedule=alternate", "--sparsity=0.7", f"--run_dir={run_dir}", "--window_rows=256",
         "--batch_size=32", "--importance_batches=2", "--verbose=0", "--threads=1"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(run_dir)
    assert sum(w["rows"] for w in summary["windows"]) == 858  # days 0-5 of 1000 rows
    assert summary["flips"] == 4
    assert summary["train_flops_change"] == pytest.approx(summary["predicted_train_flops_change"])
    assert 0.0 < summary["test"]["auc"] < 1.0
