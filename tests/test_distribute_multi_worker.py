"""Synchronous multi-worker `model.fit` + `GrowPruneCallback` under `MultiWorkerMirroredStrategy`.

Unit tests of `agp_tf.distribute.multi_worker` and of the controller's
cross-worker mean of Taylor terms run in the pytest process (no strategy
spanning processes is ever created here: one strategy per process).

The cluster tests start `tests/programs/multi_worker_fit.py` twice through
`LocalProcesses` with a `local_cluster(2)` spec on 127.0.0.1, and once more
as a plain process without TF_CONFIG (the default strategy: the reference).
Every process builds the same global dataset (batches of 32) and `fit`
lets the strategy split each global batch into one half per worker, so a
2-worker step and a 1-process step train on the same 32 rows. Schedule
alternate(0.5) over 80 steps: pruned at steps 16 and 48, regrown at 32 and
64. With taylor_source="data" each worker scores only its half of every
importance batch, so the workers agree on the neurons only through the
all-reduce of the terms; that run is marked slow (`-m slow`), the default
suite runs the "training" one and the in-process test of the mean.

Tolerance against the single process: the all-reduce sums two half-batch
gradients where one process sums one batch, so floats round differently.
Measured on this machine after 80 steps of SGD with momentum: at most
2.4e-7 absolute on weights of magnitude ~1 and 1.1e-6 relative on the
momentum slots and on the Taylor scores; masks are equal. Asserted:
rtol=1e-5, atol=1e-6. Between the two workers everything is bit-identical.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from agp_tf import GrowPruneController, schedules
from agp_tf.distribute import cluster as cluster_lib
from agp_tf.distribute import keras_compat, multi_worker
from agp_tf.distribute.processes import LocalProcesses
from tests.helpers import dataset, mirrored_strategy, mlp, xor_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join(REPO, "tests", "programs", "multi_worker_fit.py")
WORKERS = [cluster_lib.Task("worker", 0), cluster_lib.Task("worker", 1)]
FLIP_STEPS = [16, 32, 48, 64]
RTOL, ATOL = 1e-5, 1e-6
TIMEOUT = 240


# ---- multi_worker, in this process --------------------------------------------


def _config(cluster, task_type="worker", index=0):
    task = {"type": task_type, "index": index}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}


TWO_WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


def test_missing_or_wrong_tf_config_is_refused_by_name(monkeypatch):
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        multi_worker.check_multi_worker_config({})
    with pytest.raises(ValueError, match="not valid JSON"):
        multi_worker.check_multi_worker_config({"TF_CONFIG": "{cluster"})
    with pytest.raises(ValueError, match="is not in the cluster"):
        multi_worker.check_multi_worker_config(_config(TWO_WORKERS, index=2))
    with pytest.raises(ValueError, match="parameter-server cluster"):
        multi_worker.check_multi_worker_config(
            _config({"worker": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"]})
        )
    with pytest.raises(ValueError, match="this process is evaluator:0"):
        multi_worker.check_multi_worker_config(
            _config(dict(TWO_WORKERS, evaluator=["127.0.0.1:3"]), "evaluator")
        )
    cluster, task = multi_worker.check_multi_worker_config(_config(TWO_WORKERS, index=1))
    assert cluster == TWO_WORKERS and task == cluster_lib.Task("worker", 1)
    # The strategy function checks before it patches Keras or creates anything.
    monkeypatch.delenv("TF_CONFIG", raising=False)
    keras_compat.restore()
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        multi_worker.multi_worker_strategy()
    assert not keras_compat.is_applied()


class _Resolver:
    def __init__(self, task_type, task_id, cluster):
        self.task_type, self.task_id, self._cluster = task_type, task_id, cluster

    def cluster_spec(self):
        return tf.train.ClusterSpec(self._cluster)


def _strategy_of(task_type, task_id, cluster):
    return types.SimpleNamespace(cluster_resolver=_Resolver(task_type, task_id, cluster))


def test_is_chief_from_the_strategy_resolver(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert multi_worker.is_chief(tf.distribute.get_strategy())
    assert multi_worker.is_chief(None)
    assert multi_worker.is_chief(_strategy_of("worker", 0, TWO_WORKERS))
    assert not multi_worker.is_chief(_strategy_of("worker", 1, TWO_WORKERS))
    with_chief = dict(TWO_WORKERS, chief=["127.0.0.1:3"])
    assert multi_worker.is_chief(_strategy_of("chief", 0, with_chief))
    assert not multi_worker.is_chief(_strategy_of("worker", 0, with_chief))
    assert multi_worker.is_chief(_strategy_of(None, None, {}))  # a one-process MWMS
    # No resolver: TF_CONFIG decides.
    monkeypatch.setenv("TF_CONFIG", _config(TWO_WORKERS, index=1)["TF_CONFIG"])
    assert not multi_worker.is_chief(tf.distribute.get_strategy())
    assert multi_worker.task_of(None) == cluster_lib.Task("worker", 1)


def test_scratch_dir_is_the_directory_on_the_chief_and_a_removed_temp_elsewhere(tmp_path):
    target = str(tmp_path / "tb")
    with multi_worker.scratch_dir(target, _strategy_of("worker", 0, TWO_WORKERS)) as directory:
        assert directory == target and os.path.isdir(target)
    with multi_worker.scratch_dir(target, _strategy_of("worker", 1, TWO_WORKERS)) as directory:
        assert directory != target and os.path.isdir(directory)
        assert "worker-1" in os.path.basename(directory)
        with open(os.path.join(directory, "events"), "w") as handle:
            handle.write("x")
    assert not os.path.exists(directory)
    assert os.listdir(target) == []


def test_one_process_strategies_are_not_multi_worker():
    assert not multi_worker.is_multi_worker(tf.distribute.get_strategy())
    if mirrored_strategy() is not None:
        assert not multi_worker.is_multi_worker(mirrored_strategy())


# ---- the controller's mean over workers (taylor_source="data") ------------------


class _TwoWorkers(tf.distribute.MultiWorkerMirroredStrategy):
    """Stands in for a 2-worker strategy: the "other worker" scored `bonus - terms`.

    The mean of the two is then `bonus / 2` whatever this worker scored.
    """

    def __init__(self, bonus):  # no cluster: only what the controller uses
        self.bonus = bonus
        self.reduced = []

    num_replicas_in_sync = property(lambda self: 2)
    extended = property(lambda self: types.SimpleNamespace(worker_devices=("/cpu:0",)))

    def experimental_distribute_values_from_function(self, value_fn):
        return value_fn(None)

    def reduce(self, reduce_op, value, axis=None):
        value = value.numpy()
        self.reduced.append((reduce_op, value.shape, axis))
        return tf.constant((value + (self.bonus - value)) / 2.0)


def _data_controller():
    model = mlp((3, 16, 8, 1))
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy")
    x, y = xor_data(64)
    return model, GrowPruneController(
        model, schedules.alternate(0.5), total_steps=10,
        importance_data=dataset(x, y, 16), importance_batches=2, taylor_source="data",
    )


def test_one_process_terms_are_not_reduced():
    model, controller = _data_controller()
    terms = [[np.ones(16, np.float32), np.ones(8, np.float32)]]
    assert controller._mean_over_workers(terms) is terms


def test_data_scores_use_the_mean_of_the_workers_terms_before_squaring(monkeypatch):
    model, controller = _data_controller()
    bonus = np.zeros(24, np.float32)
    chosen = {"d0": np.arange(8, 16), "d1": np.array([1, 4, 6, 7])}  # not the tie-break's
    bonus[chosen["d0"]] = 1.0
    bonus[16 + chosen["d1"]] = 1.0
    fake = _TwoWorkers(bonus)
    monkeypatch.setattr(type(model), "distribute_strategy", property(lambda self: fake))
    event = controller.flip_to(0.5, step=3)
    assert fake.reduced == [(tf.distribute.ReduceOp.MEAN, (2, 24), None)]  # one collective
    for name, kept in chosen.items():
        np.testing.assert_array_equal(np.flatnonzero(model.get_layer(name).mask_numpy()), kept)
        expected = 2 * np.square(bonus[:16] / 2 if name == "d0" else bonus[16:] / 2)
        np.testing.assert_allclose(event.scores[name], expected)


# ---- two worker processes -------------------------------------------------------


def _environ():
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    return env


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no log)"


class Run:
    """The outputs of one cluster run and of its single-process reference."""

    def __init__(self, out, logs, seconds):
        self.out, self.logs, self.seconds = out, logs, seconds
        self.arrays = {n: dict(np.load(os.path.join(out, f"{n}.npz"))) for n in self.names}
        self.results = {}
        for name in self.names:
            with open(os.path.join(out, f"{name}.json")) as handle:
                self.results[name] = json.load(handle)

    names = ("worker-0", "worker-1", "single")


def _run(tmp_path, taylor_source):
    out, logs, tb = (str(tmp_path / name) for name in ("out", "logs", "tb"))
    os.makedirs(logs)
    command = [
        sys.executable, PROGRAM, "--out", out, "--taylor_source", taylor_source, "--log_dir", tb,
    ]
    started = time.monotonic()
    single_log = os.path.join(logs, "single.log")
    single = None
    processes = LocalProcesses(cluster_lib.local_cluster(2), logs, environ=_environ())
    with processes:
        try:
            for task in WORKERS:
                processes.start(task, command)
            with open(single_log, "ab") as log:  # the reference: no TF_CONFIG
                single = subprocess.Popen(
                    command[:-2] + ["--log_dir", str(tmp_path / "tb_single")], env=_environ(),
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

            def tails():
                return "\n".join(
                    [f"--- {task} ---\n{processes.log_tail(task)}" for task in WORKERS]
                    + [f"--- single ---\n{_tail(single_log)}"]
                )

            codes = [processes.wait(task, timeout=TIMEOUT) for task in WORKERS]
            try:
                codes.append(single.wait(timeout=TIMEOUT))
            except subprocess.TimeoutExpired:
                raise AssertionError("the single process did not end:\n" + tails()) from None
            assert codes == [0, 0, 0], f"exit codes {codes}:\n{tails()}"
            logs_text = tails()
        finally:
            if single is not None:
                try:
                    os.killpg(single.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                single.wait()
    return Run(out, logs_text, time.monotonic() - started), tb


# The "data" run is slow-marked: ~20 s alone, ~40 s beside other test processes
# on 2 cores; its all-reduce is also tested in-process above.
@pytest.fixture(scope="module", params=["training", pytest.param("data", marks=pytest.mark.slow)])
def run(request, tmp_path_factory):
    result, tb = _run(tmp_path_factory.mktemp(f"mwms_{request.param}"), request.param)
    result.source, result.tb = request.param, tb
    print(f"\n2 workers + 1 single process, taylor_source={request.param}: {result.seconds:.1f} s")
    return result


def test_both_workers_end_bit_identical(run):
    first, second = run.arrays["worker-0"], run.arrays["worker-1"]
    assert sorted(first) == sorted(second)
    assert any(name.startswith("optimizer/") and "momentum" in name for name in first)
    assert any(name.startswith("scores/") for name in first)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=f"{name}\n{run.logs}")
    assert run.results["worker-0"]["mask_history"] == run.results["worker-1"]["mask_history"]


def test_the_strategy_spans_both_workers_and_splits_each_global_batch(run):
    for name in ("worker-0", "worker-1"):
        result = run.results[name]
        assert result["num_replicas"] == 2, run.logs
        assert result["steps_per_epoch"] == 8, run.logs  # 256 rows / global batch 32
    assert run.results["worker-0"]["chief"] and not run.results["worker-1"]["chief"]


def test_pruned_weights_stay_zero_at_every_sparse_step_on_both_workers(run):
    counts = [run.results[name]["sparse_steps_checked"] for name in ("worker-0", "worker-1")]
    assert counts[0] == counts[1] == 32, f"{counts}\n{run.logs}"  # steps 17..32 and 49..64


def test_masks_flip_then_end_dense(run):
    for name in Run.names:
        result = run.results[name]
        assert [flip[0] for flip in result["flips"]] == FLIP_STEPS, run.logs
        history = result["mask_history"]
        # Masks as seen after the steps that follow each flip.
        assert [step for step, _ in history] == [1] + [s + 1 for s in FLIP_STEPS], run.logs
        active = [{layer: sum(mask) for layer, mask in masks.items()} for _, masks in history]
        dense, sparse = {"d0": 16, "d1": 8}, {"d0": 8, "d1": 4}
        assert active == [dense, sparse, dense, sparse, dense], run.logs


def test_two_workers_match_the_single_process(run):
    worker, single = run.arrays["worker-0"], run.arrays["single"]
    assert sorted(worker) == sorted(single)
    assert run.results["worker-0"]["mask_history"] == run.results["single"]["mask_history"]
    for name in worker:
        np.testing.assert_allclose(
            worker[name], single[name], rtol=RTOL, atol=ATOL, err_msg=f"{name}\n{run.logs}"
        )


def test_tensorboard_is_written_by_the_chief_only(run):
    files = glob.glob(os.path.join(run.tb, "events.out.tfevents.*"))
    assert len(files) == 1, files
    assert f".{run.results['worker-0']['pid']}." in os.path.basename(files[0])
