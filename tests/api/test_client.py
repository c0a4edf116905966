"""sweeps.client.Client against a live server over plain HTTP."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pandas as pd
import pytest
from rest_framework.authtoken.models import Token

from sweeps.api import views
from sweeps.client import ApiError, Client
from sweeps.models import Sweep
from tests.api.factories import add_points, spec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server: Any, owner: Any) -> Client:
    return Client(live_server.url, Token.objects.create(user=owner).key, timeout=10)


def test_launch_read_and_list(client: Client) -> None:
    sweep = client.launch(spec(name="from the client"))
    assert sweep["status"] == "running" and sweep["owner"] == "alice"
    assert client.sweep(sweep["id"])["name"] == "from the client"
    assert [s["id"] for s in client.sweeps()] == [sweep["id"]]
    assert client.trials(sweep["id"]) == []


def test_trials_and_sweeps_are_collected_from_every_page(
    client: Client, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps import client as client_module
    from tests.api.factories import make_sweep, make_trial

    monkeypatch.setattr(client_module, "PAGE_SIZE", 3)
    sweep = make_sweep(owner)
    for number in range(1, 11):
        make_trial(sweep, number)
    others = [make_sweep(owner, name=f"other {i}").pk for i in range(4)]
    sent: list[dict[str, Any]] = []
    request = client.request

    def counted(method: str, path: str, body: Any = None, query: Any = None, **kw: Any) -> Any:
        sent.append(dict(query or {}))
        return request(method, path, body, query, **kw)

    monkeypatch.setattr(client, "request", counted)
    assert [t["number"] for t in client.trials(sweep.pk)] == list(range(1, 11))
    assert len(sent) == 4 and all(q["page_size"] == 3 for q in sent)
    assert "cursor" not in sent[0] and all(q["cursor"] for q in sent[1:])
    assert [s["id"] for s in client.sweeps()] == sorted([sweep.pk, *others], reverse=True)


def test_a_bad_spec_raises_with_status_and_every_field(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.launch(spec(max_trials=0, trainer_args={"batch_size": -1}))
    error = caught.value
    assert error.status == 400
    assert {"max_trials", "trainer_args.batch_size"} <= set(error.errors)
    assert "max_trials" in str(error) and Sweep.objects.count() == 0


def test_errors_carry_401_404_and_409(
    client: Client, live_server: Any, sweep: Sweep, stranger: Any
) -> None:
    with pytest.raises(ApiError) as caught:
        Client(live_server.url, "").sweep(sweep.pk)
    assert caught.value.status == 401
    strangers = Client(live_server.url, Token.objects.create(user=stranger).key)
    with pytest.raises(ApiError) as caught:
        strangers.sweep(sweep.pk)
    assert caught.value.status == 404 and caught.value.detail
    stopped = sweep.trials.get(number=2)
    with pytest.raises(ApiError) as caught:
        client.kill(stopped.pk)
    assert caught.value.status == 409 and "stopped" in caught.value.detail


def test_steer_trials_and_the_sweep(client: Client, sweep: Sweep) -> None:
    running = sweep.trials.get(number=3)
    assert client.pause(running.pk)["status"] == "paused"
    assert client.resume(running.pk)["status"] == "pending"
    assert client.kill(running.pk)["status"] == "killed"
    assert client.promote(sweep.trials.get(number=2).pk)["rung"] == 1
    assert client.extend(sweep.trials.get(number=1).pk)["rung"] == 3
    manual = client.enqueue(sweep.pk, {"lr": 0.02, "layers": 1, "opt": "sgd"})
    assert manual["manual"] is True and manual["number"] == 5
    assert client.update(sweep.pk, concurrency=4)["concurrency"] == 4
    assert client.pause_sweep(sweep.pk)["status"] == "paused"
    assert client.resume_sweep(sweep.pk)["status"] == "running"
    assert client.cancel_sweep(sweep.pk)["status"] == "cancelled"
    assert client.bracket(sweep.pk)["sweep"] == sweep.pk


def test_wait_returns_when_the_sweep_finishes(client: Client, sweep: Sweep) -> None:
    def finish() -> None:
        time.sleep(0.3)
        Sweep.objects.filter(pk=sweep.pk).update(status="completed")

    worker = threading.Thread(target=finish)
    worker.start()
    started = time.monotonic()
    done = client.wait(sweep.pk, timeout=10, poll=0.05)
    worker.join()
    assert done["status"] == "completed" and done["best_value"] == 0.3
    assert time.monotonic() - started < 5


def test_wait_times_out_naming_the_status(client: Client, sweep: Sweep) -> None:
    with pytest.raises(TimeoutError, match="still running"):
        client.wait(sweep.pk, timeout=0.2, poll=0.05)


def test_metrics_follow_the_cursor_into_one_frame(
    client: Client, sweep: Sweep, monkeypatch: Any
) -> None:
    monkeypatch.setattr(views, "METRICS_PAGE", 7)
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [float(i) for i in range(20)])
    add_points(trial, "grad_norm", [1.0, 2.0])
    frame = client.metrics(trial.pk)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 22
    assert list(frame.columns) == ["id", "name", "step", "value", "time"]
    loss = client.metrics(trial.pk, name="train_loss")
    assert loss["value"].tolist() == [float(i) for i in range(20)]
    thinned = client.metrics(trial.pk, name="train_loss", max_points=6)
    assert 2 <= len(thinned) <= 6 and thinned["step"].iloc[-1] == 19
    empty = client.metrics(trial.pk, name="nothing")
    assert empty.empty and list(empty.columns) == ["id", "name", "step", "value", "time"]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_returns_the_file(client: Client, sweep: Sweep, fmt: str, tmp_path: Any) -> None:
    target = tmp_path / f"out.{fmt}"
    content = client.export(sweep.pk, fmt, path=target)
    assert target.read_bytes() == content
    reader = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[fmt]
    frame = reader(io.BytesIO(content))
    assert frame["number"].tolist() == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="fmt must be one of"):
        client.export(sweep.pk, "xlsx")


def test_url_and_token_from_the_environment(live_server: Any, owner: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("RUNGS_URL", f"{live_server.url}/api/")
    monkeypatch.setenv("RUNGS_TOKEN", Token.objects.create(user=owner).key)
    assert Client().sweeps() == []


def test_workers_and_a_launch_warning(client: Client) -> None:
    from tests.factories import make_worker

    assert client.launch(spec(name="nobody home"))["warnings"][0].startswith("no worker is running")
    make_worker("cpu0@a:1", ["toy"])
    [worker] = client.workers()
    assert (worker["name"], worker["state"], worker["trainers"]) == ("cpu0@a:1", "idle", ["toy"])
    assert client.launch(spec(name="served"))["warnings"] == []
