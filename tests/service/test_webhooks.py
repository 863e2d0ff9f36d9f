"""Job webhooks: Standard Webhooks signatures (checked by an independent implementation), the SSRF guard,
the outbox written with the job's end, retries with backoff, redelivery after a restart, and dispatchers
that share a database without sending a row twice. The receiver is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from _testdb import database_url
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.db import migrate
from service.db.models import DEFAULT_TENANT_ID, Dataset, Job, Tenant, WebhookDelivery
from service.db.session import Database
from service.db.types import new_id, utcnow
from service.jobs import states
from service.jobs.reaper import reap
from service.main import create_app
from service.repositories import jobs as jobs_repo
from service.settings import Settings
from service.webhooks import outbox, signing, targets
from service.webhooks.dispatcher import WebhookDispatcher, backoff_s

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks documentation's example secret


# -- helpers ---------------------------------------------------------------------------------------
class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every POST and answers the scripted statuses
    (then ``default``); ``delay_s`` slows each answer down."""

    def __init__(
        self, *, port: int = 0, statuses: list[int] | None = None, default: int = 200, delay_s: float = 0.0
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.default = default
        self.delay_s = delay_s
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "at": time.monotonic(),
                        }
                    )
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def free_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f} s (last value {value!r})")
        time.sleep(0.02)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url(data_dir),
        "workers": 0,
        "threads_per_job": 1,
        "worker_prewarm": False,
        "webhook_allow_private_targets": True,
        "webhook_poll_s": 0.02,
        "webhook_backoff_s": 0.05,
        "webhook_timeout_s": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def wh_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    migrate.upgrade(settings.database_url)
    return settings


@pytest.fixture
def db(wh_settings: Settings) -> Iterator[Database]:
    database = Database.from_url(wh_settings.database_url)
    yield database
    database.dispose()


def tenant_secret(db: Database) -> str:
    def read(*, session: Any) -> str:
        tenant = session.get(Tenant, DEFAULT_TENANT_ID)
        assert tenant is not None
        return str(tenant.webhook_secret)

    return db.call(read, write=False)


def delivery(db: Database, id: str) -> WebhookDelivery:
    row = db.call(lambda *, session: session.get(WebhookDelivery, id), write=False)
    assert row is not None
    return row


def deliveries(db: Database, job_id: str) -> list[WebhookDelivery]:
    return db.call(outbox.for_job, job_id=job_id, write=False)


def add_delivery(db: Database, url: str, *, job_id: str | None = None, **values: Any) -> str:
    """A pending outbox row of the default tenant, as a job's end writes it."""
    now = utcnow()
    job_id = job_id or new_id()
    payload = outbox.envelope("job.succeeded", {"id": job_id, "status": "succeeded"}, at=now)
    row = WebhookDelivery(
        id=new_id(),
        created_at=now,
        tenant_id=DEFAULT_TENANT_ID,
        job_id=job_id,
        event="job.succeeded",
        url=url,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        **values,
    )

    def insert(*, session: Any) -> None:
        session.add(row)

    db.call(insert)
    return row.id


def verify(secret: str, request: dict[str, Any]) -> dict[str, Any]:
    """Check a received call with the standardwebhooks package (not our code); returns the parsed body."""
    body: dict[str, Any] = Webhook(secret).verify(request["body"], request["headers"])
    return body


def _csv() -> bytes:
    from sklearn.datasets import load_breast_cancer

    buffer = io.BytesIO()
    load_breast_cancer(as_frame=True).frame.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def csv_bytes() -> bytes:
    return _csv()


def upload(client: TestClient, data: bytes) -> str:
    response = client.post("/v1/datasets", files={"file": ("bc.csv", data, "text/csv")}, data={"target": "target"})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def submit(client: TestClient, dataset_id: str, callback_url: str | None, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "dataset_id": dataset_id,
        "spec": {"trainer": "sklearn_logistic", "params": {}},
        "train_baseline": False,
        "time_budget_s": 120,
        **extra,
    }
    if callback_url is not None:
        body["callback_url"] = callback_url
    return client.post("/v1/jobs", json=body)


# -- signing ---------------------------------------------------------------------------------------
def test_signature_is_verified_by_the_standard_webhooks_library() -> None:
    body = outbox.envelope("job.succeeded", {"id": "j1", "status": "succeeded", "note": "ünïcode"}, at=utcnow())
    headers = signing.headers(SECRET, "msg_1", body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,") and abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert verify(SECRET, {"body": body, "headers": headers})["data"]["note"] == "ünïcode"
    # The same key material, as the library computes it, for a fixed timestamp.
    from datetime import UTC, datetime

    expected = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(1_700_000_000, UTC), body)
    assert signing.sign(SECRET, "msg_1", 1_700_000_000, body) == expected


def test_tampered_calls_are_rejected_by_the_standard_webhooks_library() -> None:
    body = outbox.envelope("job.failed", {"id": "j1", "status": "failed"}, at=utcnow())
    headers = signing.headers(SECRET, "msg_1", body)
    tampered = [
        (body.replace("failed", "succeeded"), headers),
        (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
        (body, {**headers, "webhook-id": "msg_2"}),
        (body, signing.headers(signing.SECRET_PREFIX + "b3RoZXIgc2VjcmV0IGtleQ==", "msg_1", body)),
        # Correctly signed, but ten minutes old: a replay.
        (body, signing.headers(SECRET, "msg_1", body, timestamp=int(time.time()) - 600)),
    ]
    for data, hdrs in tampered:
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(data, hdrs)
    with pytest.raises(signing.InvalidSecret):
        signing.sign("whsec_not*base64", "msg_1", 1, body)


# -- the SSRF guard --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.10:8080/", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://[fc00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1, a loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "not a public"),
        ("http://2130706433/", "resolves to 127.0.0.1"),
        ("ftp://example.com/", "scheme"),
        ("http://user:pw@8.8.8.8/", "user info"),
        ("http:///path", "no host"),
        ("http://8.8.8.8:99999/", "cannot be parsed"),
        ("http://nowhere.invalid/", "does not resolve"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(targets.TargetRefused, match=reason):
        targets.check_url(url, allow_private=False)


def test_check_url_allows_public_and_private_when_allowed() -> None:
    targets.check_url("https://8.8.8.8/hook", allow_private=False)  # an IP literal: no DNS needed
    targets.check_url("http://[2606:4700:4700::1111]:8443/x?y=1", allow_private=False)
    targets.check_url("http://127.0.0.1:9/x", allow_private=True)
    targets.check_url("http://localhost/", allow_private=True)
    with pytest.raises(targets.TargetRefused, match="scheme"):
        targets.check_url("file:///etc/passwd", allow_private=True)  # the setting lifts the address rule only


def test_the_connection_itself_only_goes_to_allowed_addresses(receiver: Receiver) -> None:
    # Past the check (DNS rebinding): the transport resolves and checks again when it connects.
    with (
        httpx.Client(transport=targets.guarded_transport(allow_private=False)) as client,
        pytest.raises(targets.TargetRefused, match="loopback"),
    ):
        client.post(receiver.url(), content=b"{}")
    with httpx.Client(transport=targets.guarded_transport(allow_private=True)) as client:
        assert client.post(f"http://localhost:{receiver.port}/x", content=b"{}").status_code == 200
    assert len(receiver.requests) == 1


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    for tries, expected in [(1, 5.0), (2, 10.0), (3, 20.0), (10, 2560.0), (11, 3600.0), (500, 3600.0)]:
        for _ in range(20):
            assert 0.9 * expected <= backoff_s(tries, base_s=5.0, max_s=3600.0) <= 1.1 * expected


# -- the API ---------------------------------------------------------------------------------------
def test_create_refuses_private_callback_urls(tmp_path: Path, csv_bytes: bytes) -> None:
    settings = make_settings(tmp_path, webhook_allow_private_targets=False)
    migrate.upgrade(settings.database_url)
    refused = [
        "http://127.0.0.1/x",
        "http://localhost/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "ftp://example.com",
        "http://nowhere.invalid/hook",
    ]
    with TestClient(create_app(settings)) as client:
        dataset_id = upload(client, csv_bytes)
        for url in refused:
            response = submit(client, dataset_id, url)
            assert response.status_code == 422, (url, response.text)
            errors = response.json()["errors"]
            assert [e["loc"] for e in errors] == [["body", "callback_url"]], (url, errors)
            if url.startswith("http"):
                assert errors[0]["type"] == "callback_url_refused" and "callback_url refused" in errors[0]["msg"]
        assert "does not resolve" in submit(client, dataset_id, refused[-1]).json()["errors"][0]["msg"]
        assert client.get("/v1/jobs").json()["items"] == []
    database = Database.from_url(settings.database_url)
    assert database.call(lambda *, session: session.scalars(select(Job.id)).all(), write=False) == []
    database.dispose()

    allowed = settings.model_copy(update={"webhook_allow_private_targets": True})
    with TestClient(create_app(allowed)) as client:
        response = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset_id,
                "spec": {"trainer": "sklearn_logistic"},
                "train_baseline": False,
                "callback_url": "http://127.0.0.1:9/x",
            },
            headers={"Idempotency-Key": "k1"},
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["callback_url"] == "http://127.0.0.1:9/x"
        assert client.get(f"/v1/jobs/{job['id']}").json()["callback_url"] == "http://127.0.0.1:9/x"
        # The callback is part of the request an Idempotency-Key stands for.
        other = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset_id,
                "spec": {"trainer": "sklearn_logistic"},
                "train_baseline": False,
                "callback_url": "http://127.0.0.1:9/y",
            },
            headers={"Idempotency-Key": "k1"},
        )
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]


def test_a_cancelled_job_posts_one_signed_call(tmp_path: Path, csv_bytes: bytes, receiver: Receiver) -> None:
    settings = make_settings(tmp_path)
    migrate.upgrade(settings.database_url)
    with TestClient(create_app(settings)) as client:
        dataset_id = upload(client, csv_bytes)
        response = submit(client, dataset_id, receiver.url("/hooks/a?x=1"))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        plain = submit(client, dataset_id, None).json()["id"]  # no callback: no call
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code in (200, 202)
        assert client.post(f"/v1/jobs/{plain}/cancel").status_code in (200, 202)
        db = client.app.state.db  # type: ignore[attr-defined]
        wait_for(lambda: [d.status for d in deliveries(db, job_id)] == ["delivered"])
        secret = tenant_secret(db)
        assert deliveries(db, plain) == []
        # The job shows its calls (the receiver's answer included); a job without a callback shows none.
        shown = client.get(f"/v1/jobs/{job_id}").json()["webhook_deliveries"]
        assert [(d["event"], d["status"], d["attempts"], d["last_status_code"]) for d in shown] == [
            ("job.cancelled", "delivered", 1, 200)
        ]
        assert shown[0]["delivered_at"] and shown[0]["next_attempt_at"] is None
        assert client.get(f"/v1/jobs/{plain}").json()["webhook_deliveries"] is None
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hooks/a?x=1"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["user-agent"].startswith("model-advisor-webhooks/")
    body = verify(secret, request)
    assert body["type"] == "job.cancelled" and body["timestamp"].endswith("Z")
    assert body["data"]["id"] == job_id and body["data"]["status"] == "cancelled"
    assert body["data"]["error"]["type"] == "cancelled" and body["data"]["curves"] is None
    row = deliveries(db, job_id)[0]
    assert request["headers"]["webhook-id"] == row.id and request["body"] == row.payload
    assert (row.event, row.attempts, row.last_status_code, row.last_error) == ("job.cancelled", 1, 200, None)
    assert row.delivered_at is not None and row.lease_owner is None


def test_a_trained_job_posts_its_result(tmp_path: Path, csv_bytes: bytes, receiver: Receiver) -> None:
    settings = make_settings(tmp_path, workers=1)
    migrate.upgrade(settings.database_url)
    with TestClient(create_app(settings)) as client:
        dataset_id = upload(client, csv_bytes)
        response = submit(client, dataset_id, receiver.url())
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        wait_for(lambda: receiver.requests, timeout=120)
        job = client.get(f"/v1/jobs/{job_id}").json()
        secret = tenant_secret(client.app.state.db)  # type: ignore[attr-defined]
    assert job["status"] == "succeeded", job["error"]
    assert len(receiver.requests) == 1
    body = verify(secret, receiver.requests[0])
    assert body["type"] == "job.succeeded"
    assert body["data"]["id"] == job_id and body["data"]["status"] == "succeeded"
    assert body["data"]["metrics"] == job["metrics"] and body["data"]["artifact"]["sha256"]


# -- the outbox is written with the job's end --------------------------------------------------------
def _job_row(db: Database, **values: Any) -> str:
    now = utcnow()
    dataset = Dataset(
        id=new_id(),
        name="meta",
        source="metadata",
        modality="tabular",
        task="binary",
        n_rows=10,
        profile={},
        details={},
        warnings=[],
    )
    job = Job(
        id=new_id(),
        created_at=now,
        updated_at=now,
        queued_at=now,
        dataset_id=dataset.id,
        model="m",
        trainer="sklearn_logistic",
        params={},
        seed=0,
        time_budget_s=60,
        queue="cpu",
        status=states.QUEUED,
        attempt=0,
        max_attempts=1,
        cancel_requested=False,
        history=[],
        callback_url="http://127.0.0.1:9/x",
    )
    for key, value in values.items():
        setattr(job, key, value)

    def insert(*, session: Any) -> None:
        session.add(dataset)
        session.flush()
        session.add(job)

    db.call(insert)
    return job.id


def test_the_reaper_writes_the_webhook_when_it_fails_a_job(db: Database, wh_settings: Settings) -> None:
    past = utcnow() - timedelta(minutes=5)
    common = {"status": states.RUNNING, "attempt": 1, "lease_owner": "gone", "lease_expires_at": past}
    failed = _job_row(db, **common, max_attempts=1)
    retried = _job_row(db, **common, max_attempts=2)
    report = reap(db, wh_settings, None)
    assert report.failed == [failed] and report.requeued == [retried]
    [row] = deliveries(db, failed)
    assert row.event == "job.failed" and row.status == "pending" and row.url == "http://127.0.0.1:9/x"
    data = json.loads(row.payload)["data"]
    assert data["status"] == "failed" and data["error"]["type"] == "lease_expired"
    assert deliveries(db, retried) == []  # back in the queue: not an end


def test_the_webhook_commits_with_the_status_or_not_at_all(db: Database) -> None:
    job_id = _job_row(db)

    def cancel_then_crash(*, session: Any) -> None:
        assert jobs_repo.cancel_queued(session=session, id=job_id, now=utcnow())
        outbox.enqueue_for_job(session, job_id)
        assert len(outbox.for_job(session=session, job_id=job_id)) == 1
        raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        db.call(cancel_then_crash)
    assert db.call(jobs_repo.get, id=job_id, tenant_id=None, write=False).status == states.QUEUED
    assert deliveries(db, job_id) == []

    def cancel(*, session: Any) -> None:
        assert jobs_repo.cancel_queued(session=session, id=job_id, now=utcnow())
        outbox.enqueue_for_job(session, job_id)
        outbox.enqueue_for_job(session, job_id)  # once per end, however often it is called

    db.call(cancel)
    assert [d.event for d in deliveries(db, job_id)] == ["job.cancelled"]


# -- the dispatcher ----------------------------------------------------------------------------------
def test_retries_with_backoff_until_delivered(db: Database, wh_settings: Settings) -> None:
    receiver = Receiver(statuses=[500, 500])
    settings = wh_settings.model_copy(update={"webhook_backoff_s": 0.2})
    dispatcher = WebhookDispatcher(db=db, settings=settings)
    try:
        row_id = add_delivery(db, receiver.url())
        dispatcher.start()
        row = wait_for(lambda: (d := delivery(db, row_id)).status != "pending" and d)
    finally:
        dispatcher.stop()
        receiver.close()
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 3, 200, None)
    secret = tenant_secret(db)
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [row_id] * 3
    assert all(verify(secret, r)["data"]["status"] == "succeeded" for r in receiver.requests)
    assert len({r["body"] for r in receiver.requests}) == 1  # the stored text, every time
    first, second, third = (r["at"] for r in receiver.requests)
    assert second - first >= 0.9 * 0.2 and third - second >= 0.9 * 0.4  # base, then twice the base


def test_gone_stops_and_the_last_try_fails(db: Database, wh_settings: Settings) -> None:
    gone = Receiver(default=410)
    settings = wh_settings.model_copy(update={"webhook_max_attempts": 2, "webhook_backoff_s": 0.02})
    dispatcher = WebhookDispatcher(db=db, settings=settings)
    try:
        stop = add_delivery(db, gone.url())
        down = add_delivery(db, f"http://127.0.0.1:{free_port()}/x")
        dispatcher.start()
        wait_for(lambda: all(delivery(db, i).status != "pending" for i in (stop, down)))
    finally:
        dispatcher.stop()
        gone.close()
    row = delivery(db, stop)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 410) and "410" in str(row.last_error)
    assert len(gone.requests) == 1
    row = delivery(db, down)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 2, None)
    assert "ConnectError" in str(row.last_error) and "gave up after 2 tries" in str(row.last_error)


def test_a_target_refused_at_delivery_fails_without_a_call(
    db: Database, wh_settings: Settings, receiver: Receiver
) -> None:
    # Allowed when the job was created; not by this dispatcher's settings (or the host moved to a private address).
    settings = wh_settings.model_copy(update={"webhook_allow_private_targets": False})
    row_id = add_delivery(db, receiver.url())
    assert WebhookDispatcher(db=db, settings=settings).run_once() == 1
    row = delivery(db, row_id)
    assert (row.status, row.attempts) == ("failed", 1) and "target refused" in str(row.last_error)
    assert receiver.requests == []


def test_an_expired_lease_makes_a_row_claimable_again(db: Database, wh_settings: Settings, receiver: Receiver) -> None:
    held = add_delivery(db, receiver.url(), lease_owner="crashed", lease_expires_at=utcnow() + timedelta(minutes=1))
    dispatcher = WebhookDispatcher(db=db, settings=wh_settings)
    assert dispatcher.run_once() == 0 and receiver.requests == []  # leased: another dispatcher may be trying it

    def expire(*, session: Any) -> None:
        session.get(WebhookDelivery, held).lease_expires_at = utcnow() - timedelta(seconds=1)

    db.call(expire)
    assert dispatcher.run_once() == 1
    assert delivery(db, held).status == "delivered" and len(receiver.requests) == 1
    assert dispatcher.run_once() == 0 and len(receiver.requests) == 1


def test_two_dispatchers_never_send_a_row_twice(wh_settings: Settings, db: Database) -> None:
    receiver = Receiver(delay_s=0.01)
    ids = [add_delivery(db, receiver.url()) for _ in range(40)]
    other_db = Database.from_url(wh_settings.database_url)  # another replica: its own engine
    dispatchers = [
        WebhookDispatcher(db=db, settings=wh_settings, name="a"),
        WebhookDispatcher(db=other_db, settings=wh_settings, name="b"),
    ]
    try:
        for d in dispatchers:
            d.start()
        wait_for(lambda: all(delivery(db, i).status == "delivered" for i in ids))
        time.sleep(0.1)  # a few more polls: nothing is sent again
    finally:
        for d in dispatchers:
            d.stop()
        receiver.close()
        other_db.dispose()
    sent = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert sorted(sent) == sorted(ids)  # each row reached the receiver once, by one of the two dispatchers
    # A retry after a connection the loaded test receiver reset before reading is a second attempt, not a
    # second delivery: what this test pins is that no row is delivered twice.
    assert all(delivery(db, i).status == "delivered" for i in ids)


def test_redelivery_after_a_restart(tmp_path: Path, csv_bytes: bytes) -> None:
    port = free_port()
    settings = make_settings(tmp_path, webhook_backoff_s=0.3, webhook_max_attempts=20)
    migrate.upgrade(settings.database_url)
    with TestClient(create_app(settings)) as client:
        dataset_id = upload(client, csv_bytes)
        response = submit(client, dataset_id, f"http://127.0.0.1:{port}/after-restart")
        job_id = response.json()["id"]
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code in (200, 202)
        db = client.app.state.db  # type: ignore[attr-defined]
        # The receiver is down: the first try fails and the row waits for the next one.
        wait_for(lambda: (d := deliveries(db, job_id)) and d[0].attempts >= 1)
    [row] = deliveries(db, job_id)
    assert row.status == "pending" and row.lease_owner is None and "ConnectError" in str(row.last_error)

    receiver = Receiver(port=port)
    try:
        with TestClient(create_app(settings)) as client:  # a new app on the same database and data dir
            db = client.app.state.db  # type: ignore[attr-defined]
            wait_for(lambda: deliveries(db, job_id)[0].status == "delivered")
            time.sleep(0.1)
            secret = tenant_secret(db)
    finally:
        receiver.close()
    assert len(receiver.requests) == 1
    body = verify(secret, receiver.requests[0])
    assert body["data"]["id"] == job_id and body["data"]["status"] == "cancelled"
    assert receiver.requests[0]["headers"]["webhook-id"] == row.id
    assert deliveries(db, job_id)[0].attempts == row.attempts + 1
