#!/usr/bin/env python3
"""A client of the alignment API (concord.alignment.v1.AlignmentService) written the way
another team would: grpcio and stubs generated from the .proto files, nothing else from
Concord. Every call has a deadline; the watch resumes from its last cursor when the
connection drops, so a reconnecting client misses nothing.

    alignment_client.py [--target 127.0.0.1:50053] [--timeout 5] [--json] [TLS and token options] list  [--severity high] [--limit 50]
    alignment_client.py ... watch [--cursor C] [--severity high] [--max N] [--for S]
    alignment_client.py ... ack FINDING_ID --actor ID [--reason TEXT]
    alignment_client.py ... triage --actor ID [--for S] [--customer TEXT]   # list, watch, acknowledge the first new one

`list` prints the open findings of at least --severity (default high), newest first, and
the cursor to watch from; `watch` prints new findings and status changes as they happen.

Security (when the service runs with --grpc-tls-* and --auth-tokens-file): --tls-ca CA.pem
verifies the server; --tls-cert/--tls-key present a client certificate (mutual TLS); the
bearer token comes from --token or, better (it stays out of `ps`), the CONCORD_TOKEN variable.
Reading findings needs a principal with the reader role; acknowledging one a writer.
"""
import os
import argparse
import json
import signal
import sys
import threading
import time
import uuid

import grpc

import concord_proto

concord_proto.load()
from concord.alignment.v1 import alignment_pb2 as al, alignment_pb2_grpc as al_grpc  # noqa: E402
from concord.events.v1 import common_pb2 as common  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402

SEVERITIES = ["info", "low", "medium", "high", "critical"]
# A stream's deadline: long enough to be cheap, short enough that a dead peer is noticed.
STREAM_DEADLINE = 60.0


def short(enum, prefix, value):
    return enum.Name(value).removeprefix(prefix).lower().replace("_", "-")


def at_least(severity):
    """FindingFilter severities for 'this severity or worse'."""
    first = SEVERITIES.index(severity)
    return [al.Severity.Value("SEVERITY_" + s.upper()) for s in SEVERITIES[first:]]


def finding_line(f):
    return (f"{f.id[:10]}  {short(al.Severity, 'SEVERITY_', f.severity):<8}  {short(al.FindingStatus, 'FINDING_STATUS_', f.status):<12}  "
            f"{short(al.FindingType, 'FINDING_TYPE_', f.type):<21}  {f.customer_key}: {f.title}")


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def make_channel(target, tls_ca=None, tls_cert=None, tls_key=None, server_name=None):
    """Plaintext unless a TLS option is given; --tls-cert and --tls-key go together."""
    if bool(tls_cert) != bool(tls_key):
        raise SystemExit("alignment_client: --tls-cert and --tls-key go together (mutual TLS)")
    if not (tls_ca or tls_cert):
        return grpc.insecure_channel(target)
    creds = grpc.ssl_channel_credentials(
        root_certificates=read_file(tls_ca) if tls_ca else None,  # None: the system roots
        private_key=read_file(tls_key) if tls_key else None,
        certificate_chain=read_file(tls_cert) if tls_cert else None)
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.secure_channel(target, creds, options=options)


class Client:
    def __init__(self, target, timeout, json_out, channel=None, token=""):
        self.channel = channel or grpc.insecure_channel(target)
        # Plain metadata, not call credentials: those are never sent on a plaintext channel.
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.stub = al_grpc.AlignmentServiceStub(self.channel)
        self.timeout = timeout
        self.json = json_out
        self.stop = threading.Event()
        self.call = None  # the current watch stream, cancelled on Ctrl-C

    def emit(self, kind, message, text):
        if self.json:
            print(json.dumps({"kind": kind, **MessageToDict(message)}), flush=True)
        else:
            print(text, flush=True)

    def list_open(self, severity, limit):
        """Open findings of at least `severity`, all pages up to `limit`; returns (findings, watch cursor)."""
        request = al.ListFindingsRequest(
            filter=al.FindingFilter(severities=at_least(severity), statuses=[al.FINDING_STATUS_OPEN]),
            page_size=min(limit, 500))
        found, cursor = [], ""
        while True:
            page = self.stub.ListFindings(request, timeout=self.timeout, metadata=self.metadata)
            cursor = cursor or page.watch_cursor  # the first page's: everything after the listing
            found.extend(page.findings)
            if not page.next_page_token or len(found) >= limit:
                return found[:limit], cursor
            request.page_token = page.next_page_token

    def watch(self, cursor, severity, max_events, seconds, on_event=None):
        """Prints finding events after `cursor` until max_events, `seconds` or Ctrl-C.
        Returns the last cursor. Reconnects (with backoff) on UNAVAILABLE, resuming from it."""
        request = al.WatchFindingsRequest(filter=al.FindingFilter(severities=at_least(severity)))
        end = time.monotonic() + seconds if seconds else None
        seen, count, backoff = set(), 0, 0.25
        while not self.stop.is_set():
            left = end - time.monotonic() if end else STREAM_DEADLINE
            if left <= 0:
                break
            request.resume_cursor = cursor
            self.call = self.stub.WatchFindings(request, timeout=min(left, STREAM_DEADLINE), metadata=self.metadata)
            try:
                for item in self.call:
                    backoff = 0.25
                    cursor = item.cursor or cursor
                    if item.WhichOneof("item") != "event":
                        continue  # heartbeat
                    event = item.event
                    if event.id in seen:  # a resumed stream may repeat; dedupe by event id
                        continue
                    seen.add(event.id)
                    if event.WhichOneof("kind") == "raised":
                        self.emit("raised", event, "raised   " + finding_line(event.raised))
                    else:
                        sc = event.status_changed
                        self.emit("status_changed", event,
                                  f"status   {sc.finding_id[:10]}  -> {short(al.FindingStatus, 'FINDING_STATUS_', sc.change.status)}"
                                  f" by {sc.change.actor.id}: {sc.change.reason}")
                    if on_event:
                        on_event(event)
                    count += 1
                    if self.stop.is_set() or (max_events and count >= max_events):
                        self.call.cancel()
                        return cursor
            except grpc.RpcError as e:
                code = e.code()
                if code == grpc.StatusCode.CANCELLED and self.stop.is_set():
                    break
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue  # our own stream deadline: open the next one from the cursor
                if code != grpc.StatusCode.UNAVAILABLE:
                    raise
                print(f"watch: {code.name} ({e.details()}); resuming in {backoff:.2f}s", file=sys.stderr, flush=True)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        return cursor

    def acknowledge(self, finding_id, actor, reason):
        response = self.stub.AcknowledgeFinding(al.AcknowledgeFindingRequest(
            request_id=str(uuid.uuid4()), actor=common.Actor(id=actor, kind=common.ACTOR_KIND_PERSON),
            finding_id=finding_id, reason=reason), timeout=self.timeout, metadata=self.metadata)
        f = response.finding
        self.emit("acknowledged", response, f"acknowledged {f.id} (version {f.version}, event {response.event_id})")
        return response


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="127.0.0.1:50053", help="alignment service address")
    ap.add_argument("--timeout", type=float, default=5.0, help="deadline of every unary call, seconds")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--tls-ca", help="PEM CA bundle that signed the service's certificate (turns TLS on)")
    ap.add_argument("--tls-cert", help="PEM client certificate for mutual TLS (with --tls-key)")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    ap.add_argument("--tls-server-name", help="name to verify in the server certificate instead of the host")
    ap.add_argument("--token", default=os.environ.get("CONCORD_TOKEN", ""),
                    help="bearer token (default: the CONCORD_TOKEN variable)")
    sub = ap.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="open findings of at least --severity")
    p_list.add_argument("--severity", choices=SEVERITIES, default="high")
    p_list.add_argument("--limit", type=int, default=50)
    p_watch = sub.add_parser("watch", help="new finding events as they happen")
    p_watch.add_argument("--cursor", default="", help="resume after this cursor (default: now)")
    p_watch.add_argument("--severity", choices=SEVERITIES, default="info")
    p_watch.add_argument("--max", type=int, default=0, help="stop after N events (0 = never)")
    p_watch.add_argument("--for", dest="seconds", type=float, default=0, help="stop after S seconds (0 = never)")
    p_ack = sub.add_parser("ack", help="acknowledge a finding")
    p_ack.add_argument("finding_id")
    p_ack.add_argument("--actor", required=True)
    p_ack.add_argument("--reason", default="acknowledged from alignment_client.py")
    p_triage = sub.add_parser("triage", help="list open high findings, watch for new ones, acknowledge the first")
    p_triage.add_argument("--actor", required=True)
    p_triage.add_argument("--severity", choices=SEVERITIES, default="high")
    p_triage.add_argument("--for", dest="seconds", type=float, default=30)
    p_triage.add_argument("--customer", default="",
                          help="only findings whose customer key contains this text (e.g. a domain)")
    args = ap.parse_args()

    channel = make_channel(args.target, args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    client = Client(args.target, args.timeout, args.json, channel=channel, token=args.token)

    def on_signal(*_):
        client.stop.set()
        if client.call is not None:
            client.call.cancel()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if args.command == "list":
            findings, cursor = client.list_open(args.severity, args.limit)
            for f in findings:
                client.emit("finding", f, finding_line(f))
            print(f"watch cursor: {cursor}", file=sys.stderr)
        elif args.command == "watch":
            cursor = client.watch(args.cursor, args.severity, args.max, args.seconds)
            print(f"last cursor: {cursor}", file=sys.stderr)
        elif args.command == "ack":
            client.acknowledge(args.finding_id, args.actor, args.reason)
        elif args.command == "triage":
            findings, cursor = client.list_open(args.severity, 50)
            for f in findings:
                client.emit("finding", f, finding_line(f))
            acked = []

            def ack_first_new(event):
                if (not acked and event.WhichOneof("kind") == "raised" and event.raised.status == al.FINDING_STATUS_OPEN
                        and args.customer in event.raised.customer_key):
                    acked.append(client.acknowledge(event.raised.id, args.actor, "triaged by alignment_client.py"))

            def on_event(event):
                ack_first_new(event)
                if acked:
                    client.stop.set()

            client.watch(cursor, args.severity, 0, args.seconds, on_event=on_event)
    except grpc.RpcError as e:
        print(f"alignment_client: {e.code().name}: {e.details()}", file=sys.stderr)
        if e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return 6
        return 5 if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 1
    finally:
        client.channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
