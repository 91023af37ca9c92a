import json
import os
import subprocess
import sys

import keras
import numpy as np

from agp_tf import schedules
from agp_tf.controller import GrowPruneController
from agp_tf.export import export_saved_model
from agp_tf.layers import MaskedDense

SERVE_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
data = np.load(sys.argv[2])
out = served.signatures["serving_default"](
    dense=tf.constant(data["dense"]), ids=tf.constant(data["ids"]))
np.save(sys.argv[3], out["probabilities"].numpy())
print(json.dumps({"agp_tf": "agp_tf" in sys.modules, "keras_rs": "keras_rs" in sys.modules,
                  "keras": "keras" in sys.modules}))
"""


def _dict_model():
    keras.utils.set_random_seed(0)
    dense = keras.Input((3,), name="dense")
    ids = keras.Input((2,), dtype="int32", name="ids")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(10, 2)(ids))
    x = keras.layers.Concatenate()([dense, embedded])
    x = MaskedDense(8, activation="relu", name="h0")(x)
    x = MaskedDense(4, activation="relu", name="h1")(x)
    out = MaskedDense(1, activation="sigmoid", prunable=False, name="out")(x)
    return keras.Model({"dense": dense, "ids": ids}, out)


def test_export_serves_without_agp_tf_and_matches(tmp_path):
    model = _dict_model()
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    # leave the model in a compact sparse phase: export must still be right
    controller = GrowPruneController(
        model, schedules.pruning_only(0.5), total_steps=10, criterion="magnitude", compact=True
    )
    controller.on_step_begin(step=9)
    rng = np.random.default_rng(0)
    data = {"dense": rng.normal(size=(16, 3)).astype("float32"),
            "ids": rng.integers(0, 10, size=(16, 2)).astype("int32")}
    expected = keras.ops.convert_to_numpy(model(data))
    path = export_saved_model(model, str(tmp_path / "saved"))
    np.savez(tmp_path / "data.npz", **data)
    script = tmp_path / "serve.py"
    script.write_text(SERVE_SCRIPT)
    env = dict(os.environ, PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, str(script), path, str(tmp_path / "data.npz"), str(tmp_path / "out.npy")],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert modules["agp_tf"] is False and modules["keras_rs"] is False
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-6, atol=1e-7)
    assert model.get_layer("h0").compact_plan is not None  # restored after export


def test_export_refuses_non_empty_directory(tmp_path):
    (tmp_path / "x").write_text("")
    import pytest

    with pytest.raises(ValueError, match="not empty"):
        export_saved_model(_dict_model(), str(tmp_path))


def test_compact_export_is_smaller_with_same_predictions(tmp_path):
    from agp_tf.export import compact_model

    model = _dict_model()
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    model.get_layer("h0").set_mask([1, 0, 0, 1, 0, 1, 0, 0])
    model.get_layer("h1").set_mask([0, 1, 0, 1])
    small = compact_model(model)
    assert small.get_layer("h0").kernel.shape == (7, 3)  # 3 dense + 2 ids x 2 dims
    assert small.get_layer("h1").kernel.shape == (3, 2)
    assert small.get_layer("out").kernel.shape == (2, 1)
    rng = np.random.default_rng(1)
    data = {"dense": rng.normal(size=(16, 3)).astype("float32"),
            "ids": rng.integers(0, 10, size=(16, 2)).astype("int32")}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(small(data)), keras.ops.convert_to_numpy(model(data)),
        rtol=1e-6, atol=1e-7,
    )
    full = export_saved_model(model, str(tmp_path / "full"))
    compact = export_saved_model(small, str(tmp_path / "compact"))

    def variables_size(path):
        folder = os.path.join(path, "variables")
        return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))

    assert variables_size(compact) < variables_size(full)


def test_compact_exported_model_round_trips_through_keras_file(tmp_path):
    from agp_tf.export import compact_model

    model = _dict_model()
    model.get_layer("h0").set_mask([1, 0, 0, 1, 0, 1, 0, 0])
    model.get_layer("h1").set_mask([0, 1, 0, 1])
    small = compact_model(model)
    rng = np.random.default_rng(2)
    data = {"dense": rng.normal(size=(8, 3)).astype("float32"),
            "ids": rng.integers(0, 10, size=(8, 2)).astype("int32")}
    path = str(tmp_path / "small.keras")
    small.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(data)), keras.ops.convert_to_numpy(small(data))
    )
