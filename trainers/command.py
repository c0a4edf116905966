"""A command trainer: an existing training script, run as a subprocess once per segment.

Registered in the trainers file (never from an API body or a form)::

    my-script:
      command: python train.py --epochs 100   # "python" is the worker's own interpreter
      params: flags            # the trial's parameters as --name=value (default), or "json"
      metrics: [val_loss, val_acc]
      space: {lr: {type: float, low: 1.0e-4, high: 0.1, log: true}}
      cwd: .                   # relative to the trainers file's folder (default)
      env: {OMP_NUM_THREADS: "1"}
      grace_seconds: 10        # after SIGTERM, before SIGKILL

The script learns its segment from the environment: ``RUNGS_BUDGET`` (the epochs it must
have completed when it exits), ``RUNGS_START_EPOCH`` and ``RUNGS_STEP`` (where the trial
left off), ``RUNGS_RESUME_FROM`` (the checkpoint to resume from, empty on a fresh trial),
``RUNGS_CHECKPOINT_DIR`` (where to save checkpoints), ``RUNGS_PARAMS`` (the parameters as
JSON; ``RUNGS_PARAMS_FILE`` names a JSON file of them with ``params: json``), ``RUNGS_SEED``,
``RUNGS_TRIAL_ID``, ``RUNGS_ATTEMPT`` and ``RUNGS_DEVICE``. It reports JSON lines on stdout,
most simply through the standard-library helper ``import rungs`` (``trainers/script/rungs.py``,
on the script's ``PYTHONPATH``), which also resumes and checkpoints; see there for the lines.

Kill and pause: the worker sends SIGTERM to the script's process group and waits
``grace_seconds`` for it to exit (the helper checkpoints at the next step and exits), then
SIGKILL. The trial keeps its last reported checkpoint; points logged after it are dropped.
A script that exits non-zero fails the trial with the end of its stderr as the reason; a
malformed report fails it naming the line; a NaN loss makes it diverged. Its console (stdout
but the report lines, which become metric points, and stderr) is kept per segment
(:class:`~sweeps.models.SegmentLog`) and shown on the trial page.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from trainers.base import EPOCHS, Trainer
from trainers.checkpoints import CheckpointError
from trainers.reporting import CONTINUE, STEP_METRICS, ReportError
from trainers.session import DONE, Session

HELPER_DIR = Path(__file__).resolve().parent / "script"
ENTRY_KEYS = {
    "command", "params", "metrics", "space", "description", "uses_gpu", "cwd", "env",
    "grace_seconds",
}  # fmt: skip
REPORT_KEYS = ("checkpoint", "epoch", "step")
STEP_FIELDS = {"step", "train_loss", "grad_norm", "lr", "samples"}
STDERR_LINES = 20  # the end of stderr a failed script's reason quotes
POLL_SECONDS = 0.2  # how often a silent script's lease is renewed and decision read
CONSOLE_SECONDS = 1.0  # how often console output reaches the database


class ScriptError(ReportError):
    """The script failed, or reported something Rungs cannot use; the message says which."""


class CommandTrainer(Trainer):
    """A trainer that runs ``command`` per segment; made by :func:`command_trainer`."""

    command: ClassVar[tuple[str, ...]]
    params_as: ClassVar[str] = "flags"
    cwd: ClassVar[Path]
    env: ClassVar[dict[str, str]] = {}
    grace_seconds: ClassVar[float] = 10.0

    @classmethod
    def check_runnable(cls) -> None:
        if not cls.cwd.is_dir():
            raise FileNotFoundError(f"cwd {cls.cwd} of trainer {cls.key!r} is not a folder")
        program = cls.argv()[0]
        if (
            shutil.which(program, path=os.environ.get("PATH")) is None
            and not (cls.cwd / program).is_file()
        ):
            raise FileNotFoundError(f"{program!r} of trainer {cls.key!r} is not found")

    @classmethod
    def argv(cls, params: dict[str, Any] | None = None) -> list[str]:
        """The command line for ``params`` ("python" runs the worker's own interpreter)."""
        argv = list(cls.command)
        if argv[0] == "python":
            argv[0] = sys.executable
        if params is not None and cls.params_as == "flags":
            argv += [f"--{name}={_flag(value)}" for name, value in sorted(params.items())]
        return argv

    def run(self, session: Session) -> None:
        if session.step > 0 and not session.resume_from:
            raise CheckpointError(
                f"trial {session.trial_id} has trained {session.step} steps but its script "
                "reported no checkpoint to resume from (report one, or use rungs.epochs())"
            )
        session.directory.mkdir(parents=True, exist_ok=True)
        session.epochs_done = float(math.floor(session.start_resource + 1e-9))
        if session.resume_from:
            session.checkpoint_path, session.checkpoint_step = session.resume_from, session.step
        Script(type(self), session).run()


class Script:
    """One run of a command trainer's script: its process, its reports, its console."""

    def __init__(self, trainer: type[CommandTrainer], session: Session) -> None:
        self.trainer, self.session = trainer, session
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self.console: list[str] = []
        self.console_at = time.monotonic()
        self.stdout_lines = 0
        self.signalled: str = ""  # the decision the script was told to obey
        self.killed_at: float | None = None

    # --- the process -----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        s = self.session
        env = {**os.environ, **self.trainer.env}
        env.update(
            RUNGS_BUDGET=str(max(math.ceil(s.budget - 1e-9), 0)),
            RUNGS_START_EPOCH=str(int(s.epochs_done or 0)),
            RUNGS_STEP=str(s.step),
            RUNGS_RESUME_FROM=s.resume_from,
            RUNGS_CHECKPOINT_DIR=str(s.directory),
            RUNGS_PARAMS=json.dumps(s.params),
            RUNGS_SEED=str(s.seed),
            RUNGS_TRIAL_ID=str(s.trial_id),
            RUNGS_ATTEMPT=str(s.attempt),
            RUNGS_DEVICE=str(s.device.device),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(HELPER_DIR), env.get("PYTHONPATH")])),
        )
        if self.trainer.params_as == "json":
            path = s.directory / f"params-a{s.attempt}.json"
            path.write_text(json.dumps(s.params))
            env["RUNGS_PARAMS_FILE"] = str(path)
        return env

    def run(self) -> None:
        s = self.session
        proc = subprocess.Popen(
            self.trainer.argv(s.params),
            cwd=self.trainer.cwd,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group: a signal reaches its children
        )
        readers = [
            threading.Thread(target=self._read, args=(stream, name), daemon=True)
            for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
        ]
        for reader in readers:
            reader.start()
        try:
            self._follow(proc, open_streams=len(readers))
            code = proc.wait()
        finally:
            if proc.poll() is None:
                _kill(proc, signal.SIGKILL)
                proc.wait()
            self._write_console(final=proc.returncode)
        self._settle(code)

    def _read(self, stream: Any, name: str) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))
        self.lines.put((name, None))

    def _follow(self, proc: subprocess.Popen[str], open_streams: int) -> None:
        """Read the script's lines until both streams end; obey decisions meanwhile."""
        while open_streams:
            try:
                name, line = self.lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self._steer(proc, self.session.reporter.decision())
                continue
            if line is None:
                open_streams -= 1
                continue
            if name == "stderr":
                self.stderr.append(line)
                self.console.append(f"[stderr] {line}")
            else:
                self.stdout_lines += 1
                self._steer(proc, self._handle(line))
            if time.monotonic() - self.console_at >= CONSOLE_SECONDS:
                self._write_console()

    def _steer(self, proc: subprocess.Popen[str], decision: str) -> None:
        """Signal a stop or pause once; SIGKILL a script that outlives its grace."""
        if decision != CONTINUE and not self.signalled:
            self.signalled = decision
            self.killed_at = time.monotonic() + self.trainer.grace_seconds
            _kill(proc, signal.SIGTERM)
        elif self.killed_at is not None and time.monotonic() > self.killed_at:
            _kill(proc, signal.SIGKILL)

    def _write_console(self, final: int | None = None) -> None:
        console = self.session.console
        if console is not None and (self.console or final is not None):
            console("".join(f"{line}\n" for line in self.console), final)
        self.console, self.console_at = [], time.monotonic()

    # --- reports ----------------------------------------------------------------------------

    def _handle(self, line: str) -> str:
        """Act on one stdout line; return the steering decision (log lines: the cached one)."""
        report = parse_report(line)
        s = self.session
        if report is None:  # the script's own output: its console (reports are in the charts)
            self.console.append(line)
            return s.reporter.last_decision
        where = f"stdout line {self.stdout_lines} ({line[:200]!r})"
        try:
            if "checkpoint" in report:
                self._adopt(report)
            elif "epoch" in report:
                s.epochs_done = _number(report, "epoch", minimum=s.epochs_done or 0)
                s.record_eval(s.step, **_metrics(report, exclude={"epoch"}))
            else:
                return self._step(report)
        except ScriptError as exc:
            raise ScriptError(f"{where}: {exc}") from None
        return s.reporter.last_decision

    def _step(self, report: dict[str, Any]) -> str:
        s = self.session
        step = report["step"]
        if not _is_int(step) or step <= s.step:
            raise ScriptError(
                f"'step' must be a whole number above the last step {s.step} (a resumed "
                f"script continues from RUNGS_STEP), got {step!r}"
            )
        if "train_loss" not in report:
            raise ScriptError("a step report needs 'train_loss'")
        samples = report.get("samples", 0)
        if not _is_int(samples) or samples < 0:
            raise ScriptError(f"'samples' must be a whole number >= 0, got {samples!r}")
        s.step = step
        return s.reporter.step(
            step,
            train_loss=_number(report, "train_loss"),
            grad_norm=_number(report, "grad_norm", optional=True),
            lr=_number(report, "lr", optional=True),  # type: ignore[arg-type]
            samples=samples,
            **_metrics(report, exclude=STEP_FIELDS),
        )

    def _adopt(self, report: dict[str, Any]) -> None:
        s = self.session
        raw = report["checkpoint"]
        path = Path(raw).resolve() if isinstance(raw, str) and raw else None
        if path is None or s.directory.resolve() not in path.parents or not path.is_file():
            raise ScriptError(f"'checkpoint' must name a saved file in {s.directory}, got {raw!r}")
        if report.get("step") != s.step:
            raise ScriptError(
                f"a checkpoint's 'step' must be the last step reported ({s.step}), "
                f"got {report.get('step')!r}"
            )
        s.epochs_done = _number(report, "epoch", minimum=0)
        s.adopt_checkpoint(str(path))

    # --- the end ----------------------------------------------------------------------------

    def _settle(self, code: int) -> None:
        """Set the session's outcome from how the script ended."""
        s = self.session
        end = max(math.ceil(s.budget - 1e-9), 0)
        finished = code == 0 and (s.epochs_done or 0) >= end and s.checkpointed()
        if self.signalled and not finished:
            # Progress is the last checkpoint: points after it are dropped by the service.
            if s.checkpoint_step < 0:
                s.step, s.resource_done = s.start_step, s.start_resource
            else:
                s.step = s.checkpoint_step
            s.finish(self.signalled)
            return
        if code != 0:
            tail = "\n".join(self.stderr) or "(nothing on stderr)"
            how = f"signal {-code}" if code < 0 else f"code {code}"
            raise ScriptError(f"script exited with {how}; the end of its stderr:\n{tail}")
        if (s.epochs_done or 0) < end:
            raise ScriptError(
                f"script exited after {s.epochs_done:g} of {end} epochs (RUNGS_BUDGET); "
                'report each epoch\'s end with rungs.report() or an {"epoch": ...} line'
            )
        s.finish(DONE)


def parse_report(line: str) -> dict[str, Any] | None:
    """The report a stdout line holds, or None for a log line (not a JSON object naming
    ``step``, ``epoch`` or ``checkpoint``)."""
    if not line.startswith("{"):
        return None
    try:
        report = json.loads(line)
    except ValueError:
        return None
    if not isinstance(report, dict) or not any(key in report for key in REPORT_KEYS):
        return None
    return report


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(
    report: dict[str, Any], name: str, *, optional: bool = False, minimum: float | None = None
) -> Any:
    value = report.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScriptError(f"{name!r} must be a number, got {value!r}")
    if minimum is not None and not value >= minimum:
        raise ScriptError(f"{name!r} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _metrics(report: dict[str, Any], exclude: set[str]) -> dict[str, float | None]:
    return {name: _number(report, name, optional=True) for name in report if name not in exclude}


def _flag(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | None) else str(value)


def _kill(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def command_trainer(key: str, entry: dict[str, Any], base: Path) -> type[CommandTrainer]:
    """The trainer class of a command entry in the trainers file (``base``: its folder)."""
    where = f"trainers file, trainer {key!r}"
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"{where}: unknown fields {unknown}; allowed: {sorted(ENTRY_KEYS)}"
        )
    command = entry.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
        raise ImproperlyConfigured(
            f"{where}: 'command' must be a command line or a list of strings"
        )
    params_as = entry.get("params", "flags")
    if params_as not in ("flags", "json"):
        raise ImproperlyConfigured(
            f"{where}: 'params' must be 'flags' or 'json', got {params_as!r}"
        )
    metrics = entry.get("metrics", ["val_loss"])
    if not (isinstance(metrics, list) and all(isinstance(m, str) for m in metrics)):
        raise ImproperlyConfigured(f"{where}: 'metrics' must be a list of names")
    env = entry.get("env", {})
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise ImproperlyConfigured(f"{where}: 'env' must map names to strings")
    grace = entry.get("grace_seconds", 10)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace > 0:
        raise ImproperlyConfigured(f"{where}: 'grace_seconds' must be a number > 0")
    namespace: dict[str, Any] = {
        "key": key,
        "description": str(entry.get("description", f"the script {shlex.join(command)}")),
        "resource_unit": EPOCHS,
        "metrics": tuple(dict.fromkeys((*STEP_METRICS, *metrics))),
        "default_space": dict(entry.get("space") or {}),
        "uses_gpu": bool(entry.get("uses_gpu", True)),
        "command": tuple(command),
        "params_as": params_as,
        "cwd": (base / str(entry.get("cwd", "."))).resolve(),
        "env": {str(k): v for k, v in env.items()},
        "grace_seconds": float(grace),
    }
    return type(f"CommandTrainer[{key}]", (CommandTrainer,), namespace)
