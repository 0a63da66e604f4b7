#!/bin/bash
# concord-healthcheck [PORT] [PATH]: exit 0 when GET http://127.0.0.1:PORT/PATH answers 200.
# Used by the image's HEALTHCHECK and by docker-compose.yml. Needs only bash (/dev/tcp), so the
# runtime image carries no curl. PORT defaults to the port of CONCORD_ADMIN_LISTEN (set by each
# image), PATH to /healthz (200 while the service is SERVING; /livez: 200 while it runs).
set -u
port="${1:-${CONCORD_ADMIN_LISTEN##*:}}"
path="${2:-/healthz}"
timeout="${CONCORD_HEALTHCHECK_TIMEOUT:-3}"
[[ "$port" =~ ^[0-9]+$ ]] || { echo "concord-healthcheck: no admin port (argument or CONCORD_ADMIN_LISTEN)" >&2; exit 2; }
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t "$timeout" status <&3 || { echo "concord-healthcheck: no answer on :$port$path" >&2; exit 1; }
status="${status%$'\r'}"
exec 3<&-
case "$status" in
  "HTTP/1."[01]" 200"*) exit 0 ;;
  *) echo "concord-healthcheck: :$port$path answered '$status'" >&2; exit 1 ;;
esac
