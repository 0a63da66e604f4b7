#!/usr/bin/env python3
"""Consumes concord.alignment.findings.v1 the way another team would: confluent-kafka and
stubs generated from the .proto files, nothing else from Concord.

Each record is a concord.alignment.v1.FindingEvent (CloudEvents binary mode: the ce_*
headers carry id, type, subject; the value is the protobuf). Records are deduplicated by
ce_id, as every Concord consumer should.

    findings_consumer.py [--brokers 127.0.0.1:9092] [--group my-team] [--from-beginning]
                         [--max N] [--timeout S] [--json] [--topic T]
"""
import argparse
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError

import concord_proto

concord_proto.load()
from concord.alignment.v1 import alignment_pb2  # noqa: E402
from concord.events.v1 import common_pb2 as events_common  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402

TOPIC = "concord.alignment.findings.v1"


def describe(event) -> str:
    kind = event.WhichOneof("kind")
    if kind == "raised":
        f = event.raised
        lines = [f"[{alignment_pb2.Severity.Name(f.severity).removeprefix('SEVERITY_')}] "
                 f"{alignment_pb2.FindingType.Name(f.type).removeprefix('FINDING_TYPE_')} "
                 f"{f.customer_key}: {f.title}"]
        if f.summary:
            lines.append(f"    {f.summary}")
        for ev in f.evidence:
            team = ev.team and events_common.Team.Name(ev.team).removeprefix("TEAM_").lower() or "?"
            what = ev.description or ev.event_type
            span = f' "{ev.span.text}"' if ev.HasField("span") and ev.span.text else ""
            lines.append(f"    evidence: {team}/{ev.actor.id or '?'} {what}{span}".rstrip())
        if f.recommended_action:
            lines.append(f"    action: {f.recommended_action}")
        if f.HasField("detection_latency"):
            ms = f.detection_latency.seconds * 1000 + f.detection_latency.nanos // 1_000_000
            # Measured from the last evidence, or from the deadline of a timer-driven finding.
            complete = f.detected_at.ToMilliseconds() - ms
            since = "the last evidence" if complete <= f.last_evidence_at.ToMilliseconds() + 1 else "its deadline"
            lines.append(f"    detected {ms} ms after {since}")
        return "\n".join(lines)
    if kind == "status_changed":
        c = event.status_changed.change
        return (f"[status] {event.status_changed.finding_id}: {alignment_pb2.FindingStatus.Name(c.previous_status)} -> "
                f"{alignment_pb2.FindingStatus.Name(c.status)} by {c.actor.id}: {c.reason}")
    return f"[unknown kind] {event.id}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--group", default="findings-example")
    ap.add_argument("--topic", default=TOPIC, help="findings topic of the alignment deployment to read")
    ap.add_argument("--from-beginning", action="store_true")
    ap.add_argument("--max", type=int, default=0, help="stop after N distinct events (0 = never)")
    ap.add_argument("--timeout", type=float, default=0, help="stop after S seconds (0 = never)")
    ap.add_argument("--json", action="store_true", help="one JSON object per event")
    ap.add_argument("--ready-file", help="written once partitions are assigned (scripts wait for it)")
    ap.add_argument("--subject-contains", default="", help="only events whose ce_subject contains this")
    args = ap.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.auto.commit": True,
        "isolation.level": "read_committed",
    })
    def on_assign(cons, partitions):
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write("assigned\n")

    consumer.subscribe([args.topic], on_assign=on_assign)
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    seen = set()
    deadline = time.time() + args.timeout if args.timeout else None
    try:
        while not stop and (deadline is None or time.time() < deadline):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f"kafka: {msg.error()}", file=sys.stderr)
                continue
            headers = {k: (v.decode() if v else "") for k, v in (msg.headers() or [])}
            ce_id = headers.get("ce_id", "")
            if args.subject_contains and args.subject_contains not in headers.get("ce_subject", ""):
                continue
            if ce_id in seen:
                continue  # at-least-once delivery: dedupe by event id
            seen.add(ce_id)
            event = alignment_pb2.FindingEvent()
            try:
                event.ParseFromString(msg.value())
            except DecodeError as e:
                print(f"skipping undecodable record at {msg.partition()}:{msg.offset()}: {e}", file=sys.stderr)
                continue
            if args.json:
                print(json.dumps({"ce_id": ce_id, "ce_type": headers.get("ce_type"), "key": msg.key().decode(),
                                  "event": MessageToDict(event)}), flush=True)
            else:
                print(describe(event), flush=True)
            if args.max and len(seen) >= args.max:
                break
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
