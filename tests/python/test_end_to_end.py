"""End to end through the real broker: the demo scenario driven through the real marketing
and sales services gives exactly the expected findings from the real alignment service, and
no others, each within a second of its last evidence; restarting the alignment service with
kill -9 in the middle of the scenario loses and repeats nothing, and the SLA timer still fires;
an instance added and another removed mid-scenario (two rebalances) change nothing."""
import random
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from conftest import KAFKA, SOURCE_DIR, create_topics

sys.path.insert(0, str(SOURCE_DIR / "scripts" / "lib"))
sys.path.insert(0, str(SOURCE_DIR / "examples" / "python"))
import scenario  # noqa: E402
from concord.alignment.v1 import alignment_pb2  # noqa: E402

DEMO_PLAYBOOK = str(SOURCE_DIR / "deploy" / "local" / "playbook.demo.yaml")

# (finding type, customer key template) the scenario must produce, and nothing else.
EXPECTED = sorted([
    # Globex: marketing says 20% off + 30-day trial, sales quotes 10% + 14 days; both teams
    # reach out; marketing promotes to a customer sales now owns; the same person twice.
    ("CONFLICTING_CLAIM", "domain:globex-{s}.io"),  # discount
    ("CONFLICTING_CLAIM", "domain:globex-{s}.io"),  # trial length
    ("DUPLICATE_OUTREACH", "domain:globex-{s}.io"),
    ("OWNERSHIP_VIOLATION", "domain:globex-{s}.io"),
    ("DUPLICATE_RECORD", "domain:globex-{s}.io"),
    # Initech: a roadmap feature promised as available, a price under the floor, a discount
    # over the maximum.
    ("OFF_BOOK_CLAIM", "domain:initech-{s}.com"),
    ("OFF_BOOK_CLAIM", "domain:initech-{s}.com"),
    ("OFF_BOOK_CLAIM", "domain:initech-{s}.com"),
    # Hooli: a win-back email during a negotiation, sent by the team that does not own it.
    ("CONTRADICTORY_JOURNEY", "domain:hooli-{s}.xyz"),
    ("OWNERSHIP_VIOLATION", "domain:hooli-{s}.xyz"),
    # Umbrella: handed off, never accepted: fires on time with no further event.
    ("HANDOFF_SLA_BREACH", "domain:umbrella-corp-{s}.com"),
])


class FindingsReader:
    """Reads the findings topic from the end, keeping only this run's customers."""

    def __init__(self, suffix: str, topic: str):
        self.suffix = suffix
        self.consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"e2e-{suffix}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.events = []  # (ce_id, FindingEvent, received_at)

    def poll(self, seconds: float):
        deadline = time.time() + seconds
        while time.time() < deadline:
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            headers = {k: (v.decode() if v else "") for k, v in (msg.headers() or [])}
            if f"-{self.suffix}." not in headers.get("ce_subject", ""):
                continue
            event = alignment_pb2.FindingEvent()
            event.ParseFromString(msg.value())
            self.events.append((headers["ce_id"], event, time.time()))

    def raised(self):
        return [e.raised for _, e, _ in self.events if e.WhichOneof("kind") == "raised"]

    def close(self):
        self.consumer.close()


def kinds(findings, suffix):
    return sorted((alignment_pb2.FindingType.Name(f.type).removeprefix("FINDING_TYPE_"), f.customer_key.replace(suffix, "{s}"))
                  for f in findings)


def alignment_env(group, hot_customers=None):
    """One alignment deployment of its own: group, Redis keys and output topics."""
    env = {"CONCORD_PLAYBOOK": DEMO_PLAYBOOK, "CONCORD_GROUP_ID": group, "CONCORD_REDIS_PREFIX": f"concord:test:{group}",
           "CONCORD_FINDINGS_TOPIC": f"concord.test.findings.{group}", "CONCORD_DLQ_TOPIC": f"concord.test.dlq.{group}"}
    if hot_customers is not None:
        env["CONCORD_HOT_CUSTOMERS"] = str(hot_customers)
    return env


def wait_caught_up(alignment, seconds=120):
    """A new deployment first reads the topics' history; the scenario starts once it is live."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        status, body = alignment.admin("/metrics")
        if status == 200 and "concord_alignment_caught_up 1" in body:
            return
        time.sleep(0.2)
    raise AssertionError("alignment did not catch up with the input topics")


def start_all(start_service, group, hot_customers=None):
    env = alignment_env(group, hot_customers)
    create_topics(env["CONCORD_FINDINGS_TOPIC"], env["CONCORD_DLQ_TOPIC"])
    marketing = start_service("marketing")
    sales = start_service("sales")
    alignment = start_service("alignment", env=env)
    wait_caught_up(alignment)
    return marketing, sales, alignment


def wait_for(reader, expected_count, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline and len(reader.raised()) < expected_count:
        reader.poll(0.5)
    reader.poll(3)  # and a little more, to catch anything extra


def assert_exactly_expected(reader, suffix):
    """Exactly the expected findings, none published twice; returns them."""
    found = reader.raised()
    assert kinds(found, suffix) == EXPECTED, (
        f"found {kinds(found, suffix)}\n" + "\n".join(f"{f.title} | {f.summary}" for f in found))
    ids = [ce_id for ce_id, _, _ in reader.events]
    assert len(ids) == len(set(ids)), "no finding is published twice"
    return found


def test_scenario_gives_exactly_the_expected_findings(start_service):
    suffix = f"{random.randrange(16**8):08x}"
    group = f"e2e-{suffix}"
    marketing, sales, alignment = start_all(start_service, group)
    reader = FindingsReader(suffix, alignment_env(group)["CONCORD_FINDINGS_TOPIC"])
    try:
        day = scenario.Day(f"127.0.0.1:{marketing.grpc_port}", f"127.0.0.1:{sales.grpc_port}", pace=0.1, suffix=suffix)
        day.run()
        wait_for(reader, len(EXPECTED), 60)  # the demo SLA is 20 s
        found = assert_exactly_expected(reader, suffix)
        for f in found:
            assert f.evidence, f"{f.type} has evidence"
            assert f.recommended_action
            if f.type != alignment_pb2.FINDING_TYPE_HANDOFF_SLA_BREACH:
                latency = f.detection_latency.seconds + f.detection_latency.nanos / 1e9
                assert latency < 1.0, f"{alignment_pb2.FindingType.Name(f.type)} took {latency:.3f}s"
    finally:
        reader.close()


def test_alignment_killed_mid_scenario_loses_and_repeats_nothing(start_service):
    """Also with one customer decoded at a time (--hot-customers 1): every other customer, its
    SLA timer and its restored state are kept as checkpoint bytes and decoded when used."""
    suffix = f"{random.randrange(16**8):08x}"
    group = f"e2e-restart-{suffix}"
    marketing, sales, alignment = start_all(start_service, group, hot_customers=1)
    reader = FindingsReader(suffix, alignment_env(group)["CONCORD_FINDINGS_TOPIC"])
    try:
        day = scenario.Day(f"127.0.0.1:{marketing.grpc_port}", f"127.0.0.1:{sales.grpc_port}", pace=0.1, suffix=suffix)
        steps = 0
        original_step = day.step

        def step(who, what):
            nonlocal steps, alignment
            original_step(who, what)
            steps += 1
            if steps == 6:  # half-way: after marketing's nurture email, before sales' quote
                time.sleep(1)
                alignment.kill()
                alignment = start_service("alignment", env=alignment_env(group, hot_customers=1))

        day.step = step
        day.run()
        wait_for(reader, len(EXPECTED), 90)
        assert_exactly_expected(reader, suffix)
        status, body = alignment.admin("/metrics")
        cold = [float(line.split()[-1]) for line in body.splitlines()
                if line.startswith("concord_alignment_state_customers_cold")]
        assert status == 200 and cold and cold[0] > 0, "customers were kept as checkpoint bytes"
        cold_bytes = [float(line.split()[-1]) for line in body.splitlines()
                      if line.startswith("concord_alignment_state_cold_bytes")]
        assert cold_bytes and cold_bytes[0] > 32 * cold[0], "and their bytes are counted"
    finally:
        reader.close()


def test_an_instance_added_and_one_removed_mid_scenario_change_nothing(start_service):
    """Rebalances: a second alignment instance joins half-way (partitions move to it with their
    state), then the first one is stopped (they move back): the same findings as one instance."""
    suffix = f"{random.randrange(16**8):08x}"
    group = f"e2e-rebalance-{suffix}"
    marketing, sales, first = start_all(start_service, group)
    reader = FindingsReader(suffix, alignment_env(group)["CONCORD_FINDINGS_TOPIC"])
    try:
        day = scenario.Day(f"127.0.0.1:{marketing.grpc_port}", f"127.0.0.1:{sales.grpc_port}", pace=0.1, suffix=suffix)
        steps = 0
        original_step = day.step
        second = None

        def step(who, what):
            nonlocal steps, second
            original_step(who, what)
            steps += 1
            if steps == 4:  # after the hand-off is accepted: a second instance joins
                second = start_service("alignment", env=alignment_env(group))
                time.sleep(3)
            if steps == 9:  # after Initech: the first instance leaves cleanly
                assert first.terminate() == 0
                time.sleep(3)

        day.step = step
        day.run()
        wait_for(reader, len(EXPECTED), 90)
        assert_exactly_expected(reader, suffix)
    finally:
        reader.close()
