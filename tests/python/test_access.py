"""Access control over real channels: TLS and mutual TLS on the gRPC port (a throwaway PKI made
with the openssl CLI), per-team bearer tokens from a tokens file, the refusals' codes, log lines
and metrics, and certificates and tokens replaced on disk while the services run."""
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import BINARY_DIR, SOURCE_DIR

sys.path.insert(0, str(SOURCE_DIR / "examples" / "python"))
import concord_proto  # noqa: E402

concord_proto.load()
from concord.alignment.v1 import alignment_pb2 as al, alignment_pb2_grpc as al_grpc  # noqa: E402
from concord.events.v1 import common_pb2 as c  # noqa: E402
from concord.marketing.v1 import marketing_pb2 as mk, marketing_pb2_grpc as mk_grpc  # noqa: E402
from concord.sales.v1 import sales_pb2 as sl, sales_pb2_grpc as sl_grpc  # noqa: E402

T = 5.0
MARKETER = c.Actor(id="mkt-py", kind=c.ACTOR_KIND_PERSON)
REP = c.Actor(id="rep-py", kind=c.ACTOR_KIND_PERSON)

# ---- a throwaway PKI ------------------------------------------------------------------------


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=d)


def make_cert(d, name, ca, *, san, usage, days=1):
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    # -days -1: notAfter is yesterday, an expired certificate.
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", str(days), "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")  # trusted by nobody
    make_cert(d, "server", "ca", san="DNS:localhost,IP:127.0.0.1", usage="serverAuth")
    make_cert(d, "server2", "rogue-ca", san="DNS:localhost,IP:127.0.0.1", usage="serverAuth")
    make_cert(d, "client", "ca", san="DNS:client.concord.test", usage="clientAuth")
    make_cert(d, "robot", "ca", san="DNS:robot.concord.test", usage="clientAuth")
    make_cert(d, "expired", "ca", san="DNS:client.concord.test", usage="clientAuth", days=-1)
    make_cert(d, "rogue", "rogue-ca", san="DNS:client.concord.test", usage="clientAuth")
    make_cert(d, "server-expired", "ca", san="DNS:localhost,IP:127.0.0.1", usage="serverAuth", days=-1)
    return d


TOKENS = {name: f"{name}-{secrets.token_hex(16)}" for name in ("marketing", "sales", "reader", "admin", "late")}


def tokens_yaml(include_late=False):
    def h(t):
        return hashlib.sha256(t.encode()).hexdigest()
    rows = [("mkt-bot", "marketing", "[writer]", TOKENS["marketing"]),
            ("rep-bot", "sales", "[writer]", TOKENS["sales"]),
            ("dashboard", "customer-success", "[reader]", TOKENS["reader"]),
            ("ops", "platform", "[admin]", TOKENS["admin"])]
    if include_late:
        rows.append(("late-reader", "customer-success", "[reader]", TOKENS["late"]))
    out = "# test principals: hashes only\nprincipals:\n"
    for name, team, roles, token in rows:
        out += f"  - name: {name}\n    team: {team}\n    roles: {roles}\n    sha256: {h(token)}\n"
    # mTLS identity: a client certificate with this SAN is a marketing writer without a token.
    out += (f"  - name: mkt-robot\n    team: marketing\n    roles: [writer]\n"
            f"    client_cert: robot.concord.test\n")
    return out


@pytest.fixture
def tokens_file(tmp_path):
    p = tmp_path / "tokens.yaml"
    p.write_text(tokens_yaml())
    return p


# ---- helpers ------------------------------------------------------------------------------


def channel(port, ca=None, cert=None, key=None):
    # A private subchannel pool: a channel with new credentials never reuses another's connection.
    opts = [("grpc.use_local_subchannel_pool", 1)]
    if ca is None and cert is None:
        return grpc.insecure_channel(f"127.0.0.1:{port}", options=opts)
    creds = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes() if ca else None,
        private_key=Path(key).read_bytes() if key else None,
        certificate_chain=Path(cert).read_bytes() if cert else None)
    return grpc.secure_channel(f"127.0.0.1:{port}", creds, options=opts)


def bearer(name):
    return [("authorization", f"Bearer {TOKENS[name]}")]


def code_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def health(ch):
    return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=T).status


def tls_env(pki, client_ca=False, reload_seconds=None, cert_dir=None):
    d = Path(cert_dir or pki)
    env = {"CONCORD_GRPC_TLS_CERT": str(d / "server.pem"), "CONCORD_GRPC_TLS_KEY": str(d / "server.key")}
    if client_ca:
        env["CONCORD_GRPC_TLS_CLIENT_CA"] = str(pki / "ca.pem")
    if reload_seconds:
        env["CONCORD_GRPC_TLS_RELOAD_SECONDS"] = str(reload_seconds)
    return env


def wait_healthy(svc, timeout=30):
    """SERVING, seen through the admin port (plain HTTP, so no TLS client needed)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if svc.proc.poll() is not None:
            raise AssertionError(f"{svc.name} exited with {svc.proc.returncode}:\n{svc.output()}")
        try:
            if svc.admin("/healthz")[0] == 200:
                return svc
        except OSError:  # the admin port is not listening yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"{svc.name} not SERVING after {timeout}s:\n{svc.output()}")


def refusal_lines(svc):
    out = []
    for line in svc.output().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("msg") == "call refused by access control":
            out.append(rec)
    return out


def lead_request():
    return mk.CaptureLeadRequest(request_id=f"py-{secrets.token_hex(8)}", actor=MARKETER,
                                 person=c.PersonIdentity(email=f"ada@access-{secrets.token_hex(4)}.example.com"))


def account_request():
    return sl.CreateAccountRequest(request_id=f"py-{secrets.token_hex(8)}", actor=REP, name="Access Co",
                                   website=f"access-{secrets.token_hex(4)}.example.com")


def every_method(module, service):
    for m in module.DESCRIPTOR.services_by_name[service].methods:
        yield f"/{m.full_name.rsplit('.', 1)[0]}/{m.name}", m.server_streaming


def run(cmd, token=None, timeout=30):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    if token:
        env["CONCORD_TOKEN"] = TOKENS[token]
    return subprocess.run([str(x) for x in cmd], env=env, capture_output=True, text=True, timeout=timeout)


CTL = BINARY_DIR / "bin" / "concordctl"
CLIENT = [sys.executable, SOURCE_DIR / "examples" / "python" / "alignment_client.py"]


# ---- tests --------------------------------------------------------------------------------


def test_tokens_per_team_over_tls(pki, tokens_file, start_service):
    env = {**tls_env(pki), "CONCORD_AUTH_TOKENS_FILE": str(tokens_file), "CONCORD_AUTH_RELOAD_SECONDS": "1"}
    marketing = wait_healthy(start_service("marketing", env=env, wait=False))
    sales = wait_healthy(start_service("sales", env=env, wait=False))
    alignment = wait_healthy(start_service("alignment", env=env, wait=False))
    ca = pki / "ca.pem"
    m_ch, s_ch, a_ch = (channel(s.grpc_port, ca=ca) for s in (marketing, sales, alignment))
    mkt, sal, aln = mk_grpc.MarketingServiceStub(m_ch), sl_grpc.SalesServiceStub(s_ch), al_grpc.AlignmentServiceStub(a_ch)

    # Health stays open (probes carry no token).
    assert health(m_ch) == health_pb2.HealthCheckResponse.SERVING

    # No token, a wrong token, a malformed header: UNAUTHENTICATED.
    code, msg = code_of(mkt.CaptureLead, lead_request(), timeout=T)
    assert code == grpc.StatusCode.UNAUTHENTICATED and "authorization: Bearer" in msg
    code, msg = code_of(mkt.CaptureLead, lead_request(), timeout=T, metadata=[("authorization", "Bearer nope-" + secrets.token_hex(8))])
    assert (code, msg) == (grpc.StatusCode.UNAUTHENTICATED, "unknown bearer token")
    code, _ = code_of(mkt.CaptureLead, lead_request(), timeout=T, metadata=[("authorization", TOKENS["marketing"])])
    assert code == grpc.StatusCode.UNAUTHENTICATED

    # The wrong team: PERMISSION_DENIED saying which permission is missing; the right one writes.
    code, msg = code_of(mkt.CaptureLead, lead_request(), timeout=T, metadata=bearer("sales"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "principal 'rep-bot'" in msg and "marketing:write" in msg
    assert mkt.CaptureLead(lead_request(), timeout=T, metadata=bearer("marketing")).lead.id.startswith("lead-")
    code, msg = code_of(sal.CreateAccount, account_request(), timeout=T, metadata=bearer("marketing"))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "sales:write" in msg
    assert sal.CreateAccount(account_request(), timeout=T, metadata=bearer("sales")).account.id
    # A team reads its own records; a reader reads both; a reader never writes.
    assert code_of(mkt.ListLeads, mk.ListLeadsRequest(page_size=1), timeout=T, metadata=bearer("marketing"))[0] == grpc.StatusCode.OK
    assert code_of(sal.ListAccounts, sl.ListAccountsRequest(page_size=1), timeout=T, metadata=bearer("reader"))[0] == grpc.StatusCode.OK
    assert code_of(sal.ListAccounts, sl.ListAccountsRequest(page_size=1), timeout=T, metadata=bearer("marketing"))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    assert code_of(sal.CreateAccount, account_request(), timeout=T, metadata=bearer("reader"))[0] == grpc.StatusCode.PERMISSION_DENIED

    # Findings: a reader token is needed (a team's writer token is not one); the playbook needs admin.
    req = al.ListFindingsRequest(page_size=5)
    assert code_of(aln.ListFindings, req, timeout=T)[0] == grpc.StatusCode.UNAUTHENTICATED
    code, msg = code_of(aln.ListFindings, req, timeout=T, metadata=bearer("marketing"))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "alignment:read" in msg
    assert code_of(aln.ListFindings, req, timeout=T, metadata=bearer("reader"))[0] == grpc.StatusCode.OK
    watch = al.WatchFindingsRequest()
    assert code_of(lambda: list(aln.WatchFindings(watch, timeout=T)))[0] == grpc.StatusCode.UNAUTHENTICATED
    # With a reader token the stream opens and runs until its deadline.
    assert code_of(lambda: list(aln.WatchFindings(watch, timeout=1, metadata=bearer("reader"))))[0] == \
        grpc.StatusCode.DEADLINE_EXCEEDED
    playbook = al.ValidatePlaybookRequest(yaml=(SOURCE_DIR / "services/alignment/playbook.example.yaml").read_text())
    code, msg = code_of(aln.ValidatePlaybook, playbook, timeout=T, metadata=bearer("reader"))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "playbook:admin" in msg
    assert code_of(aln.ValidatePlaybook, playbook, timeout=T, metadata=bearer("admin"))[0] == grpc.StatusCode.OK

    # Every RPC of every service refuses a call without credentials (the check is in all of them).
    for svc_ch, module, name in ((m_ch, mk, "MarketingService"), (s_ch, sl, "SalesService"), (a_ch, al, "AlignmentService")):
        for path, streaming in every_method(module, name):
            if streaming:
                code = code_of(lambda: list(svc_ch.unary_stream(path)(b"", timeout=T)))[0]
            else:
                code = code_of(svc_ch.unary_unary(path), b"", timeout=T)[0]
            assert code == grpc.StatusCode.UNAUTHENTICATED, path

    # A token added to the file works without a restart.
    assert code_of(aln.ListFindings, req, timeout=T, metadata=bearer("late"))[0] == grpc.StatusCode.UNAUTHENTICATED
    tokens_file.write_text(tokens_yaml(include_late=True))
    deadline = time.time() + 10
    while code_of(aln.ListFindings, req, timeout=T, metadata=bearer("late"))[0] != grpc.StatusCode.OK:
        assert time.time() < deadline, "the new token was not picked up"
        time.sleep(0.2)

    # The clients: concordctl and the Python example, TLS options and the token from CONCORD_TOKEN.
    ctl = [CTL, "--alignment", f"127.0.0.1:{alignment.grpc_port}", "--marketing", f"127.0.0.1:{marketing.grpc_port}",
           "--tls-ca", ca]
    p = run([*ctl, "findings", "list"], token="reader")
    assert p.returncode == 0, p.stderr
    p = run([*ctl, "findings", "list"], token="sales")
    assert p.returncode == 6 and p.stderr.startswith("concordctl: PERMISSION_DENIED: principal 'rep-bot'"), p.stderr
    p = run([*ctl, "findings", "list"])
    assert p.returncode == 6 and "UNAUTHENTICATED" in p.stderr, p.stderr
    p = run([*ctl, "--actor", "mkt-ctl", "marketing", "capture-lead", "--email", f"ctl@access-{secrets.token_hex(4)}.example.com"],
            token="marketing")
    assert p.returncode == 0, p.stderr
    p = run([CTL, "--alignment", f"127.0.0.1:{alignment.grpc_port}", "--timeout", "2s", "findings", "list"], token="reader")
    assert p.returncode == 5, p.stderr  # plaintext client, TLS server
    client = [*CLIENT, "--target", f"127.0.0.1:{alignment.grpc_port}", "--tls-ca", ca]
    p = run([*client, "list"], token="reader")
    assert p.returncode == 0, p.stderr
    p = run([*client, "list"], token="marketing")
    assert p.returncode == 6 and "PERMISSION_DENIED" in p.stderr, p.stderr
    p = run([*client, "--token", TOKENS["reader"], "list"])
    assert p.returncode == 0, p.stderr

    # Refusals: counted by reason, logged as JSON with method, peer and principal, never a token.
    _, metrics = marketing.admin("/metrics")
    assert 'concord_auth_refusals_total{service="marketing",reason="missing_credentials"}' in metrics
    assert 'concord_auth_refusals_total{service="marketing",reason="unknown_token"} 1' in metrics
    assert 'concord_auth_refusals_total{service="marketing",reason="malformed_token"} 1' in metrics
    assert 'concord_auth_refusals_total{service="marketing",reason="permission_denied"} 1' in metrics
    lines = refusal_lines(marketing)
    denied = [r for r in lines if r["reason"] == "permission_denied"]
    assert denied and denied[0]["principal"] == "rep-bot"
    assert denied[0]["method"] == "/concord.marketing.v1.MarketingService/CaptureLead"
    assert denied[0]["peer"].startswith("ipv4:127.0.0.1:") and denied[0]["code"] == "PERMISSION_DENIED"
    assert refusal_lines(sales) and refusal_lines(alignment)
    for svc in (marketing, sales, alignment):
        out = svc.output()
        for token in TOKENS.values():
            assert token not in out, f"{svc.name} logged a token"
        assert "nope-" not in out
        assert "access control is off" not in out

    # Transport: a plaintext client and a client trusting another CA cannot talk to the TLS port.
    assert code_of(health, channel(marketing.grpc_port))[0] == grpc.StatusCode.UNAVAILABLE
    assert code_of(health, channel(marketing.grpc_port, ca=pki / "rogue-ca.pem"))[0] == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls(pki, tokens_file, start_service):
    env = {**tls_env(pki, client_ca=True), "CONCORD_AUTH_TOKENS_FILE": str(tokens_file)}
    marketing = wait_healthy(start_service("marketing", env=env, wait=False))
    port, ca = marketing.grpc_port, pki / "ca.pem"

    def lead(ch, **kw):
        return code_of(mk_grpc.MarketingServiceStub(ch).CaptureLead, lead_request(), timeout=T, **kw)

    # No client certificate, an expired one, one from an untrusted CA: the handshake fails.
    assert lead(channel(port, ca=ca), metadata=bearer("marketing"))[0] == grpc.StatusCode.UNAVAILABLE
    expired = channel(port, ca=ca, cert=pki / "expired.pem", key=pki / "expired.key")
    assert lead(expired, metadata=bearer("marketing"))[0] == grpc.StatusCode.UNAVAILABLE
    rogue = channel(port, ca=ca, cert=pki / "rogue.pem", key=pki / "rogue.key")
    assert lead(rogue, metadata=bearer("marketing"))[0] == grpc.StatusCode.UNAVAILABLE

    # A valid certificate opens the connection; the token still decides what it may do.
    ok = channel(port, ca=ca, cert=pki / "client.pem", key=pki / "client.key")
    assert health(ok) == health_pb2.HealthCheckResponse.SERVING
    code, msg = lead(ok)
    assert code == grpc.StatusCode.UNAUTHENTICATED and "not mapped to a principal" in msg
    assert lead(ok, metadata=bearer("sales"))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert lead(ok, metadata=bearer("marketing"))[0] == grpc.StatusCode.OK
    # A certificate mapped to a principal in the tokens file needs no token.
    robot = channel(port, ca=ca, cert=pki / "robot.pem", key=pki / "robot.key")
    assert lead(robot)[0] == grpc.StatusCode.OK
    code, msg = code_of(mk_grpc.MarketingServiceStub(robot).ListLeads, mk.ListLeadsRequest(page_size=1), timeout=T)
    assert code == grpc.StatusCode.OK

    # concordctl with a client certificate.
    ctl = [CTL, "--marketing", f"127.0.0.1:{port}", "--tls-ca", ca, "--actor", "mkt-ctl", "marketing", "capture-lead",
           "--email", f"ctl@access-{secrets.token_hex(4)}.example.com"]
    p = run(ctl[:5] + ["--tls-cert", pki / "robot.pem", "--tls-key", pki / "robot.key"] + ctl[5:])
    assert p.returncode == 0, p.stderr
    p = run(ctl, token="marketing", timeout=30)  # no client certificate: no connection
    assert p.returncode == 5, p.stderr


def test_server_certificate_replaced_on_disk_without_a_restart(pki, tmp_path, start_service):
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(pki / "server.pem", certs / "server.pem")
    shutil.copy(pki / "server.key", certs / "server.key")
    marketing = wait_healthy(start_service("marketing", env=tls_env(pki, reload_seconds=1, cert_dir=certs), wait=False))
    port = marketing.grpc_port
    # No tokens file: access control off, said at start-up.
    assert "access control is off" in marketing.output()
    assert health(channel(port, ca=pki / "ca.pem")) == health_pb2.HealthCheckResponse.SERVING
    assert code_of(health, channel(port, ca=pki / "rogue-ca.pem"))[0] == grpc.StatusCode.UNAVAILABLE

    # A new certificate from another CA, each file replaced atomically (as a Secret update does).
    for name in ("server.key", "server.pem"):
        shutil.copy(pki / name.replace("server", "server2"), certs / f".{name}.tmp")
        os.replace(certs / f".{name}.tmp", certs / name)
    deadline = time.time() + 15
    while code_of(health, channel(port, ca=pki / "rogue-ca.pem"))[0] != grpc.StatusCode.OK:
        assert time.time() < deadline, f"the new certificate was not served:\n{marketing.output()}"
        time.sleep(0.3)
    assert code_of(health, channel(port, ca=pki / "ca.pem"))[0] == grpc.StatusCode.UNAVAILABLE
    assert marketing.proc.poll() is None  # the same process


def test_bad_tls_and_token_files_stop_the_start_with_the_flag_named(pki, tmp_path, start_service):
    def start_fails(env):
        svc = start_service("marketing", env=env, wait=False)
        assert svc.proc.wait(timeout=20) == 2
        return svc.output()

    out = start_fails({"CONCORD_GRPC_TLS_CERT": str(tmp_path / "missing.pem"), "CONCORD_GRPC_TLS_KEY": str(pki / "server.key")})
    assert f"--grpc-tls-cert (CONCORD_GRPC_TLS_CERT): '{tmp_path / 'missing.pem'}' is missing or not readable" in out
    out = start_fails({"CONCORD_GRPC_TLS_CERT": str(pki / "server.pem"), "CONCORD_GRPC_TLS_KEY": str(pki / "client.key")})
    assert "--grpc-tls-key (CONCORD_GRPC_TLS_KEY):" in out and "is not the key of the certificate" in out
    out = start_fails({"CONCORD_GRPC_TLS_CERT": str(pki / "server-expired.pem"),
                       "CONCORD_GRPC_TLS_KEY": str(pki / "server-expired.key")})
    assert "--grpc-tls-cert (CONCORD_GRPC_TLS_CERT): the certificate in" in out and "has expired" in out
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    out = start_fails({"CONCORD_GRPC_TLS_CERT": str(pki / "server.pem"), "CONCORD_GRPC_TLS_KEY": str(pki / "server.key"),
                       "CONCORD_GRPC_TLS_CLIENT_CA": str(tmp_path / "garbage.pem")})
    assert "--grpc-tls-client-ca (CONCORD_GRPC_TLS_CLIENT_CA):" in out and "holds no PEM certificate" in out
    out = start_fails({"CONCORD_GRPC_TLS_CLIENT_CA": str(pki / "ca.pem")})
    assert "--grpc-tls-client-ca (CONCORD_GRPC_TLS_CLIENT_CA): needs --grpc-tls-cert" in out
    bad = tmp_path / "tokens.yaml"
    bad.write_text("principals:\n  - name: a\n    team: sales\n    roles: [writer]\n    token: hunter2\n")
    out = start_fails({"CONCORD_AUTH_TOKENS_FILE": str(bad)})
    assert "--auth-tokens-file (CONCORD_AUTH_TOKENS_FILE):" in out
    assert "line 5: principal 'a': a plain 'token' is not accepted" in out
    assert "hunter2" not in out
