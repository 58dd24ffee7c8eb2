#!/bin/sh
# One HTTP/1.0 exchange on stdin/stdout (busybox nc -ll -e). Paths:
#   /metrics  Prometheus text format   /healthz  200 ok   anything else: the application
read -r up _ < /proc/uptime
t0="${up%.*}${up#*.}"
read -r method path proto
while read -r line; do
  line="${line%$(printf '\r')}"
  [ -z "$line" ] && break
done

respond() { # status, body
  printf 'HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$1" "${3:-text/plain}" "${#2}" "$2"
}

case "$path" in
  /metrics)
    body="$(awk -v version="$(cat /app/VERSION)" -v start="$(cat "$METRICS_DIR/start")" '
      BEGIN { n = split("0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10", le, " ") }
      { count[$1]++; total++; s = $2 / 1000; sum += s; for (i = 1; i <= n; i++) if (s <= le[i] + 0) b[i]++ }
      END {
        print "# HELP demo_http_requests_total Requests served, by status code."
        print "# TYPE demo_http_requests_total counter"
        if (!("200" in count)) count["200"] = 0
        if (!("500" in count)) count["500"] = 0
        for (c in count) printf "demo_http_requests_total{code=\"%s\"} %d\n", c, count[c]
        print "# HELP demo_http_request_duration_seconds Time to answer a request."
        print "# TYPE demo_http_request_duration_seconds histogram"
        for (i = 1; i <= n; i++) printf "demo_http_request_duration_seconds_bucket{le=\"%s\"} %d\n", le[i], b[i] + 0
        printf "demo_http_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", total + 0
        printf "demo_http_request_duration_seconds_sum %.3f\n", sum + 0
        printf "demo_http_request_duration_seconds_count %d\n", total + 0
        print "# HELP demo_build_info The version baked into the image."
        print "# TYPE demo_build_info gauge"
        printf "demo_build_info{version=\"%s\"} 1\n", version
        print "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds."
        print "# TYPE process_start_time_seconds gauge"
        printf "process_start_time_seconds %d\n", start
      }' "$METRICS_DIR/requests")"
    respond "200 OK" "$body
" "text/plain; version=0.0.4"
    ;;
  /healthz)
    respond "200 OK" "ok
"
    ;;
  *)
    [ "$LATENCY_S" != "0.000" ] && sleep "$LATENCY_S"
    if [ "$RANDOM" -lt "$ERROR_THRESHOLD" ]; then code=500; status="500 Internal Server Error"; else code=200; status="200 OK"; fi
    read -r up _ < /proc/uptime
    t1="${up%.*}${up#*.}"
    # /proc/uptime has centisecond resolution: durations are recorded in milliseconds, 10 ms steps.
    printf '%s %d\n' "$code" "$(( (t1 - t0) * 10 ))" >> "$METRICS_DIR/requests"
    respond "$status" "version $(cat /app/VERSION) answered $code
"
    ;;
esac
