"""The sales API from another language, as-is, against the real concord-sales binary (real Redis
and Kafka): Python stubs generated from proto/ at test time create an account and issue a quote;
refusals carry the standard codes and name the field; a retry with the same request_id gets the
same answer. And the outbox guarantee: writes acknowledged while the relay was off, the process
then killed with -9, are all on concord.sales.events.v1 exactly once after a restart.

Each test runs the binary with its own --store-prefix, so its data, outbox and relay lease are
its own even when other sales binaries run at the same time."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest

from conftest import KAFKA, REDIS_PORT, proto_modules

SOURCE_DIR = Path(os.environ.get("CONCORD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
TOPIC = "concord.sales.events.v1"


@pytest.fixture(scope="module")
def pb():
    """Python stubs generated from proto/ at test time."""
    return proto_modules(common="concord.events.v1.common_pb2", events="concord.events.v1.events_pb2",
                         sales="concord.sales.v1.sales_pb2", grpc="concord.sales.v1.sales_pb2_grpc")


def rid():
    return f"py-{uuid.uuid4()}"


def unique_prefix():
    return f"concord:test:sales-py:{uuid.uuid4().hex}"


def start_sales(start_service, prefix, *args):
    return start_service("sales", *args, env={"CONCORD_STORE_PREFIX": prefix})


def rep(pb, rep_id="rep-py"):
    return pb.common.Actor(id=rep_id, display_name="Python Rep", kind=pb.common.ACTOR_KIND_PERSON)


def usd(pb, units, nanos=0):
    return pb.common.Money(currency_code="USD", units=units, nanos=nanos)


def outbox_length(prefix):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT), "XLEN", f"{prefix}:outbox"],
                         capture_output=True, text=True, timeout=10, check=True)
    return int(out.stdout.strip())


def drop_keys(prefix):
    """Deletes every Redis key of a test prefix."""
    subprocess.run(f"redis-cli -h 127.0.0.1 -p {REDIS_PORT} --scan --pattern '{prefix}:*' "
                   f"| xargs -r redis-cli -h 127.0.0.1 -p {REDIS_PORT} DEL >/dev/null", shell=True, timeout=30)


def tail_consumer():
    """A consumer assigned to the current end of every partition of the sales topic (no group
    rebalancing, so nothing written after this call can be missed)."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"py-sales-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    assignment = []
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        assignment.append(TopicPartition(TOPIC, p, high))
    consumer.assign(assignment)
    return consumer


def collect(consumer, wanted, timeout, settle=3.0):
    """Polls until every wanted ce_id was seen (then `settle` seconds more, to catch duplicates) or
    the timeout passes. Returns {ce_id: [(key, headers), ...]} for the wanted ids."""
    seen = {}
    deadline = time.time() + timeout
    settle_until = None
    while time.time() < deadline:
        if settle_until is None and wanted <= seen.keys():
            settle_until = time.time() + settle
        if settle_until is not None and time.time() >= settle_until:
            break
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        ce_id = headers.get("ce_id")
        if ce_id in wanted:
            seen.setdefault(ce_id, []).append((msg.key().decode(), headers))
    return seen


def make_writes(pb, stub, n_accounts):
    """A small sales day per account: account, contact, opportunity, quote, activity.
    Returns {event_id: (customer_key, ce_type)} of every acknowledged write."""
    written = {}
    for i in range(n_accounts):
        domain = f"crash{uuid.uuid4().hex[:10]}.example.com"
        acc = stub.CreateAccount(pb.sales.CreateAccountRequest(
            request_id=rid(), actor=rep(pb), name=f"Crash Co {i}", website=domain), timeout=10)
        key = acc.account.customer_key
        assert key == f"domain:{domain}"
        written[acc.event_id] = (key, "io.concord.sales.account-created.v1")
        con = stub.CreateContact(pb.sales.CreateContactRequest(
            request_id=rid(), actor=rep(pb), account_id=acc.account.id,
            person=pb.common.PersonIdentity(full_name="Dana Crash", email=f"dana@{domain}")), timeout=10)
        written[con.event_id] = (key, "io.concord.sales.contact-created.v1")
        opp = stub.CreateOpportunity(pb.sales.CreateOpportunityRequest(
            request_id=rid(), actor=rep(pb), account_id=acc.account.id, name="Crash deal",
            amount=usd(pb, 25000)), timeout=10)
        written[opp.event_id] = (key, "io.concord.sales.opportunity-created.v1")
        quote = stub.IssueQuote(quote_request(pb, acc.account.id), timeout=10)
        written[quote.event_id] = (key, "io.concord.sales.quote-issued.v1")
        act = stub.LogActivity(pb.sales.LogActivityRequest(
            request_id=rid(), actor=rep(pb), kind=pb.events.ACTIVITY_KIND_CALL, account_id=acc.account.id,
            contact_ids=[con.contact.id], outcome=pb.events.ACTIVITY_OUTCOME_CONNECTED,
            notes="Walked through the quote"), timeout=10)
        written[act.event_id] = (key, "io.concord.sales.activity-logged.v1")
    return written


def quote_request(pb, account_id, request_id=None):
    from google.protobuf.timestamp_pb2 import Timestamp
    valid_until = Timestamp()
    valid_until.FromSeconds(int(time.time()) + 30 * 86400)
    return pb.sales.IssueQuoteRequest(
        request_id=request_id or rid(), actor=rep(pb), account_id=account_id, currency_code="USD",
        line_items=[
            pb.common.QuoteLineItem(product="concord-pro", list_price=usd(pb, 100), unit_price=usd(pb, 90),
                                    quantity=10, discount_percent=5, billing_period=pb.common.BILLING_PERIOD_MONTHLY),
            pb.common.QuoteLineItem(product="onboarding", list_price=usd(pb, 1999, 990000000),
                                    unit_price=usd(pb, 1999, 990000000), quantity=1),
        ],
        terms=pb.common.QuoteTerms(contract_term_months=12, payment_terms=pb.common.PAYMENT_TERMS_NET_30),
        valid_until=valid_until, notes="Valid for 30 days.")


def test_python_client_creates_an_account_and_issues_a_quote(pb, start_service):
    prefix = unique_prefix()
    svc = start_sales(start_service, prefix)
    try:
        stub = pb.grpc.SalesServiceStub(svc.channel)
        domain = f"py{uuid.uuid4().hex[:10]}.example.com"
        created = stub.CreateAccount(pb.sales.CreateAccountRequest(
            request_id=rid(), actor=rep(pb), name="Python Industries", website=f"https://www.{domain}/about",
            industry="software", country="us"), timeout=10)
        account = created.account
        assert account.id.startswith("acct-")
        assert account.domain == domain
        assert account.customer_key == f"domain:{domain}"
        assert account.country == "US"
        assert account.version == 1
        assert created.event_id

        req = quote_request(pb, account.id)
        issued = stub.IssueQuote(req, timeout=10)
        quote = issued.quote
        assert quote.status == pb.events.QUOTE_STATUS_ISSUED
        assert quote.revision == 1
        assert [l.line_id for l in quote.line_items] == ["line-1", "line-2"]
        # 90 x 10 less 5 % = 855.00; plus 1999.99 -> 2854.99 of a list total of 2999.99.
        assert (quote.total.units, quote.total.nanos) == (2854, 990000000)
        assert (quote.list_total.units, quote.list_total.nanos) == (2999, 990000000)
        assert (quote.discount_total.units, quote.discount_total.nanos) == (145, 0)
        assert quote.customer.customer_key == account.customer_key

        # A retry with the same request_id: the same answer, no second quote.
        assert stub.IssueQuote(req, timeout=10) == issued
        listed = stub.ListQuotes(pb.sales.ListQuotesRequest(account_id=account.id), timeout=10)
        assert [q.id for q in listed.quotes] == [quote.id]
        assert stub.GetQuote(pb.sales.GetQuoteRequest(quote_id=quote.id), timeout=10) == quote

        withdrawn = stub.WithdrawQuote(pb.sales.WithdrawQuoteRequest(
            request_id=rid(), actor=rep(pb), quote_id=quote.id, expected_version=1, reason="superseded"), timeout=10)
        assert withdrawn.quote.status == pb.events.QUOTE_STATUS_WITHDRAWN

        # Refusals: standard codes, the field named.
        bad = quote_request(pb, account.id)
        bad.line_items[0].quantity = 0
        with pytest.raises(grpc.RpcError) as err:
            stub.IssueQuote(bad, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "line_items[0].quantity: " in err.value.details()
        revise = pb.sales.ReviseQuoteRequest(request_id=rid(), actor=rep(pb), quote_id=quote.id,
                                             line_items=req.line_items, valid_until=req.valid_until)
        with pytest.raises(grpc.RpcError) as err:
            stub.ReviseQuote(revise, timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as err:
            stub.GetAccount(pb.sales.GetAccountRequest(account_id="acct-missing"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            stub.UpdateAccount(pb.sales.UpdateAccountRequest(
                request_id=rid(), actor=rep(pb), account_id=account.id, expected_version=7, name="x"), timeout=10)
        assert err.value.code() == grpc.StatusCode.ABORTED
        reused = quote_request(pb, account.id, request_id=req.request_id)
        reused.notes = "different content, same request_id"
        with pytest.raises(grpc.RpcError) as err:
            stub.IssueQuote(reused, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "request_id" in err.value.details()

        status, body = svc.admin("/metrics")
        assert status == 200
        assert 'concord_rpc_requests_total{service="sales",method="IssueQuote",code="OK"} 2' in body
        assert 'concord_rpc_requests_total{service="sales",method="IssueQuote",code="INVALID_ARGUMENT"} 2' in body
    finally:
        svc.kill()
        drop_keys(prefix)


def test_acknowledged_writes_reach_kafka_once_after_kill_9(pb, start_service):
    """Crash between answering and publishing: the relay is off, N writes are acknowledged (their
    events sit in the Redis outbox), the process is killed with -9; after a restart with the relay
    on, every acknowledged write's event is on the topic, none twice."""
    prefix = unique_prefix()
    consumer = tail_consumer()
    try:
        svc = start_sales(start_service, prefix, "--outbox-relay=false")
        written = make_writes(pb, pb.grpc.SalesServiceStub(svc.channel), n_accounts=4)
        assert len(written) == 20
        assert outbox_length(prefix) == len(written), "with the relay off every event waits in the outbox"
        early = collect(consumer, set(written), timeout=2, settle=0)
        assert not early, "nothing may be published while the relay is off"
        svc.kill()  # SIGKILL

        restarted = start_sales(start_service, prefix)
        seen = collect(consumer, set(written), timeout=90)
        missing = set(written) - seen.keys()
        assert not missing, f"{len(missing)} acknowledged writes never reached Kafka: {sorted(missing)[:5]}"
        for ce_id, records in seen.items():
            assert len(records) == 1, f"{ce_id} published {len(records)} times"
            key, headers = records[0]
            want_key, want_type = written[ce_id]
            assert key == want_key
            assert headers["ce_type"] == want_type
            assert headers["ce_subject"] == want_key
            assert headers["ce_specversion"] == "1.0"
            assert headers["content-type"] == "application/protobuf"
            assert headers["ce_dataschema"] == "concord.events.v1.Event"
            assert headers["ce_source"].startswith("/concord/sales/")
        deadline = time.time() + 10
        while outbox_length(prefix) and time.time() < deadline:
            time.sleep(0.2)
        assert outbox_length(prefix) == 0
        # The acknowledged data survived the crash too.
        stub = pb.grpc.SalesServiceStub(restarted.channel)
        listed = stub.ListAccounts(pb.sales.ListAccountsRequest(page_size=10), timeout=10)
        assert len(listed.accounts) == 4
    finally:
        consumer.close()
        drop_keys(prefix)
