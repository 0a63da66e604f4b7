#!/usr/bin/env python3
"""The benchmark harness behind scripts/bench (issue 7). See bench/README.md.

Kafka: the concord-alignment binary reads the fixed topic names concord.{marketing,sales}.events.v1,
so the harness starts a *dedicated* broker (scripts/infra start-kafka with its own ports and
state under build/bench/infra) where it creates those topics with --partitions partitions; the
shared broker on 9092 and its topics are never touched. Redis: the shared local Redis, every
key under a run-unique prefix (concord:bench:<run>), deleted at the end.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("CONCORD_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "bench"
OUT = BUILD / "bench"
REDIS_PORT = 0  # the dedicated Redis's (BenchRedis), set in main
MKT, SALES = "concord.marketing.events.v1", "concord.sales.events.v1"

sys.path.insert(0, str(ROOT / "tests" / "python"))
from ports import free_port, free_ports  # noqa: E402 - shared with the tests


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# CONCORD_BENCH_PERF_CALL_GRAPH=dwarf: whole call stacks in the profiles (the builds keep no frame
# pointers, so -g's stacks stop at the first frame; dwarf records are ~20x larger).
PERF_CALL_GRAPH = ["--call-graph", os.environ["CONCORD_BENCH_PERF_CALL_GRAPH"]] \
    if os.environ.get("CONCORD_BENCH_PERF_CALL_GRAPH") else ["-g"]


def start_perf(pid, path):
    """perf record attached to `pid` (profiling only), stopped by stop_process."""
    return subprocess.Popen(["perf", "record", *PERF_CALL_GRAPH, "-F", "499", "-o", str(path), "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- Redis (a minimal RESP client: no dependency) ----------------------------------------
class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.s.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def delete_prefix(self, prefix):
        cursor, n = "0", 0
        while True:
            cursor, keys = self.cmd("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            cursor = cursor.decode()
            if keys:
                n += self.cmd("DEL", *keys)
            if cursor == "0":
                return n


# --- the dedicated broker --------------------------------------------------------------
class BenchKafka:
    def __init__(self, port, partitions):
        self.port, self.partitions = port, partitions
        self.brokers = f"127.0.0.1:{port}"
        # All four broker ports its own (the secure listeners too), beside the shared broker.
        self.env = dict(os.environ, CONCORD_KAFKA_PORT=str(port), CONCORD_KAFKA_CONTROLLER_PORT=str(port + 1),
                        CONCORD_KAFKA_SASL_PORT=str(port + 2), CONCORD_KAFKA_EXPIRED_TLS_PORT=str(port + 3),
                        CONCORD_INFRA_DIR=str(OUT / "infra"), CONCORD_TOPIC_PARTITIONS=str(partitions))

    def start(self):
        shutil.rmtree(OUT / "infra", ignore_errors=True)
        subprocess.run([str(ROOT / "scripts/infra"), "start-kafka"], env=self.env, check=True,
                       stdout=sys.stderr, stderr=sys.stderr)
        from confluent_kafka.admin import AdminClient
        self.admin = AdminClient({"bootstrap.servers": self.brokers})

    def stop(self):
        subprocess.run([str(ROOT / "scripts/infra"), "stop-kafka"], env=self.env, stdout=sys.stderr, stderr=sys.stderr)
        shutil.rmtree(OUT / "infra", ignore_errors=True)

    def gc_cycles(self, t0, t1):
        """The broker's garbage collections that ended between two time.time() readings (its JVM
        logs them, scripts/infra): ZGC's cycles, or another collector's pauses."""
        n = 0
        for log in sorted((OUT / "infra" / "kafka").glob("gc.log*")):
            for line in log.read_text(errors="replace").splitlines():
                m = re.match(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)([+-]\d{4})\]", line)
                if not m or not ("Garbage Collection (" in line or " Pause " in line):
                    continue
                at = datetime.datetime.strptime(m.group(1) + m.group(2), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
                n += t0 <= at <= t1
        return n

    def create(self, *names, partitions=None):
        from confluent_kafka.admin import NewTopic
        fs = self.admin.create_topics([NewTopic(n, num_partitions=partitions or self.partitions, replication_factor=1)
                                       for n in names])
        for f in fs.values():
            f.result(30)
        # wait for leaders
        deadline = time.time() + 30
        while time.time() < deadline:
            md = self.admin.list_topics(timeout=5)
            if all(n in md.topics and all(p.leader >= 0 for p in md.topics[n].partitions.values()) and
                   md.topics[n].partitions for n in names):
                return
            time.sleep(0.2)

    def ends(self, topic):
        """{partition: high watermark}"""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.brokers, "group.id": "concord-bench-probe"})
        try:
            md = c.list_topics(topic, timeout=10)
            out = {}
            for p in md.topics[topic].partitions:
                for attempt in range(50):  # a new partition's leader needs a moment
                    try:
                        out[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        break
                    except Exception:  # noqa: BLE001
                        if attempt == 49:
                            raise
                        time.sleep(0.2)
            return out
        finally:
            c.close()

    def total(self, topic):
        return sum(self.ends(topic).values())

    def duplicates(self, topic, header="ce_id", timeout=120):
        """Reads `topic` to its end: (records whose `header` was seen before, up to 5 examples,
        records per ce_type)."""
        from confluent_kafka import Consumer, TopicPartition
        ends = self.ends(topic)
        c = Consumer({"bootstrap.servers": self.brokers, "group.id": "concord-bench-probe",
                      "enable.auto.commit": False})
        seen, dups, examples, types = {}, 0, [], {}
        try:
            c.assign([TopicPartition(topic, p, 0) for p in ends])
            left, deadline = sum(ends.values()), time.time() + timeout
            while left > 0 and time.time() < deadline:
                for m in c.consume(10000, timeout=1):
                    if m.error():
                        continue
                    left -= 1
                    headers = dict(m.headers() or [])
                    key = headers.get(header)
                    kind = (headers.get("ce_type") or b"").decode(errors="replace")
                    types[kind] = types.get(kind, 0) + 1
                    where = (m.partition(), m.offset(), m.timestamp()[1])
                    if key in seen:
                        dups += 1
                        if len(examples) < 5:
                            examples.append({"id": key.decode(errors="replace"), "first": seen[key], "again": where})
                    else:
                        seen[key] = where
        finally:
            c.close()
        return dups, examples, types

    def commit_at_end(self, group, topics):
        """Starts `group` at the current end of `topics` (it then reads only what comes next)."""
        from confluent_kafka import Consumer, TopicPartition
        offs = [TopicPartition(t, p, o) for t in topics for p, o in self.ends(t).items()]
        c = Consumer({"bootstrap.servers": self.brokers, "group.id": group, "enable.auto.commit": False})
        try:
            c.commit(offsets=offs, asynchronous=False)
        finally:
            c.close()


# --- the dedicated Redis -----------------------------------------------------------
class BenchRedis:
    """A Redis of its own (same configuration as the local one: AOF, fsync every second), so the
    figures do not depend on what else is stored: a developer's Redis holding 0.5 GB of old test
    keys forked for AOF rewrites during a run and stalled it for up to 1.2 s."""

    def __init__(self, port):
        self.port = port
        self.env = dict(os.environ, CONCORD_REDIS_PORT=str(port), CONCORD_INFRA_DIR=str(OUT / "infra"))

    def start(self):
        subprocess.run([str(ROOT / "scripts/infra"), "start-redis"], env=self.env, check=True,
                       stdout=sys.stderr, stderr=sys.stderr)

    def stop(self):
        subprocess.run([str(ROOT / "scripts/infra"), "stop-redis"], env=self.env, stdout=sys.stderr, stderr=sys.stderr)


def stop_process(proc, perf, log_file, sig, timeout):
    """Stops a service under test (killed if it outlives `timeout`), then its perf recorder."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
    log_file.close()


# --- the service under test ------------------------------------------------------------
class Alignment:
    @staticmethod
    def group_for(tag):
        return f"concord-bench-{tag}"

    def __init__(self, kafka, tag, prefix, grace_ms, log_dir, findings, dlq):
        self.grpc, self.admin = free_ports(2)
        self.tag, self.prefix, self.findings = tag, prefix, findings
        env = dict(os.environ)
        env.update({
            "CONCORD_KAFKA_BROKERS": kafka.brokers,
            "CONCORD_REDIS_PORT": str(REDIS_PORT),
            "CONCORD_GRPC_LISTEN": f"127.0.0.1:{self.grpc}",
            "CONCORD_ADMIN_LISTEN": f"127.0.0.1:{self.admin}",
            "CONCORD_INSTANCE_ID": f"bench-{tag}",
            "CONCORD_PLAYBOOK": str(ROOT / "services/alignment/playbook.example.yaml"),
            "CONCORD_GROUP_ID": Alignment.group_for(tag),
            "CONCORD_REDIS_PREFIX": prefix,
            "CONCORD_FINDINGS_TOPIC": findings,
            "CONCORD_DLQ_TOPIC": dlq,
            "CONCORD_LOG_LEVEL": "info",
        })
        self.group = env["CONCORD_GROUP_ID"]
        self.log_path = log_dir / f"alignment-{tag}.log"
        self.log = open(self.log_path, "ab")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen([str(ALIGNMENT_BIN), "--reorder-grace-ms", str(grace_ms)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        # CONCORD_BENCH_PERF=<tag suffix>: perf record -g attached to that instance (profiling only),
        # once it is ready: `perf record -p` samples only the threads that exist when it attaches.
        self.perf = None
        want = os.environ.get("CONCORD_BENCH_PERF")
        self.want_perf = bool(want and tag.endswith(want) and not (OUT / f"perf-{tag}.data").exists())

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return -1, ""

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alignment exited {self.proc.returncode}; log {self.log_path}")
            if self.get("/healthz")[0] == 200:
                if self.want_perf and self.perf is None:
                    self.perf = start_perf(self.proc.pid, OUT / f"perf-{self.tag}.data")
                return time.monotonic() - self.t_start
            time.sleep(0.05)
        raise RuntimeError(f"alignment not ready after {timeout}s; log {self.log_path}")

    def wait_assigned(self, timeout=60):
        """Until the processor has its partitions (restored from Redis): seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.log.flush()
            if "alignment partitions restored" in self.log_path.read_text(errors="replace"):
                return time.monotonic() - self.t_start
            if self.proc.poll() is not None:
                raise RuntimeError(f"alignment exited {self.proc.returncode}; log {self.log_path}")
            time.sleep(0.02)
        raise RuntimeError(f"alignment got no partitions in {timeout}s; log {self.log_path}")

    def scrape(self):
        """The /metrics text, or None if unreachable: read once for figures that belong together."""
        status, body = self.get("/metrics")
        return body if status == 200 else None

    def metric(self, name, body=None):
        """Sum of a metric's samples (all label sets), from `body` or a new scrape; None if unreachable."""
        body = body if body is not None else self.scrape()
        if body is None:
            return None
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " "))

    @staticmethod
    def by_label(name, label, body):
        """{label value: sample} of a counter with one label, from a /metrics body."""
        return {line.split(f'{label}="', 1)[1].split('"', 1)[0]: int(float(line.rsplit(" ", 1)[1]))
                for line in (body or "").splitlines() if line.startswith(name + "{")}

    def histogram(self, name, body=None):
        """{upper bound: cumulative count} of an unlabelled histogram, or {} if unreachable."""
        body = body if body is not None else self.scrape()
        out = {}
        for line in (body or "").splitlines():
            if line.startswith(name + '_bucket{le="'):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
        return out

    def rss(self, field="VmRSS"):
        """Resident bytes now, or with field="VmHWM" the most the process has had resident."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def checkpointed(self, redis):
        """{(topic, partition): next offset} from the processor's Redis checkpoint."""
        r = redis.cmd("HGETALL", f"{self.prefix}:offsets:{self.group}") or []
        out = {}
        for k, v in zip(r[0::2], r[1::2]):
            t, p = k.decode().rsplit(":", 1)
            out[(t, int(p))] = int(v)
        return out

    def stop(self, sig=signal.SIGTERM, timeout=60):
        stop_process(self.proc, self.perf, self.log, sig, timeout)


def wait_caught_up(al, redis, ends, timeout):
    """Seconds (monotonic) when every input partition is checkpointed at its end, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = al.checkpointed(redis)
        if all(done.get(tp, 0) >= end for tp, end in ends.items()):
            return time.monotonic()
        if al.proc.poll() is not None:
            raise RuntimeError(f"alignment exited {al.proc.returncode}; log {al.log_path}")
        time.sleep(0.02)
    return None


def commit_group(kafka, group, offsets):
    """Commits {(topic, partition): offset} for `group` (where it starts reading)."""
    from confluent_kafka import Consumer, TopicPartition
    if not offsets:
        return
    c = Consumer({"bootstrap.servers": kafka.brokers, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def input_ends(kafka):
    return {(t, p): o for t in (MKT, SALES) for p, o in kafka.ends(t).items()}


def tool(*args, timeout=900):
    cmd = [str(BIN / "concord-kafka-bench"), *map(str, args)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, timeout=timeout,
                       env=dict(os.environ, CONCORD_SOURCE_DIR=str(ROOT)))
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}")
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


# --- results ---------------------------------------------------------------------------
RESULTS = []


def result(name, value, unit, baseline=None, baseline_name="", target="", passed=None, note=""):
    ratio = (value / baseline) if (baseline not in (None, 0) and value is not None) else None
    RESULTS.append({"name": name, "value": value, "unit": unit, "baseline": baseline, "baseline_name": baseline_name,
                    "ratio": ratio, "target": target, "pass": passed, "note": note})
    v = "n/a" if value is None else f"{value:,.2f}"
    log(f"result: {name} = {v} {unit}" + (f" (ratio {ratio:.3f})" if ratio is not None else ""))


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def table():
    rows = [("benchmark", "value", "unit", "baseline (same run)", "ratio", "target", "pass")]
    for r in RESULTS:
        base = "-" if r["baseline"] is None else f"{fmt(r['baseline'])} ({r['baseline_name']})"
        passed = {True: "PASS", False: "FAIL", None: "-"}[r["pass"]]
        rows.append((r["name"], fmt(r["value"]), r["unit"], base, fmt(r["ratio"], 3), r["target"] or "-", passed))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": os.uname().release}


# --- the benchmarks --------------------------------------------------------------------
def bench_engine(a):
    out = OUT / "engine_bench.json"
    # Each benchmark runs --engine-repetitions times and its median counts: on a shared virtual
    # machine one run of a few seconds moves by ~5% with the neighbours' load.
    cmd = [str(BIN / "engine_bench"), f"--benchmark_min_time={a.engine_min_time}", "--benchmark_format=json",
           f"--benchmark_repetitions={a.engine_repetitions}", f"--benchmark_out={out}", "--benchmark_out_format=json"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=sys.stderr, env=dict(os.environ, CONCORD_SOURCE_DIR=str(ROOT)))
    runs = json.loads(out.read_text())["benchmarks"]
    b, reps = {}, {}
    for x in runs:
        name = x.get("run_name", x["name"]).split("/")[0]
        if x.get("run_type", "iteration") == "iteration":
            reps.setdefault(name, []).append(x)
            b.setdefault(name, x)  # one repetition: no aggregates
        elif x.get("aggregate_name") == "median":
            b[name] = x

    def spread(name):
        v = sorted(r["items_per_second"] for r in reps.get(name, []))
        return f"median of {len(v)} runs ({v[0]:,.0f}-{v[-1]:,.0f})" if len(v) > 1 else "1 run"

    decoded = b["BM_EngineDecodedEvents"]["items_per_second"]
    proc = b["BM_EngineProcess"]["items_per_second"]
    parse = b["BM_EventParseBaseline"]["items_per_second"]
    # Engine events/s per core: items/s is per second of the engine calls on one thread (one
    # core), each event parsed just before, as the service's processor does.
    result("engine: events/s (1 thread), each event just decoded", decoded, "events/s", parse,
           "protobuf parse of the same events", ">= 1,000,000", decoded >= 1e6,
           note=f"{spread('BM_EngineDecodedEvents')}; "
                f"{b['BM_EngineDecodedEvents'].get('findings_per_run', 0):,.0f} findings per run")
    # Rounds 1-9's figure: pre-built events walked in memory (their first loads miss the caches).
    result("engine: Process over pre-built events, events/s (1 thread)", proc, "events/s", parse,
           "protobuf parse of the same events", ">= 1,000,000", proc >= 1e6, note=spread("BM_EngineProcess"))
    mem = b["BM_EngineMemory"]
    result("engine: state per customer (ApproxMemoryBytes)", mem["approx_bytes_per_customer"], "B/customer",
           target="<= 1024", passed=mem["approx_bytes_per_customer"] <= 1024,
           note=f"{int(mem['customers'])} customers")
    result("engine: RSS growth per customer", mem["rss_bytes_per_customer"], "B/customer", target="<= 1024",
           passed=mem["rss_bytes_per_customer"] <= 1024, note=f"{int(mem['customers'])} customers")
    # Live allocator bytes (jemalloc stats.allocated, else glibc mallinfo2): RSS growth alone
    # under-counts when the engine fills memory that was already resident but free.
    if "allocated_bytes_per_customer" in mem:
        result("engine: allocated bytes per customer", mem["allocated_bytes_per_customer"], "B/customer",
               target="<= 1024", passed=mem["allocated_bytes_per_customer"] <= 1024,
               note=f"{int(mem['customers'])} customers")
    cold = b.get("BM_EngineMemoryCold")
    if cold and "allocated_bytes_per_customer" in cold:
        result("engine: allocated bytes per customer, 2,000 decoded (the rest cold)",
               cold["allocated_bytes_per_customer"], "B/customer", target="<= 1024",
               passed=cold["allocated_bytes_per_customer"] <= 1024,
               note=f"{int(cold['customers'])} customers, {int(cold['cold_customers'])} kept as checkpoint bytes")


def shares(hist, bounds=(0.005, 0.025, 0.1)):
    """'a% <= 5 ms, b% <= 25 ms, ...' from cumulative buckets."""
    total = hist.get(float("inf"), 0)
    if not total:
        return "n/a"
    return ", ".join(f"{100 * hist.get(b, 0) / total:.0f}% <= {b * 1000:g} ms" for b in bounds)


def bench_latency(a, kafka, redis, run, logs):
    res, splits = {}, {}
    # Plain round trip first (same producer settings, same consumer settings, same rate).
    # The same records, producer and layout as the latency runs: each team's events to its own
    # topic (partitions as the input topics), one consumer reading both. (One topic measured the
    # same on this machine, 1.1-2.0 ms p50; two is the service's layout, so it is the baseline.)
    rt_topic = f"concord.bench.{run}.roundtrip.mkt,concord.bench.{run}.roundtrip.sales"
    kafka.create(*rt_topic.split(","))
    # Warm-up, not measured: a freshly started broker's JVM compiles its hot paths during the
    # first tens of seconds, which would otherwise land on whichever run comes first.
    tool("roundtrip", "--brokers", kafka.brokers, "--topic", rt_topic, "--rate", a.rate, "--seconds",
         min(10, a.latency_seconds), "--group", f"concord-bench-{run}-warmup")
    t0 = time.time()
    rt = tool("roundtrip", "--brokers", kafka.brokers, "--topic", rt_topic, "--rate", a.rate, "--seconds",
              a.latency_seconds, "--group", f"concord-bench-{run}-rt")
    rt["broker_gcs"] = kafka.gc_cycles(t0, time.time())
    for grace in a.graces:
        tag = f"{run}-lat{grace}"
        findings = f"concord.bench.{run}.findings.lat{grace}"
        kafka.create(findings, f"concord.bench.{run}.dlq.lat{grace}")
        kafka.commit_at_end(Alignment.group_for(tag), [MKT, SALES])  # only this run's events
        al = Alignment(kafka, tag, f"concord:bench:{run}:lat{grace}", grace, logs, findings, f"concord.bench.{run}.dlq.lat{grace}")
        try:
            al.wait_ready()
            al.wait_assigned()
            time.sleep(0.5)
            rewrite_aof_now(redis, a.timeout)  # as in the other stages: a fork in the window is counted
            forks0 = redis_stats(redis)
            t0 = time.time()
            lt = tool("latency", "--brokers", kafka.brokers, "--marketing", MKT, "--sales", SALES, "--findings", findings,
                      "--rate", a.rate, "--seconds", a.latency_seconds, "--group", f"concord-bench-{tag}-tail",
                      "--first-customer", 10_000_000 + grace * 100_000)
            lt["redis_forks"] = forks_between(forks0, redis_stats(redis))
            lt["broker_gcs"] = kafka.gc_cycles(t0, time.time())
            res[grace] = lt
            # Where the time went, from the service's own histograms: the event's age when the
            # engine ran it (input side), and last evidence -> publication (whole path).
            body = al.scrape()
            splits[grace] = {label: al.histogram(metric, body) for label, metric in (
                ("read -> engine", "concord_alignment_event_held_seconds"),
                ("engine ran the event", "concord_alignment_event_age_seconds"),
                ("finding published", "concord_alignment_detection_latency_seconds"))}
        finally:
            al.stop()
    for grace, lt in res.items():
        label = f"latency: produce->finding, grace {grace} ms"
        for q, key, rt_key in (("p50", "p50_ms", "p50_ms"), ("p99", "p99_ms", "p99_ms"), ("p99.9", "p999_ms", "p999_ms")):
            passed = None
            target = ""
            if q == "p99" and grace == 0:
                target = "<= 2x round trip and < 20 ms"
                passed = lt[key] <= 2 * rt[rt_key] and lt[key] < 20
            elif q == "p99":
                target = "(default grace: +100 ms by design)"
            note = f"{lt['findings']} findings at {lt['rate']:.0f} ev/s"
            if q == "p99":
                # Split at the finding's detected_at (the service's publish call), read by the tool.
                note += (f"; evidence -> published p50 / p99 {lt['to_publish_p50_ms']:.1f} / {lt['to_publish_p99_ms']:.1f} ms"
                         f", published -> read {lt['after_publish_p50_ms']:.1f} / {lt['after_publish_p99_ms']:.1f} ms")
                note += "; " + "; ".join(f"{k}: {shares(h)}" for k, h in splits[grace].items())
                note += f"; Redis forks (AOF rewrites) meanwhile: {lt['redis_forks']}"
                # The machine's stalls, beside the round trip's: how late the load tool's pacing
                # thread woke (it waits for a core like every other thread), and the broker's
                # garbage collections (a ZGC cycle keeps one of the cores busy for ~50-100 ms).
                note += (f"; machine stalls (the load tool's pacing thread woke late) p99 / max "
                         f"{lt['pacer_late_p99_ms']:.1f} / {lt['pacer_late_max_ms']:.1f} ms, {lt['pacer_late_over_5ms']} "
                         f"times by >= 5 ms, broker GC cycles {lt['broker_gcs']} (round trip run: "
                         f"{rt['pacer_late_p99_ms']:.1f} / {rt['pacer_late_max_ms']:.1f} ms, {rt['pacer_late_over_5ms']} "
                         f"times, {rt['broker_gcs']} GC cycles)")
            result(f"{label} {q}", lt[key], "ms", rt[rt_key], f"produce->consume {q}", target, passed, note=note)
    return rt


def bench_throughput(a, kafka, redis, run, logs):
    customers = a.customers or max(1, a.events // 10)
    # Relay and alignment read the same records: fill once, then each from the start.
    fill = tool("fill", "--brokers", kafka.brokers, "--marketing", MKT, "--sales", SALES, "--events", a.events,
                "--customers", customers, "--first-customer", 0)
    log(f"fill: {fill}")
    ends = input_ends(kafka)
    n_in = sum(ends.values())

    relay_out = f"concord.bench.{run}.relay"
    kafka.create(relay_out)
    relay_group = f"concord-bench-{run}-relay"
    commit_group(kafka, relay_group, PRE_FILL_ENDS)  # the fill only, not the latency runs' records
    relay = tool("relay", "--brokers", kafka.brokers, "--in", f"{MKT},{SALES}", "--out", relay_out, "--expect",
                 fill["produced"], "--group", relay_group)
    log(f"relay: {relay}")
    consume_group = f"concord-bench-{run}-consume"
    commit_group(kafka, consume_group, PRE_FILL_ENDS)
    consume = tool("consume", "--brokers", kafka.brokers, "--in", f"{MKT},{SALES}", "--expect", fill["produced"],
                   "--group", consume_group)
    log(f"consume: {consume}")

    tag = f"{run}-tput"
    findings = f"concord.bench.{run}.findings.tput"
    dlq = f"concord.bench.{run}.dlq.tput"
    kafka.create(findings, dlq)
    prefix = f"concord:bench:{run}:tput"
    # start this group where the fill began (the latency runs' records are before it); committed
    # before the instance starts: once it has joined, an outside commit fails (UNKNOWN_MEMBER_ID)
    starts = dict(PRE_FILL_ENDS)
    commit_group(kafka, Alignment.group_for(tag), starts)
    # The run lasts a few seconds, and the latency runs before it grew Redis' AOF: an automatic
    # rewrite (a fork, then a child on one of the two cores for ~1 s) falling into it by chance
    # is Redis' cost, not the service's. Rewrite now, and count the forks that still happen.
    aof_s = rewrite_aof_now(redis, a.timeout)
    forks0 = redis_stats(redis)
    calls0 = redis_calls(redis)
    redis_mem0 = int(redis_stats(redis, "memory").get("used_memory", 0))
    al = Alignment(kafka, tag, prefix, a.throughput_grace, logs, findings, dlq)
    n = sum(ends[tp] - starts.get(tp, 0) for tp in ends)
    t_first = None
    try:
        al.wait_ready()
        # Idle: read once the service answers health (the process has started, restored and
        # joined); read before that, just after the spawn, it is nearly nothing.
        rss0 = al.rss()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            v = al.metric("concord_alignment_events_consumed_total")
            if v:
                t_first = time.monotonic()
                break
            rss0 = al.rss()
            time.sleep(0.01)
        t_last = wait_caught_up(al, redis, ends, timeout=a.timeout)
        if t_first is None or t_last is None:
            raise RuntimeError("alignment did not consume the fill in time")
        forks = forks_between(forks0, redis_stats(redis))
        calls = redis_calls_between(calls0, redis_calls(redis), n)
        secs = t_last - t_first
        rate = n / secs
        # CPU the service spent per 100k events (start-up and restore included: small): steadier
        # than events/s on a shared machine, where the wall clock depends on everyone else's load.
        cpu = al.metric("process_cpu_seconds_total")
        time.sleep(0.5)
        published = al.metric("concord_alignment_findings_total") or 0
        on_topic = kafka.total(findings)
        rss_peak = al.rss()
        # What the service keeps, not the replay's transient peak (queued records, held events,
        # epochs in flight): jemalloc's background thread returns freed pages gradually over its
        # decay time (10 s), so wait twice that, then until RSS stops falling. (Stopping at the
        # first 4 s without a 1% drop ended runs anywhere from 12 to 23 s after the replay, and
        # ~5 MiB of pages were still decaying at one such point.)
        rss1, settle_start, last_drop = rss_peak, time.monotonic(), time.monotonic()
        while time.monotonic() - settle_start < 30 and (time.monotonic() - settle_start < 20
                                                        or time.monotonic() - last_drop < 4):
            time.sleep(0.5)
            now_rss = al.rss()
            if now_rss < rss1 * 0.99:
                last_drop = time.monotonic()
            rss1 = min(rss1, now_rss)
        settled_s = time.monotonic() - settle_start
        n_customers = al.metric("concord_alignment_state_customers") or customers
        log(f"alignment: {n} records in {secs:.2f}s, findings metric {published:.0f}, on topic {on_topic}, "
            f"service CPU {cpu or 0:.2f} s, Redis forks meanwhile {forks}")
        body = al.scrape()
        by_type = {t.replace("FINDING_TYPE_", ""): v
                   for t, v in al.by_label("concord_alignment_findings_total", "type", body).items()}
        out_of_merge = al.by_label("concord_alignment_events_out_of_merge_total", "reason", body)
        log(f"alignment: findings by type: {by_type}; events run outside the cross-team merge: {out_of_merge}; "
            f"reading waited for the writer {al.metric('concord_alignment_inflight_wait_seconds_total', body) or 0:.2f} s")
        if on_topic > published:  # consumers dedupe by ce_id, but the service should not repeat itself
            dups, examples, types = kafka.duplicates(findings)
            log(f"alignment: the topic is ahead of the metric (counted at each checkpoint); records by ce_type: "
                f"{types}; {dups} of them there twice (ce_id; partition, offset, timestamp): {examples}; "
                f"the metric now {al.metric('concord_alignment_findings_total')}")
        result("relay baseline: consume->produce, events/s", relay["events_per_s"], "events/s",
               note=f"{relay['delivered']} records, {kafka.partitions} partitions x 2 topics")
        result("read-only baseline: consume, events/s", consume["events_per_s"], "events/s",
               note=f"{consume['consumed']} records, the alignment service's read-ahead (16 MiB), nothing produced: "
                    f"what any reader of these topics does here")
        result("alignment: throughput, events/s", rate, "events/s", relay["events_per_s"], "relay baseline",
               ">= 50% of relay and >= 150k/s", rate >= 0.5 * relay["events_per_s"] and rate >= 150_000,
               note=f"{n} records, {customers} customers, {int(on_topic)} findings published; service CPU "
                    f"{cpu * 1e5 / n if cpu else float('nan'):.2f} s per 100k events; Redis forks (AOF rewrites) "
                    f"meanwhile: {forks} (AOF rewritten just before, {aof_s:.1f} s); Redis commands per event: {calls}")
        result("alignment: findings on the topic / findings metric", float(on_topic), "findings", float(published),
               "findings_total metric", "= 1.0 (all published)", on_topic >= published > 0)
        result("alignment: RSS per customer after the run", rss1 / n_customers, "B/customer", target="<= 1024",
               passed=rss1 / n_customers <= 1024,
               note=f"RSS {rss1 / 2**20:.0f} MiB settled {settled_s:.0f} s after the run ({rss_peak / 2**20:.0f} MiB "
                    f"at its end), {int(n_customers)} customers")
        result("alignment: RSS growth per customer during the run", (rss1 - rss0) / n_customers, "B/customer",
               target="<= 1024", passed=(rss1 - rss0) / n_customers <= 1024,
               note=f"idle {rss0 / 2**20:.0f} MiB -> {rss1 / 2**20:.0f} MiB settled ({rss_peak / 2**20:.0f} MiB peak)")
        # What a memory limit must allow: the replay's high-water mark (read-ahead, events held
        # for the merge, epochs and findings on their way to Redis and Kafka, on top of the state).
        hwm = al.rss("VmHWM")
        result("alignment: peak RSS during the run", hwm / 2**20, "MiB",
               note=f"VmHWM, {hwm / n_customers:,.0f} B per customer; settled {rss1 / 2**20:.0f} MiB")
        # Where the settled RSS is: live heap (the engine's state and everything else the service
        # allocated), the allocator's slack (freed, not yet returned), and the rest (code,
        # stacks, mappings outside malloc).
        body = al.scrape()
        heap = al.metric("concord_heap_allocated_bytes", body)
        heap_resident = al.metric("concord_heap_resident_bytes", body)
        # The cold customers' share: their compressed checkpoints (what --hot-customers trades for).
        n_cold = al.metric("concord_alignment_state_customers_cold", body) or 0
        cold_bytes = al.metric("concord_alignment_state_cold_bytes", body) or 0
        cold_note = (f"; {int(n_cold)} cold customers in {cold_bytes / 2**20:.1f} MiB ({cold_bytes / n_cold:,.0f} B each)"
                     if n_cold else "")
        if heap and heap_resident:
            result("alignment: live heap per customer after the run", heap / n_customers, "B/customer",
                   note=f"heap {heap / 2**20:.0f} MiB live, {heap_resident / 2**20:.0f} MiB resident; "
                        f"RSS outside the heap {(rss1 - heap_resident) / 2**20:.0f} MiB{cold_note}")
        # What the checkpoints take in Redis (its memory and its AOF): the per-partition state hashes.
        state_bytes, cursor = 0, b"0"
        while True:
            cursor, keys = redis.cmd("SCAN", cursor, "MATCH", f"{prefix}:state:*", "COUNT", 1000)
            for k in keys:
                state_bytes += redis.cmd("MEMORY", "USAGE", k, "SAMPLES", 0) or 0
            if cursor in (b"0", "0"):
                break
        written = al.by_label("concord_alignment_checkpoint_bytes_total", "form", body)
        ratio = (f"; checkpoints written over the run: {written.get('serialized', 0) / 2**20:.0f} MiB serialized, "
                 f"{written.get('stored', 0) / 2**20:.0f} MiB as stored" if written else "")
        result("alignment: checkpointed state in Redis per customer", state_bytes / n_customers, "B/customer",
               note=f"{state_bytes / 2**20:.0f} MiB in the state hashes (MEMORY USAGE), {int(n_customers)} customers{ratio}")
        # The rest of what the run added to Redis is the findings: each one's record, its two
        # index entries and its feed entry (the record compressed once the dictionary is trained).
        redis_mem1 = int(redis_stats(redis, "memory").get("used_memory", 0))
        aof = redis_stats(redis, "persistence")
        serialized = al.by_label("concord_alignment_finding_bytes_total", "form", body)
        packed = (f"; records {serialized.get('stored', 0) / 2**20:.0f} MiB as stored, "
                  f"{serialized.get('serialized', 0) / 2**20:.0f} MiB serialized" if serialized else "")
        result("alignment: Redis memory per finding", (redis_mem1 - redis_mem0 - state_bytes) / max(1, published), "B/finding",
               note=f"Redis used_memory +{(redis_mem1 - redis_mem0) / 2**20:.0f} MiB over the run, of which state "
                    f"{state_bytes / 2**20:.0f} MiB, for {int(published)} findings{packed}; AOF "
                    f"{int(aof.get('aof_current_size', 0)) / 2**20:.0f} MiB")
    finally:
        al.stop()

    # Recovery: a tail arrives while the instance is down; a new one restores and catches up.
    tail_events = max(1000, a.events // 10)
    fill2 = tool("fill", "--brokers", kafka.brokers, "--marketing", MKT, "--sales", SALES, "--events", tail_events,
                 "--customers", max(1, tail_events // 10), "--first-customer", 5_000_000)
    ends2 = input_ends(kafka)
    al2 = Alignment(kafka, tag, prefix, a.throughput_grace, logs, findings, dlq)
    try:
        before = al2.checkpointed(redis)
        behind = sum(max(0, end - before.get(tp, 0)) for tp, end in ends2.items())
        ready = al2.wait_ready()
        assigned = al2.wait_assigned()
        t_done = wait_caught_up(al2, redis, ends2, timeout=a.timeout)
        restored = None
        for line in al2.log_path.read_text(errors="replace").splitlines()[::-1]:
            if "alignment partitions restored" in line:
                m = re.search(r'"customers":(\d+)', line)
                restored = int(m.group(1)) if m else None
                break
        total = t_done - al2.t_start if t_done else None
        result("recovery: restart -> restored and caught up", total, "s", secs, "time of the original run",
               note=f"{restored} customers restored, {behind} records behind; SERVING {ready:.2f}s, "
                    f"partitions restored {assigned:.2f}s")
    finally:
        al2.stop()


# --- the write path (benchmark 6) ------------------------------------------------------------
class WriteService:
    """concord-marketing or concord-sales against the bench broker, its own Redis prefix, relay on."""

    def __init__(self, name, kafka, prefix, log_dir, tag):
        self.name, self.prefix = name, prefix
        self.grpc, self.admin = free_ports(2)
        env = dict(os.environ)
        env.update({
            "CONCORD_KAFKA_BROKERS": kafka.brokers,
            "CONCORD_REDIS_PORT": str(REDIS_PORT),
            "CONCORD_GRPC_LISTEN": f"127.0.0.1:{self.grpc}",
            "CONCORD_ADMIN_LISTEN": f"127.0.0.1:{self.admin}",
            "CONCORD_INSTANCE_ID": f"bench-{tag}-{name}",
            "CONCORD_LOG_LEVEL": "warn",  # a log line per call would be part of the measurement
        })
        self.log_path = log_dir / f"{name}-{tag}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(OUT / f"concord-{name}"), "--store-prefix", prefix, "--outbox-relay", "true"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.perf = None
        if os.environ.get("CONCORD_BENCH_PERF") == "write":
            self.perf = start_perf(self.proc.pid, OUT / f"perf-{tag}-{name}.data")

    @property
    def address(self):
        return f"127.0.0.1:{self.grpc}"

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}; log {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; log {self.log_path}")

    def stop(self):
        stop_process(self.proc, self.perf, self.log, signal.SIGTERM, 30)


class Noop:
    """The baseline: `concord-write-bench noop`, the same RPCs on common/grpc answering at once.
    `extra` selects the grpc-api stage's variants (--api async, --finish-via thread)."""

    def __init__(self, log_dir, name, extra=()):
        self.port = free_port()
        self.log = open(log_dir / f"noop-{name}.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "concord-write-bench"), "noop", "--listen", f"127.0.0.1:{self.port}",
                                      *extra], stdout=subprocess.DEVNULL, stderr=self.log)

    def cpu_and_switches(self):
        """(CPU seconds, context switches of all threads) so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        switches = 0
        for t in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{t}/status") as f:
                    switches += sum(int(l.split()[1]) for l in f if "_ctxt_switches" in l)
            except OSError:
                pass  # a thread that just ended
        return cpu, switches

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def write_load(a, marketing, sales, mode, tag, ids=None, rate=None, seconds=None):
    cmd = [str(BIN / "concord-write-bench"), "load", "--marketing", marketing, "--sales", sales, "--mode", mode,
           "--seconds", seconds or a.write_seconds, "--warmup", a.write_warmup, "--concurrency", a.write_concurrency,
           "--seed", a.write_seed, "--tag", tag]
    if rate:
        cmd += ["--rate", f"{rate:.0f}"]
    if ids:
        cmd += ["--ids-out", ids]
    if rate and os.environ.get("CONCORD_BENCH_WRITE_DUMP"):
        # Diagnostics: every measured call's intended time and latency, to see when the tail happens.
        cmd += ["--latency-dump", OUT / f"write-{tag}.lat"]
    r = subprocess.run(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=sys.stderr, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"concord-write-bench load {mode} exited {r.returncode}")
    out = json.loads(r.stdout.decode().strip().splitlines()[-1])
    log(f"write load {tag}: {out}")
    return out


def redis_stats(redis, section="stats"):
    """A Redis INFO section as a dict (forks for AOF rewrites stall Redis: they explain latency tails)."""
    out = {}
    for line in redis.cmd("INFO", section).decode().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def redis_calls(redis):
    """{command: (calls, usec)} from INFO commandstats."""
    out = {}
    for k, v in redis_stats(redis, "commandstats").items():
        f = dict(x.split("=", 1) for x in v.split(",") if "=" in x)
        out[k.removeprefix("cmdstat_")] = (int(f.get("calls", 0)), int(f.get("usec", 0)))
    return out


def redis_calls_between(before, after, per):
    """The commands Redis ran between two redis_calls() snapshots, the busiest first, as
    'HSET 1.23 (4.5 us)': calls per `per` (e.g. events) and Redis' own time per call."""
    d = []
    for k, (calls, usec) in after.items():
        c0, u0 = before.get(k, (0, 0))
        if calls > c0:
            d.append((usec - u0, k, calls - c0))
    d.sort(reverse=True)
    return ", ".join(f"{k.upper()} {n / per:.2f} ({u / n:.1f} us)" for u, k, n in d[:6])


def sender_stalls(load):
    """How late the open-loop load client's sender woke (a runnable thread waiting for a core)."""
    if "sender_late_p99_ms" not in load:
        return "not measured"
    return (f"the load client's sender late p99 {load['sender_late_p99_ms']:.2f} / max {load['sender_late_max_ms']:.1f} ms, "
            f"{load['sender_late_over_5ms']} times >= 5 ms")


def forks_between(before, after):
    """Redis forks (AOF rewrites) between two redis_stats() snapshots."""
    return int(after.get("total_forks", 0)) - int(before.get("total_forks", 0))


def rewrite_aof_now(redis, timeout):
    """Rewrites Redis' AOF and waits for the rewrite to end; returns its seconds.

    Redis rewrites its AOF each time the file has doubled: it forks, and the child writes the
    whole dataset, taking one of this machine's two cores for about a second. The bench's Redis
    starts empty, so in the first minute of writing that happens every few seconds, and whether
    one falls into a 10-second measured window was chance (one did in most runs: p99 at half the
    saturation rate ~100-130 ms with one, ~10 ms without). Rewriting just before each measured
    run makes the window measure the write path; the forks that still happen are counted."""
    t0 = time.monotonic()
    try:
        redis.cmd("BGREWRITEAOF")
    except RuntimeError as e:  # one already running (or scheduled): its AOF is as compact; wait for it
        log(f"BGREWRITEAOF: a rewrite was already running, waiting for it to end ({e})")
    while time.monotonic() - t0 < timeout:
        p = redis_stats(redis, "persistence")
        if p.get("aof_rewrite_in_progress") == "0" and p.get("aof_rewrite_scheduled") == "0":
            break
        time.sleep(0.05)
    return time.monotonic() - t0


def wait_outbox_empty(redis, services, timeout):
    """(seconds until both outboxes are empty, records still pending then)."""
    t0 = time.monotonic()
    while True:
        pending = sum(redis.cmd("XLEN", f"{s.prefix}:outbox") for s in services)
        if pending == 0 or time.monotonic() - t0 > timeout:
            return time.monotonic() - t0, pending
        time.sleep(0.05)


def bench_write(a, kafka, redis, run, logs):
    """Saturation, then a fixed rate at half of it, on the real services (Redis + outbox + relay to
    the bench broker) and on the no-op baseline with the same client; then every acknowledged
    write's event is looked for on the topics."""
    ids = OUT / f"write-{run}.ids"
    ids.unlink(missing_ok=True)
    noops = [Noop(logs, f"{run}-{n}") for n in ("marketing", "sales")]
    services = []
    try:
        time.sleep(0.5)  # the no-op servers bind their ports
        base_sat = write_load(a, noops[0].address, noops[1].address, "saturate", f"{run}-noop-sat")
        verify_group = f"concord-bench-{run}-write-verify"
        commit_group(kafka, verify_group, input_ends(kafka))  # only this benchmark's events
        services = [WriteService(n, kafka, f"concord:bench:{run}:{n}", logs, f"{run}-write") for n in ("marketing", "sales")]
        for s in services:
            s.wait_ready()
        addr = [s.address for s in services]
        # Warm-up, not measured: the bench broker's JVM compiles the produce path it has not
        # run yet (its C2 compiler threads took ~0.2 of a core through the first ~25 s of these
        # writes), and the bench's Redis, which starts empty, grows its keyspace through several
        # doublings (each an incremental rehash, ~25% of its CPU meanwhile) and AOF rewrites: with
        # 30 s of it the measured saturation was ~6.6k req/s, with 90 s (~1M keys) ~9.9k, as in
        # a full run, where the other stages come first. A long-lived Redis is rarely mid-growth.
        if a.write_warmup_load:
            write_load(a, *addr, "saturate", f"{run}-warmup-load", seconds=a.write_warmup_load)
            wait_outbox_empty(redis, services, a.timeout)
        rewrites = [rewrite_aof_now(redis, a.timeout)]
        stats_before_sat = redis_stats(redis)
        sat = write_load(a, *addr, "saturate", f"{run}-sat", ids=ids)
        forks_sat = forks_between(stats_before_sat, redis_stats(redis))
        # The relay may trail at saturation: let it finish before anything else is measured
        # (its catching up would take CPU from the next phase).
        sat_drain, _ = wait_outbox_empty(redis, services, a.timeout)
        # The no-op again right after: on a shared machine the load drifts, so the baseline is
        # the mean of the runs just before and just after the measured one.
        base_sat2 = write_load(a, noops[0].address, noops[1].address, "saturate", f"{run}-noop-sat2")
        rate = a.write_rate or max(1.0, sat["req_per_s"] / 2)
        rewrites.append(rewrite_aof_now(redis, a.timeout))
        forks0 = redis_stats(redis)
        fixed = write_load(a, *addr, "rate", f"{run}-rate", ids=ids, rate=rate)
        forks1 = redis_stats(redis)
        base_fixed = write_load(a, noops[0].address, noops[1].address, "rate", f"{run}-noop-rate", rate=rate)
        drained, pending = wait_outbox_empty(redis, services, a.timeout)
        v = subprocess.run([str(BIN / "concord-write-bench"), "verify", "--brokers", kafka.brokers, "--ids", str(ids),
                            "--group", verify_group, "--marketing", MKT, "--sales", SALES],
                           stdout=subprocess.PIPE, stderr=sys.stderr, timeout=a.timeout + 60)
        check = json.loads(v.stdout.decode().strip().splitlines()[-1])
        log(f"write verify: {check}")
    finally:
        for s in services + noops:
            s.stop()

    def errs(r):
        return f"{r['errors']} errors {r['error_codes']}" if r["errors"] else "0 errors"

    mix = "CaptureLead/ScoreLead + CreateAccount/UpdateAccount, 1:1:1:1"
    base_rps = (base_sat["req_per_s"] + base_sat2["req_per_s"]) / 2
    result("write: saturation, req/s", sat["req_per_s"], "req/s", base_rps, "no-op gRPC, same client",
           ">= 40% of no-op", sat["req_per_s"] >= 0.4 * base_rps and sat["errors"] == 0,
           note=f"{sat['concurrency']} in flight, {a.write_seconds}s; {mix}; {errs(sat)}; no-op before/after "
                f"{base_sat['req_per_s']:,.0f}/{base_sat2['req_per_s']:,.0f}; outbox empty {sat_drain:.1f}s after; "
                f"{a.write_warmup_load:g}s of unmeasured writes first; Redis forks meanwhile: {forks_sat} "
                f"(AOF rewritten just before, {rewrites[0]:.1f}s)")
    result("write: saturation p99", sat["p99_ms"], "ms", (base_sat["p99_ms"] + base_sat2["p99_ms"]) / 2,
           "no-op p99 at its saturation", note=f"p50 {sat['p50_ms']:.2f} ms, p99.9 {sat['p999_ms']:.2f} ms")
    for q, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms")):
        target, passed = ("< 5 ms", fixed[key] < 5 and fixed["errors"] == 0) if q == "p99" else ("", None)
        if a.write_rate:
            passed = None  # the target is at half the saturation rate
        at = f"{rate:,.0f} req/s (--write-rate)" if a.write_rate else "half the saturation rate"
        result(f"write: {q} at {at}", fixed[key], "ms", base_fixed[key],
               f"no-op {q} at the same rate", target, passed,
               note=f"open loop {rate:,.0f} req/s, latency from the intended send time; {errs(fixed)}; Redis forks "
                    f"(AOF rewrites) meanwhile: {forks_between(forks0, forks1)}"
                    f", latest {int(forks1.get('latest_fork_usec', 0)) / 1000:.1f} ms (AOF rewritten just before, "
                    f"{rewrites[1]:.1f}s); machine stalls: {sender_stalls(fixed)} (no-op run: "
                    f"{sender_stalls(base_fixed)})")
    result("write: acknowledged writes with their event on the topic", float(check["found"]), "events",
           float(check["expected"]), "acknowledged writes", "= all", check["missing"] == 0 and check["expected"] > 0,
           note=f"outbox drained {drained:.1f}s after the load (pending {pending}); "
                f"{check['duplicates']} duplicates read")


GRPC_API_VARIANTS = (
    ("callback API, finished in the handler", ()),
    ("callback API, finished from another thread", ("--finish-via", "thread")),
    ("async CQ API (1 thread), finished in the handler", ("--api", "async")),
    ("async CQ API (1 thread), finished from another thread", ("--api", "async", "--finish-via", "thread")),
)


def bench_grpc_api(a, run, logs):
    """Not a target: what one call costs the server on each gRPC API this build can use, with the
    response sent from the handler's thread or from another one (as the services send theirs from
    their Redis I/O thread). The same no-op RPCs and load client as the write path's baseline; CPU
    and context switches of the two no-op servers per call, at saturation and at a fixed rate."""
    base = {}
    for mode, rate in (("saturate", None), ("rate", a.grpc_api_rate)):
        for label, extra in GRPC_API_VARIANTS:
            noops = [Noop(logs, f"{run}-api-{n}", extra) for n in ("marketing", "sales")]
            try:
                time.sleep(0.5)  # the servers bind their ports
                before = [n.cpu_and_switches() for n in noops]
                r = write_load(a, noops[0].address, noops[1].address, mode, f"{run}-api-{mode}", rate=rate)
                after = [n.cpu_and_switches() for n in noops]
            finally:
                for n in noops:
                    n.stop()
            calls = r["sent"] or 1  # the counters span warm-up and window alike
            cpu_us = sum(x[0] - b[0] for x, b in zip(after, before)) * 1e6 / calls
            switches = sum(x[1] - b[1] for x, b in zip(after, before)) / calls
            at = "saturation" if rate is None else f"{rate:,} req/s"
            base.setdefault(at, cpu_us)
            result(f"grpc api: {label}, server CPU per call at {at}", cpu_us, "us", base[at],
                   "callback API, finished in the handler",
                   note=f"{r['req_per_s']:,.0f} req/s, p99 {r['p99_ms']:.2f} ms, {switches:.1f} context switches "
                        f"per call (both servers, all threads); {r['errors']} errors")


PRE_FILL_ENDS = {}
# A private copy: other people's builds in the same build dir may relink the binary mid-run.
ALIGNMENT_BIN = OUT / "concord-alignment"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="seconds-long end-to-end run of the harness (no targets judged)")
    ap.add_argument("--events", type=int, default=1_000_000,
                    help="records for the throughput run (default 1000000, the issue's size)")
    ap.add_argument("--customers", type=int, default=0, help="customers for the throughput run (default events/10)")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rate", type=int, default=10000, help="events/s of the latency runs (the issue: a steady 10k)")
    ap.add_argument("--latency-seconds", type=int, default=20)
    ap.add_argument("--graces", type=lambda v: [int(x) for x in v.split(",")], default=[0, 100],
                    help="the latency runs' --reorder-grace-ms values (default 0,100)")
    ap.add_argument("--throughput-grace", type=int, default=100,
                    help="--reorder-grace-ms of the throughput and recovery instances (default 100, the service's "
                         "default: the cross-team merge on, so the findings do not depend on read timing)")
    ap.add_argument("--engine-min-time", type=float, default=2.0)
    ap.add_argument("--engine-repetitions", type=int, default=3, help="runs of each engine benchmark; the median counts")
    ap.add_argument("--kafka-port", type=int, default=19092,
                    help="port of the dedicated benchmark broker (it also takes the next three)")
    ap.add_argument("--redis-port", type=int, default=0, help="port of the dedicated benchmark Redis (default kafka port + 4)")
    ap.add_argument("--write-seconds", type=float, default=10, help="measured seconds of each write-path load")
    ap.add_argument("--write-warmup", type=float, default=2, help="unmeasured seconds before each write-path load")
    ap.add_argument("--write-warmup-load", type=float, default=90,
                    help="seconds of unmeasured saturation writes to the services before the measured ones (0: none)")
    ap.add_argument("--write-concurrency", type=int, default=64, help="calls in flight at write-path saturation")
    ap.add_argument("--write-seed", type=int, default=500, help="leads and accounts created before the write loads")
    ap.add_argument("--write-rate", type=float, default=0,
                    help="req/s of the fixed-rate write run (default 0: half the saturation rate); to compare two "
                         "builds' tails at the same load")
    ap.add_argument("--grpc-api-rate", type=int, default=10000, help="req/s of the grpc-api stage's fixed-rate runs")
    ap.add_argument("--only", default="engine,latency,throughput,write",
                    help="comma-separated subset; grpc-api (what a call costs on each gRPC API, no target) runs "
                         "only when named")
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    if a.smoke:
        a.events, a.rate, a.latency_seconds, a.engine_min_time = 5000, 500, 3, 0.05
        a.write_seconds, a.write_warmup, a.write_concurrency, a.write_seed = 1.5, 0.5, 16, 20
        a.write_warmup_load = 1
        a.engine_repetitions = 1
    only = set(a.only.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    logs = OUT / "logs"
    logs.mkdir(exist_ok=True)
    run = f"{int(time.time())}{os.getpid() % 1000:03d}"
    info = machine()
    log(f"run {run} on {info}")
    t0 = time.monotonic()
    if only & {"latency", "throughput"}:
        shutil.copy2(os.environ.get("CONCORD_BENCH_ALIGNMENT_BIN") or BUILD / "bin/concord-alignment", ALIGNMENT_BIN)
    if "write" in only:
        # Private copies, like the alignment binary; CONCORD_BENCH_{MARKETING,SALES}_BIN measure other builds.
        for name in ("marketing", "sales"):
            shutil.copy2(os.environ.get(f"CONCORD_BENCH_{name.upper()}_BIN") or BUILD / "bin" / f"concord-{name}",
                         OUT / f"concord-{name}")
    if "engine" in only:
        bench_engine(a)
    if "grpc-api" in only:
        bench_grpc_api(a, run, logs)
    kafka = redis = None
    if only & {"latency", "throughput", "write"}:
        global REDIS_PORT
        REDIS_PORT = a.redis_port or a.kafka_port + 4
        kafka = BenchKafka(a.kafka_port, a.partitions)
        bench_redis = BenchRedis(REDIS_PORT)
        try:
            kafka.start()  # first: it starts from an empty state dir
            bench_redis.start()
            redis = Redis(REDIS_PORT)
            kafka.create(MKT, SALES)
            if "latency" in only:
                bench_latency(a, kafka, redis, run, logs)
            PRE_FILL_ENDS.update(input_ends(kafka))
            if "throughput" in only:
                bench_throughput(a, kafka, redis, run, logs)
            if "write" in only:
                bench_write(a, kafka, redis, run, logs)
        finally:
            log("cleanup: stopping the benchmark broker and Redis (their data go with them)")
            bench_redis.stop()
            kafka.stop()
    doc = {"run": run, "mode": "smoke" if a.smoke else "full", "machine": info,
           "settings": {k: v for k, v in vars(a).items()}, "seconds": round(time.monotonic() - t0, 1),
           "benchmarks": RESULTS}
    if a.smoke:
        for r in RESULTS:
            r["pass"] = None  # the smoke run proves the harness, not the targets
    (OUT / ("results.smoke.json" if a.smoke else "results.json")).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"Concord benchmarks, run {run} ({doc['mode']}, {doc['seconds']} s) on {info['nproc']} x {info['cpu']}, "
          f"{info['mem_gib']} GiB")
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
