"""A small Python client for the Rungs REST API, on the standard library only.

    from sweeps.client import Client

    client = Client("http://localhost:8000", token="...")   # or RUNGS_URL / RUNGS_TOKEN
    sweep = client.launch({"name": "lr search", "trainer": "synthetic", "max_trials": 20})
    done = client.wait(sweep["id"], timeout=600)
    print(done["best_trial"], done["best_value"])

Every call returns the API's JSON (dicts and lists). :meth:`Client.metrics` returns a pandas
DataFrame (pandas is imported only there). An error answer raises :class:`ApiError` with
the HTTP status and the parsed body; for a bad spec ``error.errors`` maps each bad field to
the rule it breaks. This module imports nothing from Django, so it can be copied alone.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FINISHED = frozenset({"completed", "cancelled", "failed"})
FORMATS = ("csv", "json", "parquet")


class ApiError(Exception):
    """The API answered with an error status; ``body`` is the parsed JSON (or the text)."""

    def __init__(self, status: int, body: Any, method: str = "", url: str = "") -> None:
        self.status = status
        self.body = body
        self.method = method
        self.url = url
        super().__init__(f"{method} {url} -> {status}: {self._describe()}")

    @property
    def errors(self) -> dict[str, str]:
        """For a 400, each bad field and the rule it breaks; otherwise empty."""
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), dict):
            return self.body["errors"]
        return {}

    @property
    def detail(self) -> str:
        """The one-line message of a 401 / 403 / 404 / 409."""
        if isinstance(self.body, dict) and "detail" in self.body:
            return str(self.body["detail"])
        return "" if isinstance(self.body, dict) else str(self.body)[:500]

    def _describe(self) -> str:
        if self.errors:
            return "; ".join(f"{field}: {rule}" for field, rule in self.errors.items())
        return self.detail or "no details"


class Client:
    """Talks to one Rungs server with one API token.

    ``url`` is the server's root (``http://host:8000``; a trailing ``/api/`` is accepted);
    ``token`` is a key from ``manage.py token <username>``. Both default to the ``RUNGS_URL``
    and ``RUNGS_TOKEN`` environment variables.
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        url = url or os.environ.get("RUNGS_URL", "")
        if not url:
            raise ValueError("give the server's url (or set RUNGS_URL)")
        root = url.rstrip("/")
        if root.endswith("/api"):
            root = root[: -len("/api")]
        self.api = f"{root}/api/"
        self.token = token if token is not None else os.environ.get("RUNGS_TOKEN", "")
        self.timeout = timeout

    # --- plumbing -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        *,
        raw: bool = False,
    ) -> Any:
        """Send one request to ``/api/<path>``; return parsed JSON (bytes when ``raw``)."""
        url = urllib.parse.urljoin(self.api, path)
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        headers = {"Accept": "*/*" if raw else "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                content = response.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                parsed: Any = json.loads(payload)
            except ValueError:
                parsed = payload.decode(errors="replace")
            raise ApiError(exc.code, parsed, method, url) from None
        if raw:
            return content
        return json.loads(content) if content else None

    # --- sweeps ---------------------------------------------------------------------------

    def launch(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create (and by default start) a sweep from a spec; returns the sweep."""
        return self.request("POST", "sweeps/", spec)

    def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep this token's user can see."""
        return self.request("GET", "sweeps/")

    def sweep(self, sweep_id: int) -> dict[str, Any]:
        """One sweep: status, ``counts`` per trial status, ``best_trial`` and ``best_value``."""
        return self.request("GET", f"sweeps/{int(sweep_id)}/")

    def update(
        self, sweep_id: int, *, concurrency: int | None = None, max_trials: int | None = None
    ) -> dict[str, Any]:
        """Change a live sweep's concurrency and/or trial budget."""
        body = {
            k: v
            for k, v in (("concurrency", concurrency), ("max_trials", max_trials))
            if v is not None
        }
        return self.request("PATCH", f"sweeps/{int(sweep_id)}/", body)

    def pause_sweep(self, sweep_id: int) -> dict[str, Any]:
        return self.request("POST", f"sweeps/{int(sweep_id)}/pause/")

    def resume_sweep(self, sweep_id: int) -> dict[str, Any]:
        return self.request("POST", f"sweeps/{int(sweep_id)}/resume/")

    def cancel_sweep(self, sweep_id: int) -> dict[str, Any]:
        return self.request("POST", f"sweeps/{int(sweep_id)}/cancel/")

    def wait(self, sweep_id: int, timeout: float = 3600.0, poll: float = 2.0) -> dict[str, Any]:
        """Poll until the sweep is completed, cancelled or failed; return it.

        Raises TimeoutError (naming the last status) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            sweep = self.sweep(sweep_id)
            if sweep["status"] in FINISHED:
                return sweep
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"sweep {sweep_id} is still {sweep['status']} after {timeout:g} s"
                )
            time.sleep(min(poll, left))

    def bracket(self, sweep_id: int) -> dict[str, Any]:
        """The halving picture: brackets, rungs, ranked trials, promotions."""
        return self.request("GET", f"sweeps/{int(sweep_id)}/bracket/")

    def export(
        self,
        sweep_id: int,
        fmt: str = "csv",
        *,
        metrics: bool = False,
        path: str | Path | None = None,
    ) -> bytes:
        """The sweep's trials (or, with ``metrics``, its metric points) as CSV, JSON or
        Parquet bytes; also written to ``path`` when given."""
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {list(FORMATS)}, got {fmt!r}")
        content = self.request(
            "GET",
            f"sweeps/{int(sweep_id)}/export.{fmt}",
            query={"metrics": 1 if metrics else None},
            raw=True,
        )
        if path is not None:
            Path(path).write_bytes(content)
        return content

    # --- trials ---------------------------------------------------------------------------

    def trials(self, sweep_id: int) -> list[dict[str, Any]]:
        """The trials of a sweep, by number."""
        return self.request("GET", f"sweeps/{int(sweep_id)}/trials/")

    def trial(self, trial_id: int) -> dict[str, Any]:
        return self.request("GET", f"trials/{int(trial_id)}/")

    def enqueue(self, sweep_id: int, params: dict[str, Any]) -> dict[str, Any]:
        """Add a trial with these params; it starts before any proposed configuration."""
        return self.request("POST", f"sweeps/{int(sweep_id)}/trials/", {"params": params})

    def kill(self, trial_id: int) -> dict[str, Any]:
        """Kill a trial: it stops at its next step and is never promoted."""
        return self.request("POST", f"trials/{int(trial_id)}/kill/")

    def pause(self, trial_id: int) -> dict[str, Any]:
        """Pause a trial: it checkpoints and keeps its place."""
        return self.request("POST", f"trials/{int(trial_id)}/pause/")

    def resume(self, trial_id: int) -> dict[str, Any]:
        """Resume a paused trial from its checkpoint."""
        return self.request("POST", f"trials/{int(trial_id)}/resume/")

    def promote(self, trial_id: int) -> dict[str, Any]:
        """Send a trial that finished its rung into the next rung, whatever its rank."""
        return self.request("POST", f"trials/{int(trial_id)}/promote/")

    def extend(self, trial_id: int) -> dict[str, Any]:
        """Give a completed trial one more rung."""
        return self.request("POST", f"trials/{int(trial_id)}/extend/")

    def metrics(
        self,
        trial_id: int,
        name: str | None = None,
        *,
        after: int = 0,
        max_points: int | None = None,
    ) -> pd.DataFrame:
        """A trial's metric points after ``after`` as a DataFrame (id, name, step, value,
        time), following the cursor through every page. ``max_points`` thins each series
        on the server (extremes kept) and returns one page."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        cursor = after
        while True:
            page = self.request(
                "GET",
                f"trials/{int(trial_id)}/metrics/",
                query={"name": name, "after": cursor, "max_points": max_points},
            )
            rows.extend(page["points"])
            if max_points is not None or not page["points"] or page["cursor"] <= cursor:
                break
            cursor = page["cursor"]
        frame = pd.DataFrame(rows, columns=["id", "name", "step", "value", "time"])
        return frame.astype({"value": "float64", "time": "float64"})
