"""Redis killed with -9 under a running service, then restarted: the service reports
NOT_SERVING while Redis is gone, calls fail fast with UNAVAILABLE inside their deadline, the
service recovers without a restart, and no acknowledged write is lost. The test runs its own
redis-server (AOF, fsync always) on a free port, so the shared one is never touched."""
import signal
import subprocess
import sys
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2

from conftest import SOURCE_DIR, free_port

sys.path.insert(0, str(SOURCE_DIR / "examples" / "python"))
import concord_proto  # noqa: E402

concord_proto.load()
from concord.events.v1 import common_pb2 as c  # noqa: E402
from concord.sales.v1 import sales_pb2 as sl, sales_pb2_grpc as sl_grpc  # noqa: E402

REP = c.Actor(team=c.TEAM_SALES, id="rep-outage", display_name="Rep")


class PrivateRedis:
    def __init__(self, directory):
        self.port = free_port()
        self.dir = directory
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def redis(tmp_path):
    r = PrivateRedis(tmp_path)
    r.start()
    yield r
    r.stop()


def create_account(stub, name, timeout=5):
    return stub.CreateAccount(sl.CreateAccountRequest(request_id=str(uuid.uuid4()), actor=REP, name=name,
                                                      website=f"{name.lower()}-{uuid.uuid4().hex[:8]}.com"),
                              timeout=timeout).account


def wait_health(svc, want, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if svc.health() == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"health never became {want}")


def test_redis_killed_and_restarted_under_a_running_service(start_service, redis):
    svc = start_service("sales", env={"CONCORD_REDIS_PORT": str(redis.port),
                                      "CONCORD_REDIS_COMMAND_TIMEOUT_MS": "500",
                                      "CONCORD_REDIS_CONNECT_TIMEOUT_MS": "300"})
    stub = sl_grpc.SalesServiceStub(svc.channel)
    before = create_account(stub, "Before")

    redis.kill()
    wait_health(svc, health_pb2.HealthCheckResponse.NOT_SERVING)
    started = time.time()
    with pytest.raises(grpc.RpcError) as err:
        create_account(stub, "During", timeout=3)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    assert time.time() - started < 3, "fails fast, inside the deadline"

    redis.start()  # same directory: the AOF brings the data back
    wait_health(svc, health_pb2.HealthCheckResponse.SERVING)
    after = create_account(stub, "After")
    got = stub.GetAccount(sl.GetAccountRequest(account_id=before.id), timeout=5)
    assert got.id == before.id, "the write acknowledged before the outage is still there"
    assert stub.GetAccount(sl.GetAccountRequest(account_id=after.id), timeout=5).name == "After"
    assert svc.proc.poll() is None, "recovered without a restart"


def test_a_message_over_the_size_limit_is_resource_exhausted(start_service):
    svc = start_service("sales", env={"CONCORD_MAX_MESSAGE_BYTES": "65536"})
    stub = sl_grpc.SalesServiceStub(svc.channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.LogActivity(sl.LogActivityRequest(request_id=str(uuid.uuid4()), actor=REP, notes="x" * 100_000), timeout=5)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value.details()
    # and the service goes on
    assert svc.health() == health_pb2.HealthCheckResponse.SERVING
