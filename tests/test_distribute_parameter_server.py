"""Asynchronous growth and pruning on real processes: coordinator, 2 workers, 1 parameter server.

Every process is started by `LocalProcesses` in its own process group on
127.0.0.1 and killed when the test ends, passed or failed. The coordinator
runs `tests/programs/ps_train.py` (a small MLP, alternate(0.5) with 20%
phases: flips at steps 24, 48, 72, 96 of 120).
"""

import json
import os
import signal
import sys
import time

import numpy as np
import pytest

from agp_tf.distribute import cluster as cluster_lib
from agp_tf.distribute.processes import LocalProcesses

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join(REPO, "tests", "programs", "ps_train.py")
CHIEF = cluster_lib.Task("chief", 0)
PS = cluster_lib.Task("ps", 0)
FLIPS = [[24, 0.0, 0.5], [48, 0.5, 0.0], [72, 0.0, 0.5], [96, 0.5, 0.0]]


def start_cluster(tmp_path, workers=2, ps=1):
    spec = cluster_lib.local_cluster(workers, ps=ps, chief=True)
    processes = LocalProcesses(
        spec, str(tmp_path / "logs"),
        environ={"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO},
    )
    for task_type in ("ps", "worker"):
        for index in range(len(spec[task_type])):
            processes.start_server(cluster_lib.Task(task_type, index))
    return processes


def start_chief(processes, out, *args):
    return processes.start(CHIEF, [sys.executable, PROGRAM, "--out", str(out), *args])


def wait_for_line(processes, task, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in processes.log_tail(task, lines=400):
            return
        if processes.processes[task].poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{task} never printed {text!r}:\n{processes.log_tail(task)}")


def finish(processes, timeout=240):
    code = processes.wait(CHIEF, timeout=timeout)
    assert code == 0, processes.log_tail(CHIEF)


def read_result(out):
    with open(out / "result.json") as handle:
        return json.load(handle)


def check_flip_records(result):
    """Right after each flip: pruned neurons all zero, slots reset; regrown start per the rule."""
    previous = None
    for record in result["flip_records"]:
        for name, layer in record["layers"].items():
            keep = np.array(layer["mask"], bool)
            kernel = np.array(layer["kernel"])
            slot_max = np.array(layer["slot_max"])
            consumer_rows = {consumer: np.array(rows) for consumer, rows in layer["consumer_rows"].items()}
            if record["to"] > 0:  # a prune
                assert not keep.all(), (record["step"], name)
                assert np.all(kernel[:, ~keep] == 0), (record["step"], name)
                assert np.all(np.array(layer["bias"])[~keep] == 0), (record["step"], name)
                for rows in consumer_rows.values():
                    assert np.all(rows[~keep] == 0), (record["step"], name)
                assert np.all(slot_max[~keep] == 0), (record["step"], name)
            else:  # a regrowth: the neurons pruned before come back per "zero_output"
                regrown = ~np.array(previous["layers"][name]["mask"], bool)
                assert keep.all() and regrown.any(), (record["step"], name)
                for consumer, rows in consumer_rows.items():
                    # Outgoing weights into the consumer's neurons that were
                    # active are zero, so the model's output is unchanged
                    # (a consumer regrown too draws its own new column).
                    before = previous["layers"].get(consumer, {}).get("mask")
                    active = np.ones(rows.shape[1], bool) if before is None else np.array(before, bool)
                    assert np.all(rows[np.ix_(regrown, active)] == 0), (record["step"], name)
                assert np.all(slot_max[regrown] == 0), (record["step"], name)
                assert np.all(np.array(layer["bias"])[regrown] == 0), (record["step"], name)
                # New draws from the kernel initializer, not zeros.
                assert np.all(np.abs(kernel[:, regrown]).max(axis=0) > 0), (record["step"], name)
        previous = record


def test_async_alternate_keeps_pruned_weights_zero_with_steps_in_flight(tmp_path):
    out = tmp_path / "out"
    with start_cluster(tmp_path) as processes:
        # Each step's input waits 20 ms, so steps are still running when a flip is due.
        start_chief(processes, out, "--step_sleep", "0.02")
        finish(processes)
    result = read_result(out)
    assert result["steps"] == 120
    assert result["flips"] == FLIPS
    # Masks and optimizer slots live on the parameter server.
    devices = result["mask_devices"] + result["slot_devices"]
    assert len(devices) > 2 and all("/job:ps/" in device for device in devices), devices
    # The race was there to lose: steps in flight when flips were due ...
    assert any(result["in_flight_at_flips"]), result["in_flight_at_flips"]
    # ... and no step, on any worker, saw a non-zero pruned weight after its update.
    assert result["pruned_magnitude"] == 0.0
    check_flip_records(result)
    # The prunes scored exactly their 4 training steps (atomic accumulation).
    assert result["scored_steps"] == 4
    assert all(all(mask) for mask in result["final_masks"].values())
    assert result["steps_applied"] == 120
    assert result["accuracy"] > 0.8


@pytest.mark.slow
def test_worker_killed_mid_run_does_not_stop_training(tmp_path):
    out = tmp_path / "out"
    with start_cluster(tmp_path) as processes:
        start_chief(processes, out, "--step_sleep", "0.05")
        wait_for_line(processes, CHIEF, "flip at step 24", timeout=120)
        processes.kill(cluster_lib.Task("worker", 1), signal.SIGKILL)
        finish(processes)
    result = read_result(out)
    # Every scheduled step finished, counted on the coordinator, the flips
    # landed on their steps, and the invariants held.
    assert result["steps"] == 120
    assert result["flips"] == FLIPS
    assert result["pruned_magnitude"] == 0.0
    check_flip_records(result)
    # A closure lost with its worker runs again: at least every step reached the server.
    assert result["steps_applied"] >= 120


@pytest.mark.slow
def test_parameter_server_killed_then_job_resumes_from_checkpoint(tmp_path):
    out, checkpoints = tmp_path / "out", tmp_path / "checkpoints"
    args = ["--step_sleep", "0.05", "--checkpoint_dir", str(checkpoints), "--checkpoint_every", "20"]
    with start_cluster(tmp_path) as processes:
        start_chief(processes, out, *args)
        wait_for_line(processes, CHIEF, "ckpt-40", timeout=180)
        processes.kill(PS, signal.SIGKILL)
        code = processes.wait(CHIEF, timeout=120)
        assert code != 0, "the coordinator must fail when its parameter server is gone"
        assert not (out / "result.json").exists()
        # Restart the parameter server on its port, then the job.
        processes.start_server(PS)
        start_chief(processes, out, *args)
        finish(processes)
    result = read_result(out)
    assert result["resumed_from"] >= 40
    assert result["steps"] == 120
    # Flips after the restart still land on the schedule's steps.
    assert [flip for flip in FLIPS if flip[0] > result["resumed_from"]] == [
        flip for flip in result["flips"]
    ]
    assert result["pruned_magnitude"] == 0.0
    assert all(all(mask) for mask in result["final_masks"].values())


@pytest.mark.slow
def test_dlrm_with_embedding_shards_on_two_parameter_servers(tmp_path):
    out = tmp_path / "out"
    with start_cluster(tmp_path, workers=2, ps=2) as processes:
        start_chief(processes, out, "--model", "dlrm", "--embedding_shards", "2",
                    "--total_steps", "60", "--optimizer", "sgd", "--taylor_source", "data")
        finish(processes)
    result = read_result(out)
    # One shard on each parameter server.
    devices = result["embedding_devices"]
    assert sorted(device.split("/task:")[1][0] for device in devices) == ["0", "1"], devices
    assert all("/job:ps/" in device for device in devices), devices
    assert [flip[0] for flip in result["flips"]] == [12, 24, 36, 48]
    assert result["pruned_magnitude"] == 0.0
    check_flip_records(result)
    assert result["steps"] == result["steps_applied"] == 60
    assert result["scored_steps"] is None  # scored on extra batches, on the coordinator


# ---- in this process: the parts that need no cluster ------------------------


def test_pruned_weights_finds_any_non_zero_pruned_entry():
    import keras
    import tensorflow as tf

    from agp_tf import GrowPruneController, schedules
    from agp_tf.distribute.parameter_server import pruned_weights
    from tests import helpers

    model = helpers.mlp((3, 4, 2, 1), prunable=(True, False, False))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    controller = GrowPruneController(model, schedules.alternate(0.5), total_steps=10)
    controller.flip_to(0.5, step=0)
    layer, consumer = model.get_layer("d0"), model.get_layer("d1")
    pruned = int(np.flatnonzero(~layer.mask_numpy())[0])
    assert float(pruned_weights(controller.layers, controller.consumers)) == 0.0
    kernel = layer.kernel.numpy()
    kernel[1, pruned] = -0.25
    layer.kernel.assign(kernel)
    assert float(pruned_weights(controller.layers, controller.consumers)) == 0.25
    layer.kernel.assign(kernel * layer.mask_numpy())
    rows = consumer.kernel.numpy()
    rows[pruned, 0] = 0.5
    consumer.kernel.assign(rows)
    assert float(tf.function(pruned_weights)(controller.layers, controller.consumers)) == 0.5


def test_trainer_needs_a_parameter_server_strategy():
    import keras
    import tensorflow as tf

    from agp_tf.distribute.parameter_server import ParameterServerTrainer
    from tests import helpers

    model = helpers.mlp()
    with pytest.raises(ValueError, match="Received: strategy=_DefaultDistributionStrategy"):
        ParameterServerTrainer(tf.distribute.get_strategy(), model, keras.optimizers.SGD(),
                               keras.losses.BinaryCrossentropy())
