"""The Kafka broker down for a while: concord-sales keeps acknowledging writes (Redis is up; the
events wait in the Redis outbox), and once the broker is back every acknowledged write's event
is on concord.sales.events.v1 exactly once.

This test stops the shared local broker (scripts/infra stop-kafka ... start-kafka): it must run
alone (ctest RUN_SERIAL), never next to tests that need Kafka."""
import subprocess
import time

from grpc_health.v1 import health_pb2

from test_sales_api import (SOURCE_DIR, collect, drop_keys, make_writes, outbox_length, pb,  # noqa: F401 (pb: fixture)
                            start_sales, tail_consumer, unique_prefix)

INFRA = SOURCE_DIR / "scripts" / "infra"


def infra(command):
    subprocess.run([str(INFRA), command], check=True, timeout=120)


def test_writes_during_a_broker_outage_reach_kafka_once_it_is_back(pb, start_service):  # noqa: F811
    prefix = unique_prefix()
    svc = start_sales(start_service, prefix)
    consumer = tail_consumer()
    stopped = False
    try:
        infra("stop-kafka")
        stopped = True
        # Writes are acknowledged while the broker is down.
        written = make_writes(pb, pb.grpc.SalesServiceStub(svc.channel), n_accounts=3)
        assert len(written) == 15
        assert outbox_length(prefix) == len(written), "undelivered events stay in the outbox"
        # Health reports the missing dependency (the gRPC API keeps serving writes).
        deadline = time.time() + 10
        while svc.health() != health_pb2.HealthCheckResponse.NOT_SERVING and time.time() < deadline:
            time.sleep(0.2)
        assert svc.health() == health_pb2.HealthCheckResponse.NOT_SERVING
        time.sleep(3)  # the relay keeps trying meanwhile
        infra("start-kafka")
        stopped = False

        seen = collect(consumer, set(written), timeout=120, settle=5)
        missing = set(written) - seen.keys()
        assert not missing, f"{len(missing)} acknowledged writes never reached Kafka: {sorted(missing)[:5]}"
        for ce_id, records in seen.items():
            assert len(records) == 1, f"{ce_id} published {len(records)} times"
            key, headers = records[0]
            assert key == written[ce_id][0]
            assert headers["ce_type"] == written[ce_id][1]
        deadline = time.time() + 10
        while outbox_length(prefix) and time.time() < deadline:
            time.sleep(0.2)
        assert outbox_length(prefix) == 0
    finally:
        if stopped:
            infra("start-kafka")
        consumer.close()
        svc.kill()
        drop_keys(prefix)
