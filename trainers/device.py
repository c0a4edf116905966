"""Where a segment trains: CUDA with mixed precision when there is a GPU, else one CPU thread.

On CUDA the forward pass runs under ``torch.autocast``: bf16 where the GPU supports it (no
loss scaling needed), fp16 with a ``GradScaler`` otherwise. On CPU everything is fp32 and
torch uses one thread: on the 2-core machines this was measured on, two threads made small
models three times slower, and each worker process already owns a core.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Device:
    """The device a segment trains on and the precision it trains in."""

    device: torch.device
    amp_dtype: torch.dtype | None = None  # None: full fp32, no autocast

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def uses_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range."""
        return self.amp_dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context the forward pass and the loss run in."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16 (a disabled one passes calls through)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.uses_scaler)

    def memory_mb(self) -> float | None:
        """Peak GPU memory allocated since the last reset, in MiB; None on CPU."""
        if not self.is_cuda:
            return None
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def reset_peak_memory(self) -> None:
        if self.is_cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def describe(self) -> str:
        precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        return f"{self.device} {precision}"


def select_device(precision: str = "auto", *, prefer_cuda: bool = True) -> Device:
    """The device for this worker process.

    ``precision``: ``auto`` (bf16 if the GPU supports it, else fp16), ``fp32``, ``bf16`` or
    ``fp16``; ignored on CPU, which always trains in fp32. Workers see one GPU each
    (``CUDA_VISIBLE_DEVICES`` is set per worker), so CUDA means ``cuda:0``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if prefer_cuda and torch.cuda.is_available():
        device = torch.device("cuda", 0)
        if precision == "fp32":
            return Device(device)
        if precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
            return Device(device, torch.float16)
        return Device(device, torch.bfloat16)
    configure_cpu()
    return Device(torch.device("cpu"))


def configure_cpu() -> None:
    """One intra-op thread per worker process (see the module docstring for why)."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@contextlib.contextmanager
def cuda_memory_guard(device: Device) -> Iterator[None]:
    """Give cached GPU blocks back after a segment, so the next trial starts with a clean slate."""
    try:
        yield
    finally:
        if device.is_cuda:
            torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the GPU running out of memory (not worth retrying as is)."""
    return isinstance(exc, torch.OutOfMemoryError)
