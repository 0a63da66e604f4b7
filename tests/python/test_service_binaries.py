"""Each service binary: --help, bad configuration, SERVING once Kafka and Redis answer,
reflection lists its service, metrics on the admin port, SIGTERM -> exit 0 within the grace."""
import json
import subprocess
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import BINARY_DIR

SERVICES = {
    "marketing": "concord.marketing.v1.MarketingService",
    "sales": "concord.sales.v1.SalesService",
    "alignment": "concord.alignment.v1.AlignmentService",
}


@pytest.mark.parametrize("name", SERVICES)
def test_help_lists_every_flag_with_its_variable_and_default(name):
    out = subprocess.run([BINARY_DIR / "bin" / f"concord-{name}", "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    for flag, env in [("--grpc-listen", "CONCORD_GRPC_LISTEN"), ("--kafka-brokers", "CONCORD_KAFKA_BROKERS"),
                      ("--redis-port", "CONCORD_REDIS_PORT"), ("--shutdown-grace-seconds", "CONCORD_SHUTDOWN_GRACE_SECONDS")]:
        assert flag in out.stdout and env in out.stdout, f"{flag}/{env} missing from --help:\n{out.stdout}"
    assert "6379" in out.stdout  # defaults are shown


@pytest.mark.parametrize("name", SERVICES)
def test_bad_configuration_exits_2_naming_the_setting(name):
    out = subprocess.run([BINARY_DIR / "bin" / f"concord-{name}", "--grpc-listen", "nonsense"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert "--grpc-listen (CONCORD_GRPC_LISTEN): 'nonsense' is not host:port" in out.stderr


def list_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    return {s.name for r in responses for s in r.list_services_response.service}


@pytest.mark.parametrize("name", SERVICES)
def test_serving_reflection_metrics_and_clean_sigterm(name, start_service):
    svc = start_service(name)
    assert svc.health(SERVICES[name]) == health_pb2.HealthCheckResponse.SERVING
    assert SERVICES[name] in list_services(svc.channel)
    assert "grpc.health.v1.Health" in list_services(svc.channel)

    status, body = svc.admin("/healthz")
    assert status == 200 and "SERVING" in body
    status, body = svc.admin("/metrics")
    assert status == 200 and "concord_serving 1" in body
    # The process's own gauges; the service binaries run on jemalloc, so the heap's are there too.
    values = {l.split(" ")[0]: float(l.split(" ")[1]) for l in body.splitlines() if l and not l.startswith("#")}
    assert values["process_resident_memory_bytes"] > 1 << 20 and values["process_threads"] > 1
    assert values["process_cpu_seconds_total"] > 0
    assert 0 < values["concord_heap_allocated_bytes"] <= values["concord_heap_resident_bytes"]

    started = time.time()
    assert svc.terminate(timeout=30) == 0
    assert time.time() - started < 25
    lines = [json.loads(l) for l in svc.output().splitlines() if l.startswith("{")]
    messages = [l["msg"] for l in lines]
    assert "shutting down" in messages and messages[-1] == "stopped", messages
    assert all({"ts", "level", "service", "msg"} <= l.keys() for l in lines)


def test_not_serving_while_redis_is_unreachable(start_service):
    # Redis on a port where nothing listens: the service runs but must not report SERVING.
    svc = start_service("sales", env={"CONCORD_REDIS_PORT": "1"}, wait=False)
    time.sleep(2)
    assert svc.proc.poll() is None
    assert svc.health() == health_pb2.HealthCheckResponse.NOT_SERVING
    status, _ = svc.admin("/healthz")
    assert status == 503
    assert svc.terminate() == 0
