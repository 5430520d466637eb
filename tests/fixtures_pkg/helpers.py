"""Helpers shared by the test modules: fresh-process runs, fast params, manifests, TensorBoard events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent


def subprocess_env() -> dict[str, str]:
    """The environment of a fresh Python process that can import ``fixtures_pkg`` (and trainrig)."""
    env = dict(os.environ)
    parts = [str(TESTS_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(TESTS_DIR)]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def start_python(code: str, *args: str, cwd: str | Path | None = None) -> subprocess.Popen:
    """Start ``code`` in a fresh interpreter (this venv's) with ``tests/`` on PYTHONPATH; see :func:`finish`."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def finish(proc: subprocess.Popen, timeout: float = 180) -> str:
    """Wait for a process from :func:`start_python`; return its stdout, or fail with its output."""
    done = completed(proc, timeout)
    if done.returncode != 0:
        raise AssertionError(f"subprocess failed ({done.returncode}):\nSTDOUT:\n{done.stdout}\nSTDERR:\n{done.stderr[-4000:]}")
    return done.stdout


def run_python(code: str, *args: str, timeout: float = 180, cwd: str | Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout (an AssertionError with its output if it fails)."""
    return finish(start_python(code, *args, cwd=cwd), timeout)


def last_json_line(stdout: str):
    """The JSON value on the last line of ``stdout`` that starts with ``{`` or ``[``."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith(("{", "[")):
            return json.loads(line)
    raise AssertionError(f"no JSON line in subprocess output:\n{stdout}")


def make_params(output_dir, **overrides):
    """Fast ``TrainerParams``: 2 epochs, batch 16, lr 0.01, no console output, overwrite."""
    import trainrig

    values = dict(
        epochs=2, batch_size=16, learning_rate=0.01, progress="none", output_dir=str(output_dir), overwrite=True
    )
    values.update(overrides)
    return trainrig.TrainerParams(**values)


def read_manifest(directory) -> dict:
    return json.loads((Path(directory) / "trainrig.json").read_text())


def tensorboard_tensors(run_dir) -> dict[str, dict[int, object]]:
    """``{tag: {step: numpy value}}`` of every TF2 summary (``Tags()["tensors"]``) in one TensorBoard run dir."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    out: dict[str, dict[int, object]] = {}
    for tag in acc.Tags()["tensors"]:
        out[tag] = {e.step: tensor_util.make_ndarray(e.tensor_proto) for e in acc.Tensors(tag)}
    return out


def tree_snapshot(root) -> dict[str, tuple[int, int, bytes]]:
    """``{relative path: (size, mtime_ns, bytes)}`` of every file under ``root`` (to prove nothing changed)."""
    root = Path(root)
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


RESUME_SCRIPT = TESTS_DIR / "checkpoint" / "resume_script.py"


def start_resume_script(out, mode: str, options: dict | None = None, plugins: str = "") -> subprocess.Popen:
    """Start ``tests/checkpoint/resume_script.py OUT MODE [OPTIONS]`` (a digits run) in a fresh process."""
    args = [sys.executable, str(RESUME_SCRIPT), str(out), mode] + ([json.dumps(options)] if options else [])
    env = {**os.environ, "PYTHONHASHSEED": "0", "TRAINRIG_LOAD_PLUGINS": plugins}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def completed(process: subprocess.Popen, timeout: float = 600) -> subprocess.CompletedProcess:
    """Wait for a process started with pipes for stdout and stderr; kill it and fail with its output
    if it takes longer than ``timeout`` seconds."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"subprocess timed out after {timeout}s:\nSTDOUT:\n{stdout}\nSTDERR:\n{stderr[-4000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def resume_script(out, mode: str, options: dict | None = None, plugins: str = "") -> subprocess.CompletedProcess:
    """Run :func:`start_resume_script` to its end."""
    return completed(start_resume_script(out, mode, options, plugins))


def resume_result(process: subprocess.CompletedProcess) -> dict:
    """What a successful resume script printed: ``hash`` of the weights, ``epochs``, ``history``, ``out``."""
    assert process.returncode == 0, process.stderr[-3000:]
    lines = {}
    for line in process.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in ("HASH", "EPOCHS", "HISTORY", "OUT"):
            lines[key] = value
    return {"hash": lines["HASH"], "epochs": int(lines["EPOCHS"]), "history": json.loads(lines["HISTORY"]), "out": Path(lines["OUT"])}
