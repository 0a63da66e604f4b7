"""concord-sales against the local broker's SASL_SSL listener (scripts/infra), configured the way
a platform team would, through CONCORD_KAFKA_* variables:

- the right credentials: SERVING, and a write's event reaches Kafka over TLS + SCRAM-SHA-512;
- a wrong password, no credentials, an untrusted CA, an expired broker certificate: the service
  runs but stays NOT_SERVING, with one JSON error line naming the cause; the password never
  appears in its output;
- bad security settings stop it at start with exit code 2 and a line naming the flag.

The secure listener's CA, user and password are in <infra dir>/kafka/secure/ (scripts/infra)."""
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from conftest import BINARY_DIR, SOURCE_DIR, proto_modules

SECURE = Path(os.environ.get("CONCORD_INFRA_DIR") or SOURCE_DIR / ".infra") / "kafka" / "secure"
TOPIC = "concord.sales.events.v1"


def read_properties(name: str) -> dict:
    path = SECURE / name
    if not path.is_file():
        pytest.fail(f"{path} missing: the local broker's SASL_SSL listener is not set up. Run scripts/infra up "
                    "(a broker started by an older scripts/infra needs scripts/infra stop-kafka && "
                    "scripts/infra start-kafka)")
    props = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            props[k] = v
    return props


@pytest.fixture(scope="module")
def secure():
    return read_properties("client.properties")


def security_env(props: dict) -> dict:
    """The service's settings for the secure listener described by `props`."""
    return {
        "CONCORD_KAFKA_BROKERS": props["bootstrap.servers"],
        "CONCORD_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "CONCORD_KAFKA_SASL_MECHANISM": props["sasl.mechanisms"],
        "CONCORD_KAFKA_SASL_USERNAME": props["sasl.username"],
        "CONCORD_KAFKA_SASL_PASSWORD": props["sasl.password"],
        "CONCORD_KAFKA_SSL_CA": props["ssl.ca.location"],
        "CONCORD_STORE_PREFIX": f"concord:test:kafka-security:{uuid.uuid4().hex}",
    }


def json_lines(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_right_credentials_serve_and_publish_over_tls_and_scram(secure, start_service):
    pb = proto_modules(common="concord.events.v1.common_pb2", sales="concord.sales.v1.sales_pb2",
                       grpc="concord.sales.v1.sales_pb2_grpc")
    from confluent_kafka import Consumer, TopicPartition

    # A tail consumer over the same secure listener: positioned at the end before the write.
    consumer = Consumer({**secure, "group.id": f"py-secure-{uuid.uuid4()}", "enable.auto.commit": False})
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    consumer.assign([TopicPartition(TOPIC, p, consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1])
                     for p in partitions])

    svc = start_service("sales", env=security_env(secure))
    stub = pb.grpc.SalesServiceStub(svc.channel)
    acc = stub.CreateAccount(pb.sales.CreateAccountRequest(
        request_id=f"py-{uuid.uuid4()}", name="Secure Co", website=f"secure{uuid.uuid4().hex[:8]}.example.com",
        actor=pb.common.Actor(id="rep-py", display_name="Python Rep", kind=pb.common.ACTOR_KIND_PERSON)), timeout=10)

    found = False
    deadline = time.time() + 20
    while not found and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            found = dict(msg.headers() or []).get("ce_id", b"").decode() == acc.event_id
    consumer.close()
    assert found, f"event {acc.event_id} not on {TOPIC} within 20 s:\n{svc.output()[-3000:]}"

    assert svc.terminate() == 0
    out = svc.output()
    assert secure["sasl.password"] not in out
    starting = next(line for line in json_lines(out) if line["msg"] == "starting")
    assert starting["config"]["kafka_security"] == {
        "protocol": "sasl_ssl", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": secure["sasl.username"],
        "sasl_password": "<redacted>", "ssl_ca": secure["ssl.ca.location"], "ssl_cert": "", "ssl_key": "",
        "ssl_key_password": ""}


def wrong_password(env, secure):
    env["CONCORD_KAFKA_SASL_PASSWORD"] = f"wrong-{uuid.uuid4().hex}"


def no_credentials(env, secure):
    # TLS with the right CA, but no SASL login.
    env["CONCORD_KAFKA_SECURITY_PROTOCOL"] = "ssl"
    for k in ("CONCORD_KAFKA_SASL_MECHANISM", "CONCORD_KAFKA_SASL_USERNAME", "CONCORD_KAFKA_SASL_PASSWORD"):
        del env[k]


def untrusted_ca(env, secure):
    env["CONCORD_KAFKA_SSL_CA"] = str(SECURE / "untrusted-ca.pem")


def expired_certificate(env, secure):
    env["CONCORD_KAFKA_BROKERS"] = read_properties("expired.properties")["bootstrap.servers"]


@pytest.mark.parametrize("break_it,message,cause", [
    (wrong_password, "kafka authentication failed", "invalid credentials with SASL mechanism SCRAM-SHA-512"),
    (no_credentials, "kafka security protocol mismatch", "broker might require SASL authentication"),
    (untrusted_ca, "kafka TLS handshake failed", "self-signed certificate in certificate chain"),
    (expired_certificate, "kafka TLS handshake failed", "certificate has expired"),
], ids=["wrong-password", "no-credentials", "untrusted-ca", "expired-certificate"])
def test_refused_connection_is_named_and_not_serving(secure, start_service, break_it, message, cause):
    env = security_env(secure)
    break_it(env, secure)
    svc = start_service("sales", env=env, wait=False)
    line = None
    deadline = time.time() + 20
    while line is None and time.time() < deadline:
        assert svc.proc.poll() is None, f"exited with {svc.proc.returncode}:\n{svc.output()}"
        line = next((l for l in json_lines(svc.output()) if l["msg"] == message), None)
        time.sleep(0.2)
    assert line is not None, f"no '{message}' line within 20 s:\n{svc.output()[-4000:]}"
    assert line["level"] == "error"
    assert cause in line["cause"], line
    assert line["hint"], line
    assert line["broker"].endswith(env["CONCORD_KAFKA_BROKERS"] + "/bootstrap"), line

    assert svc.health() == health_pb2.HealthCheckResponse.NOT_SERVING
    status, _ = svc.admin("/healthz")
    assert status == 503
    assert svc.terminate() == 0
    out = svc.output()
    for secret in {env.get("CONCORD_KAFKA_SASL_PASSWORD"), secure["sasl.password"]} - {None}:
        assert secret not in out, "a password was logged"


def run_binary(*args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_KAFKA_")}
    full_env.update(env or {})
    return subprocess.run([BINARY_DIR / "bin" / "concord-sales", *args], capture_output=True, text=True, timeout=20,
                          env=full_env)


@pytest.mark.parametrize("args,env,problem", [
    (["--kafka-security-protocol", "sasl_ssl", "--kafka-sasl-mechanism", "SCRAM-SHA-512",
      "--kafka-ssl-ca", "/nonexistent/ca.pem"], {"CONCORD_KAFKA_SASL_PASSWORD": "pw-not-shown"},
     "--kafka-sasl-username (CONCORD_KAFKA_SASL_USERNAME): required with --kafka-security-protocol sasl_ssl"),
    (["--kafka-security-protocol", "sasl_ssl", "--kafka-sasl-mechanism", "SCRAM-SHA-512",
      "--kafka-sasl-username", "concord", "--kafka-ssl-ca", "/nonexistent/ca.pem"],
     {"CONCORD_KAFKA_SASL_PASSWORD": "pw-not-shown"},
     "--kafka-ssl-ca (CONCORD_KAFKA_SSL_CA): /nonexistent/ca.pem: no such file"),
    (["--kafka-security-protocol", "tls"], {}, "--kafka-security-protocol (CONCORD_KAFKA_SECURITY_PROTOCOL): 'tls' "
     "is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
    ([], {"CONCORD_KAFKA_PROPERTY": "linger.ms=5,sasl.password=pw-not-shown"},
     "--kafka-property (CONCORD_KAFKA_PROPERTY): sasl.password has its own setting: use --kafka-sasl-password "
     "(CONCORD_KAFKA_SASL_PASSWORD), a secret that is never printed"),
], ids=["mechanism-without-username", "missing-ca-file", "unknown-protocol", "password-as-raw-property"])
def test_bad_security_settings_exit_2_naming_the_flag(args, env, problem):
    out = run_binary(*args, env=env)
    assert out.returncode == 2, out.stderr
    assert problem in out.stderr, out.stderr
    assert "pw-not-shown" not in out.stderr + out.stdout


def test_key_that_does_not_match_its_certificate_is_named_at_start(secure):
    # Passes the file checks (both PEM), so librdkafka refuses it: the line still names the flag.
    out = run_binary("--kafka-security-protocol", "ssl", "--kafka-ssl-ca", secure["ssl.ca.location"],
                     "--kafka-ssl-cert", str(SECURE / "ca.pem"), "--kafka-ssl-key", str(SECURE / "ca" / "untrusted-ca.key"),
                     env={"CONCORD_KAFKA_BROKERS": secure["bootstrap.servers"], "CONCORD_GRPC_LISTEN": "127.0.0.1:0",
                          "CONCORD_ADMIN_LISTEN": "127.0.0.1:0"})
    assert out.returncode == 2, out.stderr + out.stdout
    assert "--kafka-ssl-key (CONCORD_KAFKA_SSL_KEY): kafka producer: ssl.key.location failed" in out.stderr, out.stderr
    assert "key values mismatch" in out.stderr, out.stderr
