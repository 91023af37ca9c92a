"""Coordinator of a parameter-server test cluster: trains a small MLP with alternate(0.5).

Run as the "chief" task of a cluster (TF_CONFIG set by LocalProcesses). Writes
`<out>/result.json` (training log, masks and invariants) and `<out>/final.npz`
(weights, masks and optimizer variables read back from the parameter servers).
"""

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import helpers  # noqa: E402
from agp_tf import optimizer_state, schedules  # noqa: E402
from agp_tf.distribute import parameter_server  # noqa: E402
from agp_tf.models.dlrm import build_dlrm  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--total_steps", type=int, default=120)
    parser.add_argument("--checkpoint_dir", default=None)
    parser.add_argument("--checkpoint_every", type=int, default=None)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--taylor_source", default="training")
    parser.add_argument("--growth", default="zero_output")
    parser.add_argument("--step_sleep", type=float, default=0.0,
                        help="seconds each step's input waits (makes steps overlap a flip)")
    parser.add_argument("--compact", action="store_true")
    parser.add_argument("--model", default="mlp", choices=["mlp", "dlrm"])
    parser.add_argument("--embedding_shards", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("agp_tf").setLevel(logging.INFO)
    os.makedirs(args.out, exist_ok=True)

    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    strategy = tf.distribute.ParameterServerStrategy(resolver)
    if args.model == "mlp":
        x, y = helpers.xor_data(rows=512, features=3, seed=0)
    else:
        rng = np.random.default_rng(0)
        dense = rng.normal(size=(512, 13)).astype("float32")
        sparse = rng.integers(0, 6, size=(512, 3)).astype("int32")
        x = {"dense_features": dense, "sparse_features": sparse}
        y = ((dense[:, 0] > 0) ^ (sparse[:, 0] > 2)).astype("float32")
    with strategy.scope():
        if args.model == "mlp":
            model = helpers.mlp((3, 16, 8, 1), prunable=(True, True, False), seed=0)
        else:
            model = build_dlrm([6, 6, 6], embedding_dim=4, bottom_mlp=(16, 4), top_mlp=(16, 8, 1),
                               seed=0, embedding_shards=args.embedding_shards)
        optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[args.optimizer](0.05)
    trainer = parameter_server.ParameterServerTrainer(
        strategy, model, optimizer, keras.losses.BinaryCrossentropy(),
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
        check_pruned=True,
    )
    importance = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).repeat()
    controller = trainer.make_controller(
        schedules.alternate(0.5, phase_fraction=0.2), args.total_steps, importance_batches=4, growth=args.growth, compact=args.compact,
        taylor_source=args.taylor_source,
        importance_data=importance if args.taylor_source == "data" else None,
    )
    sleep = args.step_sleep

    def dataset_fn(context):
        data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(512, seed=context.input_pipeline_id)
        data = data.batch(32, drop_remainder=True).repeat()
        if sleep:
            def slow(a, b):
                tf.py_function(lambda: time.sleep(sleep), [], [])
                return a, b
            data = data.map(slow)
        return data

    flips = []

    def on_flip(event):
        # Right after the flip, before any later step: what the rule left.
        record = {"step": event.step, "to": event.to_sparsity, "layers": {}}
        for layer in controller.layers:
            slot_max = np.zeros(layer.units)
            for variable, axis, _ in layer.neuron_weights():
                for slot, _ in optimizer_state.slots(optimizer, variable):
                    value = np.abs(np.moveaxis(slot.numpy(), axis, 0)).reshape(layer.units, -1)
                    slot_max = np.maximum(slot_max, value.max(axis=1))
            consumers = {}
            for link in controller.consumers[layer.name]:
                rows = link.consumer.kernel.numpy()[link.offset:link.offset + layer.units]
                consumers[link.consumer.name] = rows.tolist()
                for slot, _ in optimizer_state.slots(optimizer, link.consumer.kernel):
                    rows = slot.numpy()[link.offset:link.offset + layer.units]
                    slot_max = np.maximum(slot_max, np.abs(rows).max(axis=1))
            record["layers"][layer.name] = {
                "mask": layer.mask_numpy().tolist(),
                "kernel": layer.kernel.numpy().tolist(),
                "bias": layer.bias.numpy().tolist(),
                "slot_max": slot_max.tolist(),
                "consumer_rows": consumers,
            }
        flips.append(record)
        print(f"flip at step {event.step} to {event.to_sparsity}", flush=True)

    log = trainer.fit(dataset_fn, args.total_steps, controller=controller, on_flip=on_flip)
    arrays = {f"w{i}": w.numpy() for i, w in enumerate(model.weights)}
    arrays.update({f"opt{i}": v.numpy() for i, v in enumerate(optimizer.variables)})
    np.savez(os.path.join(args.out, "final.npz"), **arrays)
    probe_steps = controller.last_scored_steps
    result = {
        "steps": log.steps,
        "resumed_from": log.resumed_from,
        "flips": [(e.step, e.from_sparsity, e.to_sparsity) for e in log.flips],
        "in_flight_at_flips": log.in_flight_at_flips,
        "pruned_magnitude": log.pruned_magnitude,
        "steps_applied": log.steps_applied,
        "losses": log.losses,
        "seconds": log.seconds,
        "scored_steps": probe_steps,
        "final_masks": {layer.name: layer.mask_numpy().tolist() for layer in controller.layers},
        "flip_records": flips,
        "accuracy": float(np.mean((np.asarray(model(x, training=False))[:, 0] > 0.5) == y)),
        # Where the masks and the optimizer's variables live.
        "mask_devices": [layer.mask.value.device for layer in controller.layers],
        "slot_devices": [v.value.device for v in optimizer.variables],
        "embedding_devices": (
            [shard.value.device for shard in model.get_layer("embedding").shards]
            if args.model == "dlrm" else []
        ),
    }
    with open(os.path.join(args.out, "result.json"), "w") as handle:
        json.dump(result, handle)
    print("done", json.dumps({k: result[k] for k in ("steps", "flips", "seconds", "accuracy")}), flush=True)


if __name__ == "__main__":
    main()
