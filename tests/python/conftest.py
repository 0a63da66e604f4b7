"""Shared fixtures for the cross-service tests: start the real service binaries against the
real Kafka and Redis that scripts/infra runs, on free ports, and stop them cleanly."""
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ports import free_port, free_ports  # noqa: F401 - free_port is imported from here by tests

SOURCE_DIR = Path(os.environ.get("CONCORD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BINARY_DIR = Path(os.environ.get("CONCORD_BINARY_DIR", Path(__file__).resolve().parents[2] / "build"))
KAFKA = os.environ.get("CONCORD_KAFKA_BROKERS", "127.0.0.1:9092")
REDIS_PORT = os.environ.get("CONCORD_REDIS_PORT", "6379")


def proto_modules(**names):
    """Python stubs generated from proto/ at test time (examples/python/concord_proto.py), imported
    by module name: proto_modules(common="concord.events.v1.common_pb2", ...)."""
    import importlib
    import sys as _sys

    _sys.path.insert(0, str(SOURCE_DIR / "examples" / "python"))
    import concord_proto

    concord_proto.load()
    return type("Stubs", (), {k: importlib.import_module(v) for k, v in names.items()})


def create_topics(*names: str, partitions: int = 3) -> None:
    """Creates topics on the local broker (auto-creation is off) and waits for them."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": KAFKA})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    for name, f in futures.items():
        try:
            f.result(30)
        except Exception as e:  # noqa: BLE001 - an existing topic is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


class Service:
    """One running service binary."""

    def __init__(self, name: str, extra_args=(), extra_env=None, tag: str = ""):
        self.name = name
        self.grpc_port, self.admin_port = free_ports(2)
        self.binary = BINARY_DIR / "bin" / f"concord-{name}"
        env = dict(os.environ)
        env.update({
            "CONCORD_KAFKA_BROKERS": KAFKA,
            "CONCORD_REDIS_PORT": REDIS_PORT,
            "CONCORD_GRPC_LISTEN": f"127.0.0.1:{self.grpc_port}",
            "CONCORD_ADMIN_LISTEN": f"127.0.0.1:{self.admin_port}",
            "CONCORD_INSTANCE_ID": f"test-{name}-{self.grpc_port}",
            "CONCORD_PLAYBOOK": str(SOURCE_DIR / "services" / "alignment" / "playbook.example.yaml"),
        })
        if name in ("marketing", "sales") and tag:
            # One outbox and relay lease per test: another test's killed instance must not
            # hold the relay lease (up to its expiry) for this test's events.
            env["CONCORD_STORE_PREFIX"] = f"concord:test:{tag}:{name}"
        if name == "alignment" and "CONCORD_FINDINGS_TOPIC" not in (extra_env or {}):
            # Its own consumer group, Redis keys and output topics: a test instance re-reads
            # the shared input topics and must not publish into the demo's findings.
            tag = f"test-alignment-{self.grpc_port}"
            env["CONCORD_GROUP_ID"] = tag
            env["CONCORD_REDIS_PREFIX"] = f"concord:test:{tag}"
            env["CONCORD_FINDINGS_TOPIC"] = f"concord.test.findings.{tag}"
            env["CONCORD_DLQ_TOPIC"] = f"concord.test.dlq.{tag}"
            create_topics(env["CONCORD_FINDINGS_TOPIC"], env["CONCORD_DLQ_TOPIC"])
        env.update(extra_env or {})
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"concord-{name}-{self.grpc_port}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.binary), *extra_args], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")

    def health(self, service: str = "") -> int:
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1).status
        except grpc.RpcError:
            return -1

    def wait_serving(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()}")
            if self.health() == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not SERVING after {timeout}s:\n{self.output()}")

    def admin(self, path: str):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.channel.close()
            self.log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.channel.close()
        self.log.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_service():
    started = []
    tag = f"t{os.getpid()}-{free_port()}"  # shared by the restarts within one test

    def start(name, *args, env=None, wait=True):
        svc = Service(name, args, env, tag)
        started.append(svc)
        if wait:
            svc.wait_serving()
        return svc

    yield start
    for svc in started:
        svc.kill()
