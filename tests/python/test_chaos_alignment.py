"""Chaos at scale (issue 8, run by scripts/chaos, not scripts/test: it takes minutes).

100k events (stories of ~10000 customers with duplicates and conflicts, the benchmark's mix,
every 50th record sent twice) go into a pair of fresh input topics once. Each alignment run
reads them all with its own consumer group, Redis prefix and findings topic:
  * uninterrupted: one instance from start to end; the reference set of findings;
  * killed: one instance killed with SIGKILL three times (at about 25%, 50% and 75% of the
    input checkpointed) and started again each time;
  * rebalanced: a second instance joins at about a third, the first leaves at about two thirds.
Each interrupted run (with only 500 customers decoded, the rest kept as checkpoint bytes; the
reference keeps all decoded) must give exactly the reference set of finding ids. A finding published
again after a kill (between its publication and the checkpoint that records it) is allowed on
the topic, since consumers dedupe by id; the stored set must not differ at all.
"""
import os
import random
import subprocess
import time

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from conftest import BINARY_DIR, KAFKA, REDIS_PORT, Service, create_topics

EVENTS = int(os.environ.get("CONCORD_CHAOS_EVENTS", "100000"))
CUSTOMERS = max(1, EVENTS // 10)
PARTITIONS = 6
RUN = f"{random.randrange(16**8):08x}"
MARKETING = f"concord.chaos.{RUN}.marketing"
SALES = f"concord.chaos.{RUN}.sales"


@pytest.fixture(scope="module")
def filled():
    create_topics(MARKETING, SALES, partitions=PARTITIONS)
    out = subprocess.run([str(BINARY_DIR / "bench" / "concord-kafka-bench"), "fill", "--brokers", KAFKA,
                          "--marketing", MARKETING, "--sales", SALES, "--events", str(EVENTS),
                          "--customers", str(CUSTOMERS)], check=True, capture_output=True, text=True, timeout=300)
    print("fill:", out.stdout.strip())
    ends = {}
    c = Consumer({"bootstrap.servers": KAFKA, "group.id": f"chaos-ends-{RUN}"})
    try:
        for topic in (MARKETING, SALES):
            for p in range(PARTITIONS):
                ends[(topic, p)] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    finally:
        c.close()
    assert sum(ends.values()) == EVENTS
    return ends


class Run:
    """One alignment deployment (group, Redis prefix, findings topic) over the filled topics."""

    def __init__(self, start_service, name):
        self.start_service = start_service
        self.tag = f"chaos-{RUN}-{name}"
        self.env = {
            "CONCORD_INPUT_TOPICS": f"{MARKETING},{SALES}",
            "CONCORD_GROUP_ID": self.tag,
            "CONCORD_REDIS_PREFIX": f"concord:test:{self.tag}",
            "CONCORD_FINDINGS_TOPIC": f"concord.test.findings.{self.tag}",
            "CONCORD_DLQ_TOPIC": f"concord.test.dlq.{self.tag}",
            # The reference keeps every customer decoded; the interrupted runs only 500, the
            # rest as checkpoint bytes: the same findings either way.
            "CONCORD_HOT_CUSTOMERS": "0" if name == "uninterrupted" else "500",
        }
        create_topics(self.env["CONCORD_FINDINGS_TOPIC"], self.env["CONCORD_DLQ_TOPIC"])
        self.redis = redis.Redis(port=int(REDIS_PORT))

    def start(self):
        return self.start_service("alignment", env=self.env)

    def progress(self, ends):
        """Share of the input whose processing is checkpointed."""
        done = self.redis.hgetall(f"{self.env['CONCORD_REDIS_PREFIX']}:offsets:{self.tag}")
        at = 0
        for (topic, p), end in ends.items():
            at += min(end, int(done.get(f"{topic}:{p}".encode(), 0)))
        return at / sum(ends.values())

    def wait_progress(self, ends, share, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.progress(ends) >= share:
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.tag}: {self.progress(ends):.0%} checkpointed after {timeout}s, wanted {share:.0%}")

    def settle(self, ends):
        """Everything read, and the timers (SLA breaches) have had their ticks."""
        self.wait_progress(ends, 1.0)
        key = f"{self.env['CONCORD_REDIS_PREFIX']}:fx:all"
        last, stable_since = -1, time.time()
        while time.time() - stable_since < 3:
            n = self.redis.zcard(key)
            if n != last:
                last, stable_since = n, time.time()
            time.sleep(0.25)

    def stored(self):
        """Finding ids in the store (what the API serves)."""
        return {m.decode() for m in self.redis.zrange(f"{self.env['CONCORD_REDIS_PREFIX']}:fx:all", 0, -1)}

    def published(self):
        """(distinct raised ids, records) on the findings topic."""
        topic = self.env["CONCORD_FINDINGS_TOPIC"]
        c = Consumer({"bootstrap.servers": KAFKA, "group.id": f"{self.tag}-reader", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        try:
            parts = c.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
            c.assign([TopicPartition(topic, p, 0) for p in parts])
            ids, records, read = set(), 0, {p: 0 for p in parts}
            deadline = time.time() + 120
            while any(read[p] < ends[p] for p in parts) and time.time() < deadline:
                msg = c.poll(0.5)
                if msg is None or msg.error():
                    continue
                read[msg.partition()] = msg.offset() + 1
                records += 1
                ce_id = dict(msg.headers() or []).get("ce_id", b"").decode()
                if ce_id.startswith("raised:"):
                    ids.add(ce_id[len("raised:"):])
            return ids, records
        finally:
            c.close()

    def cleanup(self):
        for key in self.redis.scan_iter(f"{self.env['CONCORD_REDIS_PREFIX']}:*", count=1000):
            self.redis.delete(key)


@pytest.fixture(scope="module")
def reference(filled, request):
    run = Run(lambda name, env: Service(name, extra_env=env), "uninterrupted")  # module-scoped
    svc = run.start()
    try:
        svc.wait_serving()
        run.settle(filled)
        ids = run.stored()
        published, records = run.published()
    finally:
        svc.terminate()
        run.cleanup()
    print(f"reference: {len(ids)} findings, {records} records on the topic")
    assert len(ids) > EVENTS // 10, "the mix should raise findings"
    assert published == ids and records == len(ids)
    return ids


def check_same(run, reference):
    ids = run.stored()
    published, records = run.published()
    missing, extra = reference - ids, ids - reference
    assert not missing and not extra, f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} extra"
    assert published == reference, "the topic must carry every finding"
    print(f"{run.tag}: {len(ids)} findings as the reference; {records - len(ids)} published again after a kill")


def test_killed_three_times_gives_the_same_findings(filled, reference, start_service):
    run = Run(start_service, "killed")
    try:
        svc = run.start()
        for share in (0.25, 0.5, 0.75):
            run.wait_progress(filled, share)
            svc.kill()
            svc = run.start()
        run.settle(filled)
        check_same(run, reference)
    finally:
        run.cleanup()


def test_instance_added_and_removed_gives_the_same_findings(filled, reference, start_service):
    run = Run(start_service, "rebalanced")
    try:
        first = run.start()
        run.wait_progress(filled, 0.3)
        run.start()
        run.wait_progress(filled, 0.65)
        assert first.terminate() == 0
        run.settle(filled)
        check_same(run, reference)
    finally:
        run.cleanup()
