"""The alignment API from Python over a real channel, against the real binaries with real
Redis and Kafka: ListFindings (filters, paging, watch cursor), GetFinding, WatchFindings
delivering a finding raised after the watch began and, resumed from a cursor, what it missed
while away; Acknowledge/Resolve/Dismiss (status codes, versions, idempotent retries);
GetCustomerView, GetScorecard; GetPlaybook, ValidatePlaybook, UpdatePlaybook.

The finding is produced the way teams produce them: marketing emails a lead 20 % off Concord
Pro with a 30-day trial, sales quotes the same company 10 % with 14 days."""
import hashlib
import queue
import random
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import grpc
import pytest

from conftest import SOURCE_DIR

sys.path.insert(0, str(SOURCE_DIR / "examples" / "python"))
import concord_proto  # noqa: E402

concord_proto.load()
from concord.alignment.v1 import alignment_pb2 as al, alignment_pb2_grpc as al_grpc  # noqa: E402
from concord.events.v1 import common_pb2 as c  # noqa: E402
from concord.marketing.v1 import marketing_pb2 as mk, marketing_pb2_grpc as mk_grpc  # noqa: E402
from concord.sales.v1 import sales_pb2 as sl, sales_pb2_grpc as sl_grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

T = 5.0
PLAYBOOK = SOURCE_DIR / "services" / "alignment" / "playbook.example.yaml"
MARKETER = c.Actor(id="mkt-py", kind=c.ACTOR_KIND_PERSON)
REP = c.Actor(id="rep-py", kind=c.ACTOR_KIND_PERSON)
TRIAGER = c.Actor(id="revops-py", kind=c.ACTOR_KIND_PERSON)


def rid():
    return str(uuid.uuid4())


def usd(units, nanos=0):
    return c.Money(currency_code="USD", units=units, nanos=nanos)


def conflicting_claims(marketing, sales, domain):
    """Marketing: 20 % off + 30-day trial to a lead; sales: 10 % off + 14 days to the account."""
    mkt = mk_grpc.MarketingServiceStub(grpc.insecure_channel(f"127.0.0.1:{marketing.grpc_port}"))
    sal = sl_grpc.SalesServiceStub(grpc.insecure_channel(f"127.0.0.1:{sales.grpc_port}"))
    lead = mkt.CaptureLead(mk.CaptureLeadRequest(request_id=rid(), actor=MARKETER, person=c.PersonIdentity(
        first_name="Dana", last_name="Scully", email=f"dana@{domain}", company="PyCo", website=domain)), timeout=T).lead
    mkt.SendMessage(mk.SendMessageRequest(
        request_id=rid(), actor=MARKETER, channel=c.CHANNEL_EMAIL, purpose=c.MESSAGE_PURPOSE_PROMOTION, lead_id=lead.id,
        subject="20% off Concord Pro", body="Use SPRING20 for 20% off Concord Pro, plus a 30-day free trial.",
        offers=[c.Offer(offer_code="SPRING20", product="concord-pro", discount_percent=20, trial_days=30)]), timeout=T)
    account = sal.CreateAccount(sl.CreateAccountRequest(request_id=rid(), actor=REP, name="PyCo", website=domain),
                                timeout=T).account
    until = Timestamp()
    until.FromDatetime(datetime.now(timezone.utc) + timedelta(days=14))
    sal.IssueQuote(sl.IssueQuoteRequest(
        request_id=rid(), actor=REP, account_id=account.id, currency_code="USD",
        line_items=[c.QuoteLineItem(product="concord-pro", list_price=usd(49), unit_price=usd(44, 100_000_000), quantity=40,
                                    discount_percent=10)],
        terms=c.QuoteTerms(trial_days=14), valid_until=until, notes="10% off Pro with a 14-day trial."), timeout=T)


class Watch:
    """WatchFindings in a thread; items go to a queue. Cancel to stop."""

    def __init__(self, stub, customer, cursor=""):
        self.items = queue.Queue()
        self.call = stub.WatchFindings(al.WatchFindingsRequest(filter=al.FindingFilter(customer_key=customer),
                                                               resume_cursor=cursor), timeout=60)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for item in self.call:
                self.items.put(item)
        except grpc.RpcError as e:
            self.error = e

    def next(self, want, seconds=30):
        """The next item for which want(item) is true (others are skipped)."""
        end = time.time() + seconds
        while time.time() < end:
            try:
                item = self.items.get(timeout=max(0.05, end - time.time()))
            except queue.Empty:
                break
            if want(item):
                return item
        raise AssertionError(f"no matching watch item within {seconds}s (error: {self.error})")

    def cancel(self):
        self.call.cancel()
        self.thread.join(5)


def raised_of(ftype):
    return lambda i: i.WhichOneof("item") == "event" and i.event.WhichOneof("kind") == "raised" and i.event.raised.type == ftype


def status_of(status):
    return lambda i: (i.WhichOneof("item") == "event" and i.event.WhichOneof("kind") == "status_changed"
                      and i.event.status_changed.change.status == status)


@pytest.fixture
def alignment_only(start_service):
    svc = start_service("alignment")
    return al_grpc.AlignmentServiceStub(svc.channel)


def test_findings_watch_and_status_changes(start_service):
    marketing = start_service("marketing")
    sales = start_service("sales")
    alignment = start_service("alignment")
    stub = al_grpc.AlignmentServiceStub(alignment.channel)
    domain = f"pyapi-{random.randrange(16**8):08x}.io"
    customer = f"domain:{domain}"

    # Nothing yet for this customer; the listing's watch cursor is where "after the listing" starts.
    listing = stub.ListFindings(al.ListFindingsRequest(filter=al.FindingFilter(customer_key=customer)), timeout=T)
    assert list(listing.findings) == [] and listing.watch_cursor

    watch = Watch(stub, customer)
    first = watch.next(lambda i: i.WhichOneof("item") == "heartbeat", 10)  # the stream is up
    assert first.cursor
    conflicting_claims(marketing, sales, domain)
    item = watch.next(raised_of(al.FINDING_TYPE_CONFLICTING_CLAIM))
    finding = item.event.raised
    assert finding.customer_key == customer and finding.status == al.FINDING_STATUS_OPEN and finding.version == 1
    assert item.event.id == f"raised:{finding.id}" and item.cursor
    assert len(finding.evidence) >= 2 and {e.team for e in finding.evidence} == {c.TEAM_MARKETING, c.TEAM_SALES}
    away_cursor = item.cursor
    watch.cancel()

    # Both conflicts (discount and trial length), newest first; paging one at a time.
    deadline = time.time() + 15
    while time.time() < deadline:
        found = stub.ListFindings(al.ListFindingsRequest(filter=al.FindingFilter(
            customer_key=customer, types=[al.FINDING_TYPE_CONFLICTING_CLAIM])), timeout=T).findings
        if len(found) >= 2:
            break
        time.sleep(0.3)
    assert len(found) == 2, found
    other = next(f.id for f in found if f.id != finding.id)
    assert found[0].detected_at.ToNanoseconds() >= found[1].detected_at.ToNanoseconds()
    page1 = stub.ListFindings(al.ListFindingsRequest(filter=al.FindingFilter(customer_key=customer), page_size=1), timeout=T)
    assert len(page1.findings) == 1 and page1.next_page_token
    page2 = stub.ListFindings(al.ListFindingsRequest(filter=al.FindingFilter(customer_key=customer), page_size=1,
                                                     page_token=page1.next_page_token), timeout=T)
    assert len(page2.findings) == 1 and page2.findings[0].id != page1.findings[0].id
    high = stub.ListFindings(al.ListFindingsRequest(filter=al.FindingFilter(
        customer_key=customer, severities=[al.SEVERITY_HIGH, al.SEVERITY_CRITICAL], statuses=[al.FINDING_STATUS_OPEN],
        team=c.TEAM_SALES)), timeout=T).findings
    assert finding.id in [f.id for f in high]
    with pytest.raises(grpc.RpcError) as e:
        stub.ListFindings(al.ListFindingsRequest(page_size=501), timeout=T)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # GetFinding.
    assert stub.GetFinding(al.GetFindingRequest(finding_id=finding.id), timeout=T).id == finding.id
    for bad, code in (("f-00000000000000000000000000000000", grpc.StatusCode.NOT_FOUND), ("", grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as e:
            stub.GetFinding(al.GetFindingRequest(finding_id=bad), timeout=T)
        assert e.value.code() == code

    # Acknowledge while nobody watches; a retry with the same request id has its effect once.
    ack = al.AcknowledgeFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=finding.id, expected_version=1,
                                       reason="on it")
    acked = stub.AcknowledgeFinding(ack, timeout=T)
    assert acked.finding.status == al.FINDING_STATUS_ACKNOWLEDGED and acked.finding.version == 2
    assert acked.event_id == f"{finding.id}@2"
    assert stub.AcknowledgeFinding(ack, timeout=T).finding.version == 2
    got = stub.GetFinding(al.GetFindingRequest(finding_id=finding.id), timeout=T)
    assert got.status == al.FINDING_STATUS_ACKNOWLEDGED and got.status_history[-1].actor.id == "revops-py"

    # The resumed watch delivers what it missed: the acknowledgement.
    resumed = Watch(stub, customer, away_cursor)
    item = resumed.next(status_of(al.FINDING_STATUS_ACKNOWLEDGED), 15)
    assert item.event.status_changed.finding_id == finding.id and item.event.status_changed.finding.version == 2
    # ... and live ones after it.
    resolved = stub.ResolveFinding(al.ResolveFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=finding.id,
                                                            reason="aligned on 20 %"), timeout=T)
    assert resolved.finding.status == al.FINDING_STATUS_RESOLVED
    assert resumed.next(status_of(al.FINDING_STATUS_RESOLVED), 15).event.status_changed.change.reason == "aligned on 20 %"
    resumed.cancel()

    # Status codes of status changes.
    cases = [
        (stub.AcknowledgeFinding, al.AcknowledgeFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=finding.id),
         grpc.StatusCode.FAILED_PRECONDITION),
        (stub.DismissFinding, al.DismissFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=finding.id, reason="x"),
         grpc.StatusCode.FAILED_PRECONDITION),
        (stub.DismissFinding, al.DismissFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=other, reason="x",
                                                       expected_version=7), grpc.StatusCode.ABORTED),
        (stub.DismissFinding, al.DismissFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=finding.id),
         grpc.StatusCode.INVALID_ARGUMENT),  # reason required
        (stub.AcknowledgeFinding, al.AcknowledgeFindingRequest(request_id=rid(), finding_id=finding.id),
         grpc.StatusCode.INVALID_ARGUMENT),  # actor required
        (stub.AcknowledgeFinding, al.AcknowledgeFindingRequest(request_id=rid(), actor=TRIAGER, finding_id="f-nope"),
         grpc.StatusCode.NOT_FOUND),
    ]
    for call, request, code in cases:
        with pytest.raises(grpc.RpcError) as e:
            call(request, timeout=T)
        assert e.value.code() == code, (request, e.value.details())
    dismissed = stub.DismissFinding(al.DismissFindingRequest(request_id=rid(), actor=TRIAGER, finding_id=other,
                                                             reason="accepted risk"), timeout=T)
    assert dismissed.finding.status == al.FINDING_STATUS_DISMISSED

    # The shared customer view and the scorecard see it.
    view = stub.GetCustomerView(al.GetCustomerViewRequest(customer_key=customer), timeout=T)
    assert view.customer_key == customer
    assert finding.id not in [f.id for f in view.open_findings]  # resolved
    by_identity = stub.GetCustomerView(al.GetCustomerViewRequest(identity=c.CustomerRef(
        person=c.PersonIdentity(email=f"someone@{domain}"))), timeout=T)
    assert by_identity.customer_key == customer
    with pytest.raises(grpc.RpcError) as e:
        stub.GetCustomerView(al.GetCustomerViewRequest(customer_key=f"domain:nobody-{domain}"), timeout=T)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    card = stub.GetScorecard(al.GetScorecardRequest(scope=al.ScorecardScope(segment=c.Segment(
        customers=c.CustomerList(customer_keys=[customer])))), timeout=T)
    counts = {t.type: t.count for t in card.current.findings_by_type}
    assert counts[al.FINDING_TYPE_CONFLICTING_CLAIM] == 2 and card.current.findings_raised >= 2
    assert card.end_time.seconds - card.start_time.seconds == 7 * 86400
    overall = stub.GetScorecard(al.GetScorecardRequest(), timeout=T)
    assert overall.current.findings_raised >= 2 and overall.trends


def test_watch_from_a_bad_cursor(alignment_only):
    with pytest.raises(grpc.RpcError) as e:
        for _ in alignment_only.WatchFindings(al.WatchFindingsRequest(resume_cursor="not-a-cursor"), timeout=5):
            pass
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_playbook_get_validate_update(alignment_only):
    stub = alignment_only
    current = stub.GetPlaybook(al.GetPlaybookRequest(), timeout=T)
    assert current.version >= 1 and current.yaml
    assert current.sha256 == hashlib.sha256(current.yaml.encode()).hexdigest()
    assert stub.GetPlaybook(al.GetPlaybookRequest(version=current.version), timeout=T).sha256 == current.sha256
    with pytest.raises(grpc.RpcError) as e:
        stub.GetPlaybook(al.GetPlaybookRequest(version=current.version + 100), timeout=T)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    ok = stub.ValidatePlaybook(al.ValidatePlaybookRequest(yaml=PLAYBOOK.read_text()), timeout=T)
    assert ok.valid and ok.declared_version
    bad = stub.ValidatePlaybook(al.ValidatePlaybookRequest(yaml="version: [unclosed\n"), timeout=T)
    assert not bad.valid and any(p.level == al.PlaybookProblem.LEVEL_ERROR for p in bad.problems)

    # Optimistic concurrency: a stale expected version is ABORTED, the current one installs N+1.
    yaml = current.yaml
    with pytest.raises(grpc.RpcError) as e:
        stub.UpdatePlaybook(al.UpdatePlaybookRequest(request_id=rid(), actor=TRIAGER, yaml=yaml,
                                                     expected_version=current.version + 5), timeout=T)
    assert e.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.RpcError) as e:
        stub.UpdatePlaybook(al.UpdatePlaybookRequest(request_id=rid(), actor=TRIAGER, yaml="version: [unclosed\n"), timeout=T)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    updated = stub.UpdatePlaybook(al.UpdatePlaybookRequest(request_id=rid(), actor=TRIAGER, yaml=yaml,
                                                           expected_version=current.version), timeout=T)
    assert updated.playbook.version == current.version + 1 and updated.playbook.source == "api"
    assert updated.playbook.loaded_by.id == "revops-py"
    assert stub.GetPlaybook(al.GetPlaybookRequest(), timeout=T).version == current.version + 1


def test_deadlines_are_honoured(alignment_only):
    # A watch never ends by itself: the client's deadline ends it, on time.
    started = time.time()
    with pytest.raises(grpc.RpcError) as e:
        for _ in alignment_only.WatchFindings(al.WatchFindingsRequest(), timeout=0.5):
            pass
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.time() - started < 5
