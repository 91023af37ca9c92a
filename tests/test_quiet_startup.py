"""scripts/quiet_startup.py: TensorFlow's start-up noise goes, real errors stay."""

import os
import subprocess
import sys

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")
sys.path.insert(0, SCRIPTS)

import quiet_startup  # noqa: E402


def test_filter_keeps_everything_but_known_noise():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.2 1 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
        "E0000 00:00:1.3 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
        "E0000 00:00:1.4 1 some_kernel.cc:9] Out of memory while allocating 12 GiB\n"
        "Traceback (most recent call last):\n"
    )
    assert quiet_startup.filter_startup_noise(text) == (
        "E0000 00:00:1.4 1 some_kernel.cc:9] Out of memory while allocating 12 GiB\n"
        "Traceback (most recent call last):\n"
    )


PROGRAM = """
import os, sys
sys.path.insert(0, {scripts!r})
import quiet_startup
tf = quiet_startup.import_tensorflow(xla=True, intra_op_threads=1, inter_op_threads=1)
assert tf.config.threading.get_intra_op_parallelism_threads() == 1
with quiet_startup._captured_native_stderr():
    os.write(2, b"oneDNN custom operations are on.\\nE0000 a real native error\\n")
print("ok")
"""


def test_import_tensorflow_prints_no_start_up_lines_but_real_errors():
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(scripts=SCRIPTS)],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "AGP_TF_SHOW_STARTUP_LOGS"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
    assert result.stderr == "E0000 a real native error\n"
