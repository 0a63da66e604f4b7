"""The marketing API from another language, as-is: Python stubs generated from proto/ at test
time drive the real concord-marketing binary (real Redis and Kafka) through a lead's journey:
capture, score, qualify, hand off, send a message. Also: validation errors name the field, a
retry with the same request_id gets the same answer, and a write acknowledged while the outbox
relay was off (the process then killed with -9) reaches Kafka once after a restart."""
import os
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest

from conftest import KAFKA, proto_modules

SOURCE_DIR = Path(os.environ.get("CONCORD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
TOPIC = "concord.marketing.events.v1"


@pytest.fixture(scope="module")
def pb():
    """Python stubs generated from proto/ at test time."""
    return proto_modules(common="concord.events.v1.common_pb2", events="concord.events.v1.events_pb2",
                         mkt="concord.marketing.v1.marketing_pb2", grpc="concord.marketing.v1.marketing_pb2_grpc")


def rid():
    return f"py-{uuid.uuid4()}"


def actor(pb):
    return pb.common.Actor(id="mkt-py", display_name="Python Marketer", kind=pb.common.ACTOR_KIND_PERSON)


def test_lead_journey_over_the_real_binary(pb, start_service):
    svc = start_service("marketing")
    stub = pb.grpc.MarketingServiceStub(svc.channel)
    domain = f"py{uuid.uuid4().hex[:10]}.example.com"

    lead_req = pb.mkt.CaptureLeadRequest(
        request_id=rid(), actor=actor(pb),
        person=pb.common.PersonIdentity(first_name="Ada", last_name="Lovelace", email=f"Ada.Lovelace@{domain}",
                                        phone="+44 20 7946 0958", company="Analytical Engines"),
        industry="software", country="gb", source_channel=pb.common.CHANNEL_WEBINAR)
    captured = stub.CaptureLead(lead_req, timeout=10)
    lead = captured.lead
    assert lead.id.startswith("lead-")
    assert lead.customer_key == f"domain:{domain}"
    assert lead.status == pb.events.LEAD_STATUS_NEW
    assert lead.version == 1
    assert captured.event_id

    # A retry with the same request_id: same answer, no new lead.
    again = stub.CaptureLead(lead_req, timeout=10)
    assert again == captured

    scored = stub.ScoreLead(pb.mkt.ScoreLeadRequest(
        request_id=rid(), actor=actor(pb), lead_id=lead.id, score=88,
        reasons=[pb.common.ScoreReason(code="attended_webinar", points=40)]), timeout=10)
    assert scored.lead.score == 88 and scored.lead.version == 2

    qualified = stub.QualifyLead(pb.mkt.QualifyLeadRequest(
        request_id=rid(), actor=actor(pb), lead_id=lead.id, expected_version=2, note="asked for pricing"), timeout=10)
    assert qualified.lead.status == pb.events.LEAD_STATUS_MQL
    assert qualified.lead.lifecycle_stage == pb.common.LIFECYCLE_STAGE_MQL

    handed = stub.HandOffLead(pb.mkt.HandOffLeadRequest(
        request_id=rid(), actor=actor(pb), lead_id=lead.id,
        suggested_owner=pb.common.Actor(id="rep-042", team=pb.common.TEAM_SALES)), timeout=10)
    assert handed.lead.status == pb.events.LEAD_STATUS_HANDED_OFF
    assert handed.lead.handoff.handoff_id.startswith("hof-")

    sent = stub.SendMessage(pb.mkt.SendMessageRequest(
        request_id=rid(), actor=actor(pb), channel=pb.common.CHANNEL_EMAIL,
        purpose=pb.common.MESSAGE_PURPOSE_FOLLOW_UP, subject="Your Concord Pro trial",
        body="Thanks for joining the webinar: Concord Pro is 20% off this month.",
        offers=[pb.common.Offer(product="concord-pro", discount_percent=20,
                                price=pb.common.Money(currency_code="USD", units=49, nanos=990000000))],
        lead_id=lead.id), timeout=10)
    assert sent.message.recipient_count == 1
    assert sent.message.person.customer_key == f"domain:{domain}"
    assert len(sent.event_ids) == 1

    got = stub.GetLead(pb.mkt.GetLeadRequest(lead_id=lead.id), timeout=10)
    assert got == handed.lead
    listed = stub.ListMessages(pb.mkt.ListMessagesRequest(lead_id=lead.id), timeout=10)
    assert [m.id for m in listed.messages] == [sent.message.id]

    # Refusals carry the standard codes and name the field.
    with pytest.raises(grpc.RpcError) as err:
        stub.ScoreLead(pb.mkt.ScoreLeadRequest(request_id=rid(), actor=actor(pb), lead_id=lead.id, score=150),
                       timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "score:" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.QualifyLead(pb.mkt.QualifyLeadRequest(request_id=rid(), actor=actor(pb), lead_id=lead.id), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        stub.GetLead(pb.mkt.GetLeadRequest(lead_id="lead-does-not-exist"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.CaptureLead(pb.mkt.CaptureLeadRequest(request_id=lead_req.request_id, actor=actor(pb),
                                                   person=pb.common.PersonIdentity(email=f"other@{domain}")),
                         timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in err.value.details()

    status, body = svc.admin("/metrics")
    assert status == 200
    assert 'concord_rpc_requests_total{service="marketing",method="CaptureLead",code="OK"} 2' in body


def tail_consumer():
    """A consumer assigned to the end of every partition of the topic (no group rebalancing)."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"py-marketing-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    assignment = []
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        assignment.append(TopicPartition(TOPIC, p, high))
    consumer.assign(assignment)
    return consumer


def test_write_acknowledged_before_a_crash_reaches_kafka_once(pb, start_service):
    pytest.importorskip("confluent_kafka")
    consumer = tail_consumer()
    try:
        # Relay off: the write is acknowledged and its event waits in the Redis outbox...
        svc = start_service("marketing", "--outbox-relay", "false")
        stub = pb.grpc.MarketingServiceStub(svc.channel)
        domain = f"crash{uuid.uuid4().hex[:10]}.example.com"
        captured = stub.CaptureLead(pb.mkt.CaptureLeadRequest(
            request_id=rid(), actor=actor(pb), person=pb.common.PersonIdentity(email=f"kim@{domain}")), timeout=10)
        # ...and the process dies before publishing.
        svc.kill()

        # A restarted instance (relay on) publishes it.
        start_service("marketing")
        seen = []
        deadline = time.time() + 45
        settle = None
        while time.time() < deadline and (settle is None or time.time() < settle):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            headers = {k: v.decode() for k, v in (msg.headers() or [])}
            if headers.get("ce_id") != captured.event_id:
                continue
            seen.append(msg)
            settle = settle or time.time() + 3
        assert len(seen) == 1, f"event {captured.event_id} seen {len(seen)} times"
        msg = seen[0]
        assert msg.key().decode() == f"domain:{domain}"
        headers = {k: v.decode() for k, v in msg.headers()}
        assert headers["ce_type"] == "io.concord.marketing.lead-captured.v1"
        assert headers["ce_subject"] == f"domain:{domain}"
        assert headers["ce_dataschema"] == "concord.events.v1.Event"
        assert headers["content-type"] == "application/protobuf"
        event = pb.events.Event()
        event.ParseFromString(msg.value())
        assert event.id == captured.event_id
        assert event.lead_captured.lead.id == captured.lead.id
    finally:
        consumer.close()
