"""concordctl against the real marketing, sales and alignment binaries: --help of every
command, the main writes (table output and --json), findings list/get/ack/watch on a finding
the writes produce, customer show, scorecard, playbook show/validate, and the failure
contract: one line `concordctl: <CODE>: <message>` and exit 2 (usage), 3 (NOT_FOUND),
5 (service down, within --timeout)."""
import json
import os
import random
import subprocess
import time

import pytest

from conftest import BINARY_DIR, SOURCE_DIR, free_port

CTL = BINARY_DIR / "bin" / "concordctl"
PLAYBOOK = SOURCE_DIR / "services" / "alignment" / "playbook.example.yaml"

COMMANDS = [
    [], ["findings"], ["findings", "list"], ["findings", "get"], ["findings", "watch"], ["findings", "ack"],
    ["findings", "resolve"], ["findings", "dismiss"], ["customer"], ["customer", "show"], ["scorecard"],
    ["playbook"], ["playbook", "show"], ["playbook", "validate"], ["playbook", "load"],
    ["marketing"], ["marketing", "capture-lead"], ["marketing", "handoff"], ["marketing", "send"],
    ["sales"], ["sales", "create-account"], ["sales", "accept-handoff"], ["sales", "quote"], ["sales", "log-call"],
]


def run(*args, env=None, timeout=30, check=None):
    e = dict(os.environ)
    e.pop("CONCORD_ACTOR", None)
    e.update(env or {})
    p = subprocess.run([str(CTL), *args], env=e, capture_output=True, text=True, timeout=timeout)
    if check is not None:
        assert p.returncode == check, f"concordctl {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def one_error_line(p, code):
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"concordctl: {code}: "), p.stderr
    return lines[0]


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def services(start_service):
    marketing = start_service("marketing")
    sales = start_service("sales")
    alignment = start_service("alignment")
    env = {"CONCORD_MARKETING_ADDR": f"127.0.0.1:{marketing.grpc_port}",
           "CONCORD_SALES_ADDR": f"127.0.0.1:{sales.grpc_port}",
           "CONCORD_ALIGNMENT_ADDR": f"127.0.0.1:{alignment.grpc_port}",
           "CONCORD_ACTOR": "ctl-test"}
    return env


def test_help_of_every_command():
    for cmd in COMMANDS:
        p = run(*cmd, "--help", check=0)
        assert "Usage: concordctl" in p.stdout, cmd
        assert p.stderr == ""
    assert "Exit codes" in run("--help").stdout


def test_usage_errors_exit_2_with_one_line():
    one_error_line(run("findings", "list", "--bogus", check=2), "USAGE")
    one_error_line(run(check=2), "USAGE")
    one_error_line(run("findings", "get", check=2), "USAGE")
    one_error_line(run("findings", "list", "--type", "nonsense", check=2), "USAGE")
    one_error_line(run("--timeout", "soon", "findings", "list", check=2), "USAGE")
    # A write without an actor is refused before anything is sent.
    one_error_line(run("sales", "create-account", "--name", "X", check=2), "USAGE")


def test_service_down_exits_5_within_the_timeout():
    closed = f"127.0.0.1:{free_port()}"
    for args in (["--alignment", closed, "findings", "list"],
                 ["--alignment", closed, "playbook", "show"],
                 ["--sales", closed, "--actor", "x", "sales", "create-account", "--name", "X"],
                 ["--alignment", closed, "findings", "watch"]):  # retries, then gives up after --timeout
        t0 = time.monotonic()
        p = run("--timeout", "2s", *args, check=5)
        assert time.monotonic() - t0 < 4
        one_error_line(p, "UNAVAILABLE")


def test_writes_findings_and_views(services, tmp_path):
    env = services
    sfx = f"{random.randrange(16**8):08x}"
    domain = f"ctl-{sfx}.io"
    customer = f"domain:{domain}"

    # Marketing: capture a lead, table output and then --json.
    p = run("marketing", "capture-lead", "--email", f"dana@{domain}", "--first-name", "Dana", "--last-name", "Scully",
            "--company", "CtlCo", "--website", domain, env=env, check=0)
    assert "lead " in p.stdout and customer in p.stdout, p.stdout
    p = run("--json", "marketing", "capture-lead", "--email", f"fox@{domain}", "--first-name", "Fox",
            "--company", "CtlCo", "--website", domain, env=env, check=0)
    (lead_resp,) = json_lines(p.stdout)
    lead_id = lead_resp["lead"]["id"]
    assert lead_resp["lead"]["customerKey"] == customer and lead_resp["eventId"]

    # Hand-off (qualifying first) and acceptance by sales, identity read from marketing.
    p = run("--json", "marketing", "handoff", lead_id, "--qualify", env=env, check=0)
    handoff_id = json_lines(p.stdout)[0]["lead"]["handoff"]["handoffId"]
    p = run("sales", "accept-handoff", handoff_id, "--lead", lead_id, "--actor", "rep-ctl", env=env, check=0)
    assert "accepted" in p.stdout, p.stdout

    # Sales: an account (table, then --json).
    p = run("sales", "create-account", "--name", "CtlCo", "--website", f"https://www.{domain}", env=env, check=0)
    assert "account " in p.stdout and domain in p.stdout, p.stdout
    p = run("--json", "sales", "create-account", "--name", "CtlCo Two", "--website", f"two-{domain}", env=env, check=0)
    assert json_lines(p.stdout)[0]["account"]["id"]
    account_id = [line.split()[1] for line in run("sales", "create-account", "--name", "CtlCo", "--website", domain,
                                                   "--request-id", f"acct-{sfx}", env=env, check=0).stdout.splitlines()
                  if line.startswith("account ")][0]
    # The same request id again: the same account (idempotent), exit 0.
    again = run("--json", "sales", "create-account", "--name", "CtlCo", "--website", domain, "--request-id", f"acct-{sfx}",
                env=env, check=0)
    assert json_lines(again.stdout)[0]["account"]["id"] == account_id
    run("sales", "log-call", "--account", account_id, "--notes", "Discovery call about seats.", "--duration", "15m",
        env=env, check=0)

    # Marketing promises 20 % off, sales quotes 10 %: a conflicting claim.
    run("marketing", "send", "--lead", lead_id, "--subject", "20% off Concord Pro",
        "--body", "Use SPRING20 for 20% off Concord Pro.", "--offer-product", "concord-pro", "--offer-discount", "20",
        env=env, check=0)
    p = run("sales", "quote", "--account", account_id, "--product", "concord-pro", "--list-price", "49",
            "--unit-price", "49", "--quantity", "40", "--discount", "10", "--notes", "10% off Pro.", env=env, check=0)
    assert "USD 1764.00" in p.stdout, p.stdout  # 49 * 40 * 0.9

    deadline = time.time() + 30
    listed = []
    while time.time() < deadline and not listed:
        p = run("--json", "findings", "list", "--customer", customer, "--type", "conflicting-claim", env=env, check=0)
        listed = json_lines(p.stdout)  # every line is one JSON object
        time.sleep(0.5)
    assert listed, "a CONFLICTING_CLAIM for the customer"
    finding = listed[0]
    assert finding["type"] == "FINDING_TYPE_CONFLICTING_CLAIM" and finding["customerKey"] == customer

    # The table: header and a row with the short id.
    p = run("findings", "list", "--customer", customer, env=env, check=0)
    header, *rows = p.stdout.splitlines()
    assert header.split() == ["ID", "TYPE", "SEVERITY", "STATUS", "CUSTOMER", "TITLE", "AGE"]
    assert any(r.startswith(finding["id"][:10]) and "conflicting-claim" in r for r in rows), p.stdout
    # All findings, as JSON lines, paging with --limit.
    for obj in json_lines(run("--json", "findings", "list", "--limit", "3", env=env, check=0).stdout):
        assert obj["id"].startswith("f-")

    # get by the short id shown in the table.
    p = run("findings", "get", finding["id"][:10], env=env, check=0)
    assert finding["id"] in p.stdout and "evidence" in p.stdout

    # watch (in the background) sees the acknowledgement made after it started.
    watch = subprocess.Popen([str(CTL), "--json", "findings", "watch", "--customer", customer, "--max", "1", "--for", "30s"],
                             env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p = run("findings", "ack", finding["id"], "--reason", "looking into it", env=env, check=0)
    assert "acknowledged" in p.stdout
    out, err = watch.communicate(timeout=40)
    assert watch.returncode == 0, err
    (event,) = json_lines(out)
    assert event["event"]["statusChanged"]["findingId"] == finding["id"]
    assert event["cursor"]

    # A second ack is refused (FAILED_PRECONDITION -> 4); a stale version is ABORTED (4).
    one_error_line(run("findings", "ack", finding["id"], env=env, check=4), "FAILED_PRECONDITION")
    one_error_line(run("findings", "resolve", finding["id"], "--reason", "x", "--expected-version", "1", env=env, check=4),
                   "ABORTED")
    p = run("--json", "findings", "resolve", finding["id"], "--reason", "aligned the offer", env=env, check=0)
    assert json_lines(p.stdout)[0]["finding"]["status"] == "FINDING_STATUS_RESOLVED"

    # An unknown finding: NOT_FOUND, exit 3, one line.
    one_error_line(run("findings", "get", "f-00000000000000000000000000000000", env=env, check=3), "NOT_FOUND")
    one_error_line(run("findings", "dismiss", "f-nope", "--reason", "x", env=env, check=3), "NOT_FOUND")

    # Views.
    p = run("customer", "show", customer, env=env, check=0)
    assert customer in p.stdout and "open findings" in p.stdout
    one_error_line(run("customer", "show", f"domain:nobody-{sfx}.io", env=env, check=3), "NOT_FOUND")
    p = run("scorecard", env=env, check=0)
    assert "findings raised" in p.stdout and "conflicting-claim" in p.stdout
    assert "current" in json_lines(run("--json", "scorecard", "--team", "sales", env=env, check=0).stdout)[0]

    # Playbook.
    p = run("playbook", "show", env=env, check=0)
    assert p.stdout.startswith("# playbook version ")
    assert json_lines(run("--json", "playbook", "show", env=env, check=0).stdout)[0]["yaml"]
    p = run("playbook", "validate", str(PLAYBOOK), env=env, check=0)
    assert "valid" in p.stdout
    bad = tmp_path / "bad-playbook.yaml"
    bad.write_text("version: [unclosed\n")
    one_error_line(run("playbook", "validate", str(bad), env=env, check=4), "INVALID_ARGUMENT")
