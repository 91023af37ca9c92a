"""What `import agp_tf` loads, and which names the package serves."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROBE = r"""
import importlib, json, pkgutil, sys
import agp_tf
report = {"loaded": sorted(m for m in sys.modules
                           if m.startswith(("agp_tf", "keras_rs")))}
for name in ("agp_tf.setup", "agp_tf.agp_tf", "agp_tf.tests", "agp_tf.scripts"):
    try:
        importlib.import_module(name)
        report[name] = "imported"
    except ImportError:
        report[name] = "refused"
import agp_tf.models.dlrm, agp_tf.data.synthetic
report["models"] = agp_tf.models.dlrm.__name__
print(json.dumps(report))
"""

def _run(code, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_import_agp_tf_loads_the_core_only_and_serves_models_and_data():
    import json

    report = json.loads(_run(_PROBE).strip().splitlines()[-1])
    loaded = report["loaded"]
    assert not [m for m in loaded if m.startswith("keras_rs")], loaded
    assert not [m for m in loaded if m.startswith(("agp_tf.models", "agp_tf.data"))], loaded
    for name in ("agp_tf.setup", "agp_tf.agp_tf", "agp_tf.tests", "agp_tf.scripts"):
        assert report[name] == "refused", name
    assert report["models"] == "agp_tf.models.dlrm"


def test_every_core_module_imports_without_a_cycle():
    names = sorted(
        f"agp_tf.{name[:-3]}"
        for name in os.listdir(os.path.join(ROOT, "agp_tf"))
        if name.endswith(".py") and name != "__init__.py"
    )
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    _run(code, *names)
