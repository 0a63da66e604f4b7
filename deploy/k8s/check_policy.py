"""Checks on a rendered Concord overlay (`kustomize build`) that a schema cannot make.

kubernetes-validate proves every object is well formed; this proves they fit together and keep
the rules deploy/README.md promises:

- wiring: Deployment selectors match their pod labels; every Service, PodDisruptionBudget and
  NetworkPolicy selector selects a Deployment's pods; Service target ports and NetworkPolicy
  named ports exist on the selected containers; the HPA targets a Deployment that sets no
  replicas of its own; every ConfigMap, ServiceAccount and volume source referenced exists (a
  Secret may instead be expected to exist in the cluster: reported, not an error);
- Pod Security Standards "restricted" plus a read-only root filesystem, no service-account
  token, no service-link variables;
- probes: startup and liveness probes, readiness = native gRPC probe on grpc.health.v1 with the
  service's name, on the port named grpc; with TLS on the gRPC port (CONCORD_GRPC_TLS_CERT set),
  which the kubelet's gRPC probe cannot speak, GET /healthz on the port named metrics instead;
- access: the TLS files and the tokens file (CONCORD_GRPC_TLS_*, CONCORD_AUTH_TOKENS_FILE) are
  files of mounted Secrets, and TLS comes with a tokens file (tokens never over cleartext);
- shutdown: terminationGracePeriodSeconds >= preStop sleep + CONCORD_SHUTDOWN_GRACE_SECONDS +
  the producer flush (10 s) + 5 s;
- requests and limits for cpu and memory; images with a tag or digest, never :latest;
- the namespace enforces pod-security "restricted"; a default-deny NetworkPolicy exists;
- alignment: HPA maxReplicas <= the topic partition count; the playbook is mounted where
  CONCORD_PLAYBOOK points.

Usage: python check_policy.py RENDERED.yaml [--partitions N] [--name LABEL]
Prints one line: "ok (...)" or the problems, one per line; exit 1 on any problem.
"""

from __future__ import annotations

import argparse
import sys

import yaml

FLUSH_SECONDS = 10  # runtime.cc: producer Flush(10s) after the drain
MARGIN_SECONDS = 5
ALLOWED_VOLUME_TYPES = {"configMap", "secret", "emptyDir", "projected", "downwardAPI",
                        "persistentVolumeClaim", "ephemeral", "csi"}
GRPC_SERVICE = {
    "concord-marketing": "concord.marketing.v1.MarketingService",
    "concord-sales": "concord.sales.v1.SalesService",
    "concord-alignment": "concord.alignment.v1.AlignmentService",
}


def selects(selector: dict | None, labels: dict) -> bool:
    """matchLabels/matchExpressions (In, NotIn, Exists, DoesNotExist) against labels."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def as_seconds(cmd: list) -> int:
    """preStop exec ["sleep", "5"] (or sh -c "sleep 5") -> 5; anything else -> 0."""
    words = " ".join(str(c) for c in cmd).split()
    if "sleep" in words:
        i = words.index("sleep")
        if i + 1 < len(words) and words[i + 1].isdigit():
            return int(words[i + 1])
    return 0


class Checker:
    def __init__(self, docs: list[dict], partitions: int):
        self.docs = [d for d in docs if d]
        self.partitions = partitions
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.by_kind: dict[str, dict[str, dict]] = {}
        for d in self.docs:
            self.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def fail(self, msg: str) -> None:
        self.problems.append(msg)

    def kind(self, k: str) -> dict[str, dict]:
        return self.by_kind.get(k, {})

    # ------------------------------------------------------------------------------------------
    def run(self) -> None:
        self.check_namespace()
        self.check_network_policies()
        for name, dep in self.kind("Deployment").items():
            self.check_deployment(name, dep)
        self.check_services()
        self.check_pdbs()
        self.check_hpas()

    def check_namespace(self) -> None:
        namespaces = self.kind("Namespace")
        if len(namespaces) != 1:
            self.fail(f"expected exactly one Namespace, found {len(namespaces)}")
            return
        ns_name, ns = next(iter(namespaces.items()))
        labels = ns["metadata"].get("labels") or {}
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            self.fail(f"namespace {ns_name}: pod-security.kubernetes.io/enforce is not 'restricted'")
        for d in self.docs:
            if d["kind"] in ("Namespace",):
                continue
            if d["metadata"].get("namespace") != ns_name:
                self.fail(f"{d['kind']} {d['metadata']['name']}: namespace "
                          f"{d['metadata'].get('namespace')!r}, expected {ns_name!r}")

    def pods(self):
        for name, dep in self.kind("Deployment").items():
            tmpl = dep["spec"]["template"]
            yield name, tmpl["metadata"].get("labels") or {}, tmpl["spec"]

    def container_ports(self, pod_spec: dict) -> set:
        ports = set()
        for c in pod_spec.get("containers", []):
            for p in c.get("ports") or []:
                ports.add(p.get("name"))
                ports.add(p["containerPort"])
        return ports

    def check_network_policies(self) -> None:
        nps = self.kind("NetworkPolicy")
        if not any(np["spec"].get("podSelector") in ({}, None)
                   and set(np["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
                   and not np["spec"].get("ingress") and not np["spec"].get("egress")
                   for np in nps.values()):
            self.fail("no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress+Egress, no rules)")
        for name, np in nps.items():
            sel = np["spec"].get("podSelector") or {}
            selected = [(n, spec) for n, labels, spec in self.pods() if selects(sel, labels)]
            if sel and not selected:
                self.fail(f"NetworkPolicy {name}: podSelector selects no Deployment's pods")
            for rule in (np["spec"].get("ingress") or []):
                for p in rule.get("ports") or []:
                    port = p.get("port")
                    for n, spec in selected:
                        if port is not None and port not in self.container_ports(spec):
                            self.fail(f"NetworkPolicy {name}: port {port!r} is not a port of {n}")
            for rule in (np["spec"].get("egress") or []):
                for peer in rule.get("to") or []:
                    cidr = (peer.get("ipBlock") or {}).get("cidr")
                    if cidr in ("0.0.0.0/0", "::/0"):
                        self.fail(f"NetworkPolicy {name}: egress to {cidr} is not a restriction")

    def env_of(self, c: dict) -> dict[str, str]:
        """The container's CONCORD_* values from envFrom ConfigMaps then env (env wins)."""
        env: dict[str, str] = {}
        for src in c.get("envFrom") or []:
            ref = src.get("configMapRef")
            if ref:
                cm = self.kind("ConfigMap").get(ref["name"])
                if cm is None:
                    self.fail(f"container {c['name']}: envFrom ConfigMap {ref['name']} is not defined")
                else:
                    env.update(cm.get("data") or {})
            sref = src.get("secretRef")
            if sref:
                self.secret_ref(sref["name"], f"container {c['name']} envFrom")
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = e["value"]
            vf = e.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                self.secret_ref(vf["secretKeyRef"]["name"], f"container {c['name']} env {e['name']}",
                                vf["secretKeyRef"].get("key"))
            if "configMapKeyRef" in vf:
                cm = self.kind("ConfigMap").get(vf["configMapKeyRef"]["name"])
                if cm is None:
                    self.fail(f"container {c['name']}: env {e['name']}: ConfigMap "
                              f"{vf['configMapKeyRef']['name']} is not defined")
        return env

    def secret_ref(self, name: str, where: str, key: str | None = None) -> None:
        secret = self.kind("Secret").get(name)
        if secret is None:
            note = f"expects existing Secret {name}" + (f" (key {key})" if key else "")
            if note not in self.notes:
                self.notes.append(note)
        elif key is not None and key not in (secret.get("data") or {}) and key not in (secret.get("stringData") or {}):
            self.fail(f"{where}: Secret {name} has no key {key}")

    def check_deployment(self, name: str, dep: dict) -> None:
        where = f"Deployment {name}"
        spec = dep["spec"]
        tmpl = spec["template"]
        labels = tmpl["metadata"].get("labels") or {}
        if not selects(spec["selector"], labels):
            self.fail(f"{where}: spec.selector does not match the pod template labels")
        pod = tmpl["spec"]

        # Pod Security "restricted" (+ read-only root filesystem).
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            self.fail(f"{where}: pod securityContext.runAsNonRoot is not true")
        if psc.get("runAsUser") != 10001:
            self.fail(f"{where}: pod securityContext.runAsUser is not 10001 (the image's user)")
        if (psc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            self.fail(f"{where}: pod seccompProfile is not RuntimeDefault")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(field):
                self.fail(f"{where}: {field} is set")
        if pod.get("automountServiceAccountToken") is not False:
            self.fail(f"{where}: automountServiceAccountToken is not false")
        if pod.get("enableServiceLinks") is not False:
            self.fail(f"{where}: enableServiceLinks is not false (Service variables could shadow CONCORD_*)")
        sa = pod.get("serviceAccountName")
        if not sa or sa not in self.kind("ServiceAccount"):
            self.fail(f"{where}: serviceAccountName {sa!r} is not defined")
        elif self.kind("ServiceAccount")[sa].get("automountServiceAccountToken") is not False:
            self.fail(f"ServiceAccount {sa}: automountServiceAccountToken is not false")

        volumes = {}
        for v in pod.get("volumes") or []:
            types = set(v) - {"name"}
            if not types <= ALLOWED_VOLUME_TYPES:
                self.fail(f"{where}: volume {v['name']} uses {sorted(types)} (not allowed by 'restricted')")
            if "configMap" in v and v["configMap"]["name"] not in self.kind("ConfigMap"):
                self.fail(f"{where}: volume {v['name']}: ConfigMap {v['configMap']['name']} is not defined")
            if "secret" in v:
                self.secret_ref(v["secret"]["secretName"], f"{where} volume {v['name']}")
            volumes[v["name"]] = v

        for c in pod.get("containers", []) + pod.get("initContainers", []):
            cw = f"{where} container {c['name']}"
            csc = c.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False:
                self.fail(f"{cw}: allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                self.fail(f"{cw}: privileged")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                self.fail(f"{cw}: capabilities do not drop ALL")
            if (csc.get("capabilities") or {}).get("add"):
                self.fail(f"{cw}: adds capabilities")
            if csc.get("readOnlyRootFilesystem") is not True:
                self.fail(f"{cw}: readOnlyRootFilesystem is not true")
            if csc.get("runAsUser") not in (None, 10001) or csc.get("runAsNonRoot") is False:
                self.fail(f"{cw}: runs as another user than 10001")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
            for m in mounts.values():
                if m["name"] not in volumes:
                    self.fail(f"{cw}: volumeMount {m['name']} has no volume")
            if "/tmp" not in mounts:
                self.fail(f"{cw}: no writable /tmp (emptyDir) under a read-only root filesystem")

            image = c.get("image", "")
            last = image.rsplit("/", 1)[-1]
            if "@sha256:" not in image and ":" not in last:
                self.fail(f"{cw}: image {image!r} has neither tag nor digest")
            if last.endswith(":latest"):
                self.fail(f"{cw}: image {image!r} uses :latest")

            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(kind) or {}):
                        self.fail(f"{cw}: resources.{kind}.{r} is not set")

            ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            for needed in ("grpc", "metrics"):
                if needed not in ports:
                    self.fail(f"{cw}: no container port named {needed}")
            rp = c.get("readinessProbe") or {}
            grpc = rp.get("grpc")
            env = self.env_of(c)
            if env.get("CONCORD_GRPC_TLS_CERT"):
                hg = rp.get("httpGet") or {}
                if grpc or hg.get("path") != "/healthz" or hg.get("port") not in ("metrics", ports.get("metrics")):
                    self.fail(f"{cw}: with TLS on the gRPC port, readiness must be GET /healthz on the metrics port "
                              "(the kubelet's gRPC probe cannot speak TLS)")
            elif not grpc:
                self.fail(f"{cw}: readinessProbe is not a native gRPC probe")
            else:
                if grpc.get("port") != ports.get("grpc"):
                    self.fail(f"{cw}: readiness gRPC probe port {grpc.get('port')} is not the grpc port {ports.get('grpc')}")
                expected = GRPC_SERVICE.get(name)
                if expected and grpc.get("service") != expected:
                    self.fail(f"{cw}: readiness gRPC probe service {grpc.get('service')!r}, expected {expected!r}")
            for var in ("CONCORD_GRPC_TLS_CERT", "CONCORD_GRPC_TLS_KEY", "CONCORD_GRPC_TLS_CLIENT_CA", "CONCORD_AUTH_TOKENS_FILE"):
                if env.get(var):
                    self.check_secret_file(cw, var, env[var], mounts, volumes)
            if bool(env.get("CONCORD_GRPC_TLS_CERT")) != bool(env.get("CONCORD_GRPC_TLS_KEY")):
                self.fail(f"{cw}: CONCORD_GRPC_TLS_CERT and CONCORD_GRPC_TLS_KEY go together")
            if env.get("CONCORD_GRPC_TLS_CERT") and not env.get("CONCORD_AUTH_TOKENS_FILE"):
                self.fail(f"{cw}: TLS on the gRPC port without CONCORD_AUTH_TOKENS_FILE: anyone may call every RPC")
            for probe in ("livenessProbe", "startupProbe"):
                if not c.get(probe):
                    self.fail(f"{cw}: no {probe}")
            for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
                hg = (c.get(probe) or {}).get("httpGet")
                if hg and hg.get("port") not in ports and hg.get("port") not in ports.values():
                    self.fail(f"{cw}: {probe} httpGet port {hg.get('port')!r} is not a container port")

            try:
                grace = int(env.get("CONCORD_SHUTDOWN_GRACE_SECONDS", "20"))
            except ValueError:
                self.fail(f"{cw}: CONCORD_SHUTDOWN_GRACE_SECONDS={env['CONCORD_SHUTDOWN_GRACE_SECONDS']!r} is not a number")
                grace = 20
            pre = ((c.get("lifecycle") or {}).get("preStop") or {})
            pre_s = as_seconds((pre.get("exec") or {}).get("command") or []) + int((pre.get("sleep") or {}).get("seconds", 0))
            if pre_s <= 0:
                self.fail(f"{cw}: no preStop sleep (endpoints must go before SIGTERM)")
            need = pre_s + grace + FLUSH_SECONDS + MARGIN_SECONDS
            tgps = pod.get("terminationGracePeriodSeconds", 30)
            if tgps < need:
                self.fail(f"{where}: terminationGracePeriodSeconds {tgps} < preStop {pre_s} + grace {grace} "
                          f"+ flush {FLUSH_SECONDS} + margin {MARGIN_SECONDS} = {need}")

            if "CONCORD_PLAYBOOK" in env:
                self.check_playbook(cw, env["CONCORD_PLAYBOOK"], mounts, volumes)

    def check_secret_file(self, cw: str, var: str, path: str, mounts: dict, volumes: dict) -> None:
        """`path` is a file of a mounted Secret (keys are not checked: the Secret lives in the cluster).
        A whole-directory mount, not subPath: Kubernetes never updates subPath files, and the
        services re-read these files to pick up renewals."""
        directory = path.rpartition("/")[0]
        mount = mounts.get(directory)
        if mount is None or mount.get("subPath"):
            self.fail(f"{cw}: {var}={path} is not a file of a directory-mounted volume")
            return
        if "secret" not in volumes.get(mount["name"], {}):
            self.fail(f"{cw}: {var}={path} is not on a mounted Secret")

    def check_playbook(self, cw: str, path: str, mounts: dict, volumes: dict) -> None:
        """CONCORD_PLAYBOOK names a key of a mounted ConfigMap, and that key is a YAML mapping."""
        key = None
        mount = mounts.get(path)
        if mount is not None and mount.get("subPath"):
            key = mount["subPath"]
        else:
            directory, _, base = path.rpartition("/")
            mount = mounts.get(directory)
            key = base
        if mount is None:
            self.fail(f"{cw}: CONCORD_PLAYBOOK={path} is not a mounted file")
            return
        cm_name = (volumes.get(mount["name"], {}).get("configMap") or {}).get("name", "")
        cm = self.kind("ConfigMap").get(cm_name)
        if cm is None or key not in (cm.get("data") or {}):
            self.fail(f"{cw}: CONCORD_PLAYBOOK={path} is not a key of a mounted ConfigMap")
        elif not isinstance(yaml.safe_load(cm["data"][key]), dict):
            self.fail(f"{cw}: the playbook in ConfigMap {cm_name} is not a YAML mapping")

    def check_services(self) -> None:
        for name, svc in self.kind("Service").items():
            sel = svc["spec"].get("selector")
            pods = [(n, spec) for n, labels, spec in self.pods() if sel and all(labels.get(k) == v for k, v in sel.items())]
            if not pods:
                self.fail(f"Service {name}: selector {sel} selects no Deployment's pods")
                continue
            names = {p.get("name") for p in svc["spec"].get("ports", [])}
            if "grpc" not in names:
                self.fail(f"Service {name}: no port named grpc")
            if svc["spec"].get("clusterIP") != "None" and "metrics" not in names:
                self.fail(f"Service {name}: no port named metrics")
            for p in svc["spec"].get("ports", []):
                target = p.get("targetPort", p["port"])
                for n, spec in pods:
                    if target not in self.container_ports(spec):
                        self.fail(f"Service {name}: targetPort {target!r} is not a port of {n}")

    def check_pdbs(self) -> None:
        covered = set()
        for name, pdb in self.kind("PodDisruptionBudget").items():
            sel = pdb["spec"].get("selector")
            hit = [n for n, labels, _ in self.pods() if selects(sel, labels)]
            if not hit:
                self.fail(f"PodDisruptionBudget {name}: selector selects no Deployment's pods")
            covered.update(hit)
            if pdb["spec"].get("minAvailable") not in (None, 0, "0%"):
                self.notes.append(f"PodDisruptionBudget {name} uses minAvailable (maxUnavailable never blocks at 1 replica)")
        for name in self.kind("Deployment"):
            if name not in covered:
                self.fail(f"Deployment {name}: no PodDisruptionBudget")

    def check_hpas(self) -> None:
        for name, hpa in self.kind("HorizontalPodAutoscaler").items():
            ref = hpa["spec"]["scaleTargetRef"]
            dep = self.kind("Deployment").get(ref["name"]) if ref.get("kind") == "Deployment" else None
            if dep is None:
                self.fail(f"HorizontalPodAutoscaler {name}: target {ref.get('kind')}/{ref['name']} is not defined")
                continue
            if "replicas" in dep["spec"]:
                self.fail(f"Deployment {ref['name']}: sets replicas although {name} scales it (every apply would reset the count)")
            lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
            if lo > hi:
                self.fail(f"HorizontalPodAutoscaler {name}: minReplicas {lo} > maxReplicas {hi}")
            if ref["name"] == "concord-alignment" and hi > self.partitions:
                self.fail(f"HorizontalPodAutoscaler {name}: maxReplicas {hi} > {self.partitions} partitions "
                          f"(instances beyond the partition count get no partition)")
        if "concord-alignment" in self.kind("Deployment") and not any(
                h["spec"]["scaleTargetRef"]["name"] == "concord-alignment" for h in self.kind("HorizontalPodAutoscaler").values()):
            self.fail("Deployment concord-alignment: no HorizontalPodAutoscaler")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rendered")
    ap.add_argument("--partitions", type=int, default=6)
    args = ap.parse_args()
    with open(args.rendered) as f:
        docs = list(yaml.safe_load_all(f))
    c = Checker(docs, args.partitions)
    try:
        c.run()
    except (KeyError, TypeError, AttributeError) as e:  # a malformed object the schema let through
        c.fail(f"malformed object: {type(e).__name__}: {e}")
    if c.problems:
        for p in c.problems:
            print(p)
        return 1
    secrets = sorted({n.split()[3] for n in c.notes if n.startswith("expects existing Secret")})
    others = [n for n in c.notes if not n.startswith("expects existing Secret")]
    extra = f"; expects Secrets {', '.join(secrets)} in the cluster" if secrets else ""
    extra += ("; " + "; ".join(others)) if others else ""
    print(f"ok: {len(c.docs)} objects, {len(c.kind('Deployment'))} Deployments{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
