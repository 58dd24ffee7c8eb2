#!/bin/sh
# Demo application: busybox nc serves HTTP, one handler process per connection.
# Environment (baked into the image at build time, overridable per service):
#   PORT          listen port (8080)
#   ERROR_RATE    share of requests answered 500, 0..1 (0)
#   LATENCY_MS    delay before answering a request (0)
#   TRAFFIC_RPS   steady synthetic traffic the task sends itself; 0 = idle (5)
#   CRASH         1 = exit at start, for failure tests (0)
set -u
if [ "${CRASH:-0}" = "1" ]; then
  echo "demo: CRASH=1 requested, exiting at start" >&2
  exit 3
fi
export PORT="${PORT:-8080}"
export METRICS_DIR=/tmp/demo
mkdir -p "$METRICS_DIR"
: > "$METRICS_DIR/requests"
date +%s > "$METRICS_DIR/start"
# Precompute what the handler needs so that a request costs no extra process.
export ERROR_THRESHOLD="$(awk -v r="${ERROR_RATE:-0}" 'BEGIN { t = int(r * 32768 + 0.5); if (t < 0) t = 0; if (t > 32768) t = 32768; print t }')"
export LATENCY_S="$(awk -v ms="${LATENCY_MS:-0}" 'BEGIN { printf "%.3f", ms / 1000 }')"
INTERVAL="$(awk -v r="${TRAFFIC_RPS:-0}" 'BEGIN { if (r > 0) printf "%.3f", 1 / r; else print 0 }')"

echo "demo: version $(cat /app/VERSION) on :$PORT error_rate=${ERROR_RATE:-0} latency_ms=${LATENCY_MS:-0} traffic_rps=${TRAFFIC_RPS:-0}"
nc -ll -p "$PORT" -e /app/handler.sh &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; exit 0' TERM INT

if [ "$INTERVAL" != "0" ]; then
  while :; do
    # busybox-static's wget crashes in an image FROM scratch (static glibc), nc does not.
    printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' | nc -w 5 127.0.0.1 "$PORT" >/dev/null 2>&1 &
    sleep "$INTERVAL"
  done &
fi
wait $SERVER
