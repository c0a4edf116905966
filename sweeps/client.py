"""A small Python client for the Rungs REST API, on the standard library only.

    from sweeps.client import Client

    client = Client("http://localhost:8000", token="...")   # or RUNGS_URL / RUNGS_TOKEN
    sweep = client.launch({"name": "lr search", "trainer": "synthetic", "max_trials": 20})
    done = client.wait(sweep["id"], timeout=600)
    print(done["best_trial"], done["best_value"])

Every call returns the API's JSON (dicts and lists); a paged list (sweeps, trials) is
walked to its end and returned whole. :meth:`Client.metrics` returns a pandas
DataFrame (pandas is imported only there). An error answer raises :class:`ApiError` with
the HTTP status and the parsed body; for a bad spec ``error.errors`` maps each bad field to
the rule it breaks. This module imports nothing from Django, so it can be copied alone.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FINISHED = frozenset({"completed", "cancelled", "failed"})
FORMATS = ("csv", "json", "parquet")
# Rows per request when a list is paged: the server's most (sweeps.api.pagination).
PAGE_SIZE = 1000


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


def _decoded(content: bytes, headers: Any) -> bytes:
    if headers is not None and headers.get("Content-Encoding", "").lower() == "gzip":
        return gzip.decompress(content)
    return content


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
        # The server gzips what it sends when asked: a page of 1,000 trials shrinks ~10x.
        headers = {"Accept": "*/*" if raw else "application/json", "Accept-Encoding": "gzip"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                content = _decoded(response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            payload = _decoded(exc.read(), exc.headers)
            try:
                parsed: Any = json.loads(payload)
            except ValueError:
                parsed = payload.decode(errors="replace")
            raise ApiError(exc.code, parsed, method, url) from None
        if raw:
            return content
        return json.loads(content) if content else None

    def pages(
        self, path: str, query: dict[str, Any] | None = None, *, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row of a paged list at ``/api/<path>``, page after page: each page's
        ``next`` link is followed (its cursor, on this client's own URL) until it is null."""
        params = {**(query or {}), "page_size": page_size or PAGE_SIZE}
        while True:
            page = self.request("GET", path, query=params)
            yield from page["results"]
            if not page.get("next"):
                return
            link = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page["next"]).query))
            params = {**params, "cursor": link["cursor"]}

    # --- sweeps ---------------------------------------------------------------------------

    def launch(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create (and by default start) a sweep from a spec; returns the sweep, whose
        ``warnings`` list says e.g. that no worker is running yet. A trainer no live worker
        can run is refused (ApiError 400, ``errors["trainer"]``)."""
        return self.request("POST", "sweeps/", spec)

    def lr_range_test(
        self, spec: dict[str, Any], *, wait: bool = True, timeout: float = 600.0, poll: float = 1.0
    ) -> dict[str, Any]:
        """Run an LR range test (``trainer``, ``params``, optional ``trainer_args``, ``low``,
        ``high``, ``steps``) on a worker; with ``wait``, poll until it is done or failed and
        return it with its ``curve`` and ``suggested`` range."""
        test = self.request("POST", "lr-range-tests/", spec)
        deadline = time.monotonic() + timeout
        while wait and test["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"LR range test {test['id']} still {test['status']}")
            time.sleep(poll)
            test = self.request("GET", f"lr-range-tests/{int(test['id'])}/")
        return test

    def plan(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Dry run of a launch: ``{"plan", "warnings", "spec"}`` (the rung table the spec
        would run, what wastes it, the spec with defaults filled). Creates nothing; a bad
        spec raises ApiError 400 as :meth:`launch` would."""
        return self.request("POST", "sweeps/plan/", spec)

    def trainers(self) -> list[dict[str, Any]]:
        """The registered trainers: ``key``, ``args_schema``, ``metrics``,
        ``default_space`` and how many live ``workers`` can run each."""
        return self.request("GET", "trainers/")

    def spec(self, sweep_id: int) -> dict[str, Any]:
        """The spec that launches a copy of a sweep (named "<name> (copy)")."""
        return self.request("GET", f"sweeps/{int(sweep_id)}/spec/")

    def zoom(self, sweep_id: int, k: int = 5, margin: float = 0.25) -> dict[str, Any]:
        """The space around the sweep's ``k`` best trials, widened by ``margin``: ``space``,
        ``changes``, ``based_on`` (trial numbers), ``warm_start`` and a ``spec`` to
        :meth:`launch` the follow-up sweep with."""
        return self.request(
            "GET", f"sweeps/{int(sweep_id)}/zoom/", query={"k": int(k), "margin": float(margin)}
        )

    def sharing(self, sweep_id: int) -> dict[str, Any]:
        """Who a sweep is shared with: ``owner``, ``viewers``, ``editors``, ``can_change``."""
        return self.request("GET", f"sweeps/{int(sweep_id)}/sharing/")

    def share(
        self,
        sweep_id: int,
        *,
        viewers: Sequence[str] = (),
        editors: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Share a sweep: these user names replace its viewers (who see it) and editors (who
        also steer it). Only its owner and staff may."""
        body = {"viewers": list(viewers), "editors": list(editors)}
        return self.request("PUT", f"sweeps/{int(sweep_id)}/sharing/", body)

    # --- saved search spaces ----------------------------------------------------------------

    def search_spaces(self) -> list[dict[str, Any]]:
        """The saved search spaces you can see (yours, shared with you; staff: all)."""
        return self.request("GET", "search-spaces/")

    def search_space(self, space_id: int) -> dict[str, Any]:
        return self.request("GET", f"search-spaces/{int(space_id)}/")

    def create_search_space(
        self, name: str, space: dict[str, Any], description: str = ""
    ) -> dict[str, Any]:
        """Save a space (the format of a spec's ``space``); name it in a spec's
        ``search_space`` by the returned ``id``."""
        body = {"name": name, "space": space, "description": description}
        return self.request("POST", "search-spaces/", body)

    def update_search_space(self, space_id: int, **fields: Any) -> dict[str, Any]:
        """Change some of ``name``, ``description``, ``space`` of a saved space."""
        return self.request("PATCH", f"search-spaces/{int(space_id)}/", fields)

    def delete_search_space(self, space_id: int) -> None:
        self.request("DELETE", f"search-spaces/{int(space_id)}/")

    def share_search_space(
        self,
        space_id: int,
        *,
        viewers: Sequence[str] = (),
        editors: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Share a saved space: viewers may use it, editors may also change it."""
        body = {"viewers": list(viewers), "editors": list(editors)}
        return self.request("PUT", f"search-spaces/{int(space_id)}/sharing/", body)

    def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep this token's user can see, newest first (all pages)."""
        return list(self.pages("sweeps/"))

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

    # --- workers --------------------------------------------------------------------------

    def workers(self) -> list[dict[str, Any]]:
        """The worker processes: ``state`` (running, idle, lost, stopped), ``trainers`` they
        can run, ``device`` and ``gpu_name``, and the ``trial`` each trains now (or None)."""
        return self.request("GET", "workers/")

    # --- trials ---------------------------------------------------------------------------

    def trials(self, sweep_id: int) -> list[dict[str, Any]]:
        """The trials of a sweep, by number (all pages)."""
        return list(self.pages(f"sweeps/{int(sweep_id)}/trials/"))

    def trial(self, trial_id: int) -> dict[str, Any]:
        return self.request("GET", f"trials/{int(trial_id)}/")

    def logs(self, trial_id: int) -> list[dict[str, Any]]:
        """A script trial's console output per segment: ``rung``, ``attempt``, ``text``,
        ``exit_code`` (None while it runs)."""
        return self.request("GET", f"trials/{int(trial_id)}/logs/")

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
