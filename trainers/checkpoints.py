"""Checkpoints: save and restore everything a trial needs to continue exactly where it was.

A checkpoint holds the model, the optimizer, the LR scheduler, the AMP grad scaler, the RNG
states (torch, CUDA, numpy, python), the global step, the resource done and the last
evaluation, plus trainer-specific ``extra`` state. It is written atomically (a temporary
file in the same directory, fsync, ``os.replace``), so a worker killed mid-write leaves the
previous checkpoint intact, and it contains only tensors and plain Python values, so it
loads with ``torch.load(..., weights_only=True)``: loading never runs pickled code.

Layout: ``RUNGS_CHECKPOINT_DIR/<sweep>/<trial>/a<attempt>-s<step>.pt``. The name carries the
attempt so that a worker that lost its lease (a zombie) never overwrites a file the trial's
current attempt relies on; the database's ``Trial.checkpoint`` names the one file to resume
from.

Retention (``RUNGS_KEEP_CHECKPOINTS``): ``best`` (default) deletes the checkpoints of killed,
failed and diverged trials at once and those of stopped trials when the sweep is finished,
keeping the best trial's; ``all`` keeps everything; ``none`` also deletes completed trials'
checkpoints once the sweep is finished. See :func:`cleanup_checkpoints`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.conf import settings

log = logging.getLogger(__name__)

FORMAT = 1
KEEP_POLICIES = ("best", "all", "none")
_NAME = re.compile(r"^a(\d+)-s(\d+)\.pt$")


@dataclass
class Checkpoint:
    """What a loaded checkpoint says about progress (the objects are restored in place)."""

    path: str
    step: int
    resource_done: float
    attempt: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_step: int = -1
    extra: dict[str, Any] = field(default_factory=dict)


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable or does not match the trial."""


def trial_dir(sweep_id: int, trial_id: int) -> Path:
    """The directory holding one trial's checkpoints."""
    return Path(settings.RUNGS_CHECKPOINT_DIR) / str(int(sweep_id)) / str(int(trial_id))


def checkpoint_path(sweep_id: int, trial_id: int, attempt: int, step: int) -> Path:
    return trial_dir(sweep_id, trial_id) / f"a{int(attempt)}-s{int(step)}.pt"


# --- RNG states as weights-only values --------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    """The RNG states of torch, CUDA, numpy's global generator and ``random``, as tensors
    and plain values (so they load with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the RNG states captured by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["kind"],
            npy["keys"].cpu().numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate(
        (py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"])
    )
    if "cuda" in state and torch.cuda.is_available():
        states = state["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in states])


# --- save / load ----------------------------------------------------------------------------


def _state_of(obj: Any) -> Any:
    return None if obj is None else obj.state_dict()


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    step: int,
    resource_done: float,
    attempt: int = 0,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: torch.amp.GradScaler | None = None,
    metrics: dict[str, float] | None = None,
    metrics_step: int = -1,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write a checkpoint atomically to ``path``; return the path as a string.

    ``extra`` must hold only tensors and plain values (dict, list, tuple, str, int, float,
    bool, None); anything else would not load with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "step": int(step),
        "resource_done": float(resource_done),
        "attempt": int(attempt),
        "model": _state_of(model),
        "optimizer": _state_of(optimizer),
        "scheduler": _state_of(scheduler),
        "scaler": _state_of(scaler) if scaler is not None and scaler.is_enabled() else None,
        "rng": capture_rng(),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "metrics_step": int(metrics_step),
        "extra": extra or {},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(path)


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: torch.amp.GradScaler | None = None,
    map_location: str | torch.device = "cpu",
    restore_rngs: bool = True,
) -> Checkpoint:
    """Restore the given objects (and the RNG states) from ``path``; return its progress.

    Loads with ``weights_only=True``. Raises :class:`CheckpointError` when the file is
    missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} could not be read: {exc}") from exc
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {payload.get('format')!r}, not {FORMAT}"
        )
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            if payload[name] is None:
                raise CheckpointError(f"checkpoint {path} holds no {name} state")
            obj.load_state_dict(payload[name])
    if scaler is not None and payload["scaler"] is not None and scaler.is_enabled():
        scaler.load_state_dict(payload["scaler"])
    if restore_rngs:
        restore_rng(payload["rng"])
    return Checkpoint(
        path=str(path),
        step=payload["step"],
        resource_done=payload["resource_done"],
        attempt=payload["attempt"],
        metrics=payload["metrics"],
        metrics_step=payload["metrics_step"],
        extra=payload["extra"],
    )


def prune_trial(sweep_id: int, trial_id: int, keep: str | os.PathLike[str] | None) -> int:
    """Delete the trial's checkpoint files older than ``keep``; return how many went.

    The runner calls this once the database names ``keep`` as the trial's checkpoint, so
    nothing the trial could resume from is deleted. Files of ``keep``'s attempt at later
    steps stay: a script may have saved them before its worker read the line naming ``keep``.
    """
    directory = trial_dir(sweep_id, trial_id)
    if not directory.is_dir():
        return 0
    keep_path = Path(keep).resolve() if keep else None
    kept = _NAME.match(keep_path.name) if keep_path else None
    removed = 0
    for item in directory.iterdir():
        match = _NAME.match(item.name)
        if not match or item.resolve() == keep_path:
            continue
        if kept and match[1] == kept[1] and int(match[2]) > int(kept[2]):
            continue
        item.unlink(missing_ok=True)
        removed += 1
    return removed


def delete_trial_checkpoints(sweep_id: int, trial_id: int) -> bool:
    """Remove a trial's whole checkpoint directory; True if there was one."""
    directory = trial_dir(sweep_id, trial_id)
    if not directory.exists():
        return False
    shutil.rmtree(directory, ignore_errors=True)
    return True


# --- retention ------------------------------------------------------------------------------


def keep_policy() -> str:
    """``settings.RUNGS_KEEP_CHECKPOINTS`` (best / all / none), checked."""
    policy = settings.RUNGS_KEEP_CHECKPOINTS
    if policy not in KEEP_POLICIES:
        raise ValueError(
            f"RUNGS_KEEP_CHECKPOINTS must be one of {list(KEEP_POLICIES)}, got {policy!r}"
        )
    return policy


def cleanup_checkpoints(sweep_id: int, policy: str | None = None) -> list[int]:
    """Apply the retention policy to one sweep; return the ids of trials whose checkpoints went.

    Safe to call at any time: while the sweep runs only trials that can never train again
    (killed, failed, diverged) lose their checkpoints; once the sweep is finished (completed,
    cancelled or failed) stopped trials do too, except the best one, and with ``none``
    every trial. Kept trials are pruned to the one file their row names.
    """
    from sweeps.models import Sweep
    from sweeps.services import forget_checkpoint
    from sweeps.states import SweepStatus, TrialStatus

    policy = policy or keep_policy()
    if policy not in KEEP_POLICIES:
        raise ValueError(f"policy must be one of {list(KEEP_POLICIES)}, got {policy!r}")
    sweep = Sweep.objects.filter(pk=sweep_id).first()
    if sweep is None:
        root = Path(settings.RUNGS_CHECKPOINT_DIR) / str(int(sweep_id))
        shutil.rmtree(root, ignore_errors=True)  # the sweep was deleted: nothing to keep
        return []
    if policy == "all":
        return []
    finished = sweep.status in (SweepStatus.COMPLETED, *SweepStatus.TERMINAL)
    terminal_sweep = sweep.status in SweepStatus.TERMINAL
    trials = list(sweep.trials.values("id", "status", "best_value", "checkpoint"))
    scored = [t for t in trials if t["best_value"] is not None]
    best_id = None
    if scored:
        pick = min if sweep.objective_mode == "min" else max
        best_id = pick(scored, key=lambda t: t["best_value"])["id"]

    removed: list[int] = []
    for t in trials:
        status = t["status"]
        if status in TrialStatus.TERMINAL:
            doomed = t["id"] != best_id or policy == "none"
        elif not finished:
            doomed = False
        elif policy == "none":
            doomed = status in TrialStatus.FINISHED or terminal_sweep
        elif status == TrialStatus.STOPPED or (terminal_sweep and status != TrialStatus.COMPLETED):
            doomed = t["id"] != best_id
        else:
            doomed = False
        if doomed:
            if t["checkpoint"] and not forget_checkpoint(t["id"], status):
                continue  # promoted or extended by hand since it was read: keep its files
            if delete_trial_checkpoints(sweep_id, t["id"]):
                removed.append(t["id"])
        elif finished and t["checkpoint"]:
            prune_trial(sweep_id, t["id"], t["checkpoint"])
    if removed:
        log.info(
            "sweep %s: removed checkpoints of %d trials (%s policy)", sweep_id, len(removed), policy
        )
    return removed
