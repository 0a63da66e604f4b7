#!/bin/sh
# The demo image's entrypoint (docker compose --profile demo): smoke checks against the three
# running services, the same checks as `scripts/demo --smoke` (grpc.health.v1 SERVING for the
# service's own name, the service listed by reflection), plus GET /metrics on each admin port.
# Exits non-zero if any check fails.
#   CONCORD_SMOKE_PY      path of scripts/lib/smoke.py (default: where the image puts it)
#   CONCORD_DEMO_TARGETS  space-separated GRPC_HOST:PORT=SERVICE=ADMIN_HOST:PORT entries
#                         (default: the docker-compose.yml service names and ports)
set -eu
SMOKE_PY="${CONCORD_SMOKE_PY:-/opt/concord/smoke.py}"
TARGETS="${CONCORD_DEMO_TARGETS:-marketing:50051=concord.marketing.v1.MarketingService=marketing:9101 sales:50052=concord.sales.v1.SalesService=sales:9102 alignment:50053=concord.alignment.v1.AlignmentService=alignment:9103}"

echo "demo: smoke calls (grpc.health.v1 + reflection + /metrics)"
failed=0
for target in $TARGETS; do
  grpc="${target%%=*}"
  rest="${target#*=}"
  service="${rest%%=*}"
  admin="${rest#*=}"
  if ! python "$SMOKE_PY" "$grpc" "$service"; then
    echo "demo: FAIL $grpc $service" >&2
    failed=1
    continue
  fi
  if ! python - "$admin" <<'PY'
import sys, urllib.request
url = f"http://{sys.argv[1]}/metrics"
with urllib.request.urlopen(url, timeout=3) as r:
    body = r.read().decode()
ok = r.status == 200 and "concord_serving 1" in body
print(f"  {url:<40} {'ok' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
  then
    echo "demo: FAIL $admin/metrics" >&2
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "demo: FAILED" >&2
  exit 1
fi
echo "demo: ready"
