"""The examples another team would start from, run as programs against a real scenario:
examples/python/findings_consumer.py reads and decodes the findings an alignment deployment
publishes to its findings topic, and examples/python/alignment_client.py lists open
high-severity findings, watches new ones (resuming from a cursor) and acknowledges one."""
import json
import random
import subprocess
import sys
import time

import pytest

from conftest import KAFKA, SOURCE_DIR, create_topics

sys.path.insert(0, str(SOURCE_DIR / "scripts" / "lib"))
sys.path.insert(0, str(SOURCE_DIR / "examples" / "python"))
import scenario  # noqa: E402
from concord.alignment.v1 import alignment_pb2 as al, alignment_pb2_grpc as al_grpc  # noqa: E402

EXAMPLES = SOURCE_DIR / "examples" / "python"
# At least these, among others, from one scenario run (test_end_to_end.py checks the exact list;
# here the point is that the examples decode what the service publishes).
EXPECTED_TYPES = {"FINDING_TYPE_CONFLICTING_CLAIM", "FINDING_TYPE_OFF_BOOK_CLAIM", "FINDING_TYPE_DUPLICATE_RECORD"}


def alignment_env(group):
    """A deployment of its own, configured the way a default one is: group, Redis keys, topics."""
    return {"CONCORD_GROUP_ID": group, "CONCORD_REDIS_PREFIX": f"concord:test:{group}",
            "CONCORD_FINDINGS_TOPIC": f"concord.test.findings.{group}", "CONCORD_DLQ_TOPIC": f"concord.test.dlq.{group}"}


def example(name, *args, timeout=60, **kw):
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=timeout, **kw)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def scenario_run(start_service):
    """The demo scenario through real marketing and sales, findings from a real alignment."""
    suffix = f"{random.randrange(16**8):08x}"
    group = f"examples-{suffix}"
    env = alignment_env(group)
    create_topics(env["CONCORD_FINDINGS_TOPIC"], env["CONCORD_DLQ_TOPIC"])
    marketing = start_service("marketing")
    sales = start_service("sales")
    alignment = start_service("alignment", env=env)
    day = scenario.Day(f"127.0.0.1:{marketing.grpc_port}", f"127.0.0.1:{sales.grpc_port}", pace=0.0, suffix=suffix)
    day.run()
    stub = al_grpc.AlignmentServiceStub(alignment.channel)
    customers = [f"domain:{day.d(d)}" for d in ("globex.io", "initech.com", "hooli.xyz", "umbrella-corp.com")]
    deadline = time.time() + 40
    mine = []
    while time.time() < deadline:
        mine = [f for key in customers for f in stub.ListFindings(
            al.ListFindingsRequest(filter=al.FindingFilter(customer_key=key)), timeout=5).findings]
        if {al.FindingType.Name(f.type) for f in mine} >= EXPECTED_TYPES:
            break
        time.sleep(0.5)
    assert {al.FindingType.Name(f.type) for f in mine} >= EXPECTED_TYPES, [al.FindingType.Name(f.type) for f in mine]
    return {"suffix": suffix, "customers": customers, "stub": stub, "topic": env["CONCORD_FINDINGS_TOPIC"], "findings": mine, "day": day,
            "alignment": f"127.0.0.1:{alignment.grpc_port}", "marketing": marketing, "sales": sales}


def test_findings_consumer_decodes_the_scenario(scenario_run):
    run = scenario_run
    want = len(run["findings"])
    p = example("findings_consumer.py", "--brokers", KAFKA, "--group", f"example-consumer-{run['suffix']}",
                "--topic", run["topic"], "--from-beginning", "--timeout", "30", "--json",
                "--subject-contains", run["suffix"], "--max", str(want))
    assert p.returncode == 0, p.stderr
    events = json_lines(p.stdout)
    assert len(events) == want, p.stdout
    assert len({e["ce_id"] for e in events}) == want  # deduplicated by ce_id
    raised = [e["event"]["raised"] for e in events if "raised" in e["event"]]
    assert {f["type"] for f in raised} >= EXPECTED_TYPES
    # The very findings the API lists (one may have been raised since the fixture listed them).
    now_listed = {f.id for key in run["customers"] for f in run["stub"].ListFindings(
        al.ListFindingsRequest(filter=al.FindingFilter(customer_key=key)), timeout=5).findings}
    assert {f["id"] for f in raised} <= now_listed
    for e in events:
        assert e["ce_type"] == "io.concord.alignment.finding-raised.v1"
        assert e["key"] == e["event"]["customerKey"] and run["suffix"] in e["key"]
    for f in raised:
        assert f["evidence"] and f["title"] and f["recommendedAction"]

    # The human-readable form of the same records.
    p = example("findings_consumer.py", "--brokers", KAFKA, "--group", f"example-text-{run['suffix']}",
                "--topic", run["topic"], "--from-beginning", "--timeout", "30", "--subject-contains", run["suffix"],
                "--max", "3")
    assert p.returncode == 0, p.stderr
    heads = [line for line in p.stdout.splitlines() if line.startswith("[")]
    assert len(heads) == 3 and all(run["suffix"] in h for h in heads), p.stdout
    assert "evidence:" in p.stdout


def test_alignment_client_lists_watches_and_acknowledges(scenario_run):
    run = scenario_run
    target = ["--target", run["alignment"], "--timeout", "5"]

    p = example("alignment_client.py", *target, "--json", "list", "--severity", "high", "--limit", "500")
    assert p.returncode == 0, p.stderr
    listed = json_lines(p.stdout)
    assert listed and all(f["severity"] in ("SEVERITY_HIGH", "SEVERITY_CRITICAL") and f["status"] == "FINDING_STATUS_OPEN"
                          for f in listed)
    mine_high = {f.id for f in run["findings"] if f.severity >= al.SEVERITY_HIGH}
    assert mine_high <= {f["id"] for f in listed}
    cursor = p.stderr.split("watch cursor:")[1].split()[0]

    # Triage: watching from the listing, it acknowledges the first new high finding of this run's
    # customers (other tests' scenarios run at the same time), which the next step of the day
    # produces (marketing promises Initech's Enterprise 40 % off).
    triage = subprocess.Popen([sys.executable, str(EXAMPLES / "alignment_client.py"), *target, "--json", "triage",
                               "--actor", "revops-example", "--for", "40",
                               "--customer", run["suffix"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    time.sleep(2)
    day = run["day"]
    day.mk.SendMessage(scenario.mk.SendMessageRequest(
        request_id=scenario.rid(), actor=scenario.NURTURE_BOT, channel=scenario.c.CHANNEL_EMAIL,
        purpose=scenario.c.MESSAGE_PURPOSE_PROMOTION,
        person=scenario.c.CustomerRef(person=scenario.c.PersonIdentity(email="cto@" + day.d("initech.com"),
                                                                       website=day.d("initech.com"))),
        subject="40% off Concord Enterprise", body="Only this week: Concord Enterprise at 40% off.",
        offers=[scenario.c.Offer(product="concord-enterprise", discount_percent=40)]), timeout=5)
    out, err = triage.communicate(timeout=60)
    assert triage.returncode == 0, err
    lines = json_lines(out)
    acked = [x for x in lines if x["kind"] == "acknowledged"]
    assert len(acked) == 1, out
    finding = acked[0]["finding"]
    assert finding["status"] == "FINDING_STATUS_ACKNOWLEDGED" and run["suffix"] in finding["customerKey"]

    # Resumed from the listing's cursor, a watch delivers what happened since: the new finding
    # and its acknowledgement, although it was not running then.
    p = example("alignment_client.py", *target, "--json", "watch", "--cursor", cursor, "--severity", "high", "--for", "6")
    assert p.returncode == 0, p.stderr
    kinds = [(x["kind"], x.get("raised", {}).get("id") or x.get("statusChanged", {}).get("findingId")) for x in json_lines(p.stdout)]
    assert ("raised", finding["id"]) in kinds and ("status_changed", finding["id"]) in kinds, kinds

    # ack on its own: a second acknowledgement is refused with the server's status.
    p = example("alignment_client.py", *target, "ack", finding["id"], "--actor", "revops-example")
    assert p.returncode == 1 and "FAILED_PRECONDITION" in p.stderr, p.stderr
    other = next(f for f in run["findings"] if f.status == al.FINDING_STATUS_OPEN and f.id != finding["id"])
    p = example("alignment_client.py", *target, "ack", other.id, "--actor", "revops-example")
    assert p.returncode == 0 and f"acknowledged {other.id} (version 2" in p.stdout, p.stdout + p.stderr

    # A service that is not there: a clean exit with the status, within the deadline.
    t0 = time.monotonic()
    p = example("alignment_client.py", "--target", "127.0.0.1:1", "--timeout", "2", "list")
    assert p.returncode == 5 and "UNAVAILABLE" in p.stderr and time.monotonic() - t0 < 10
