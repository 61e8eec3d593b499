#!/usr/bin/env bash
# Wait until the platform answers: the API's /health (every engine ok), the Dagster UI, the relay.
# Usage: deploy/scripts/health-check.sh [--timeout SECONDS]
# Env: API_URL (http://localhost:8080), DAGSTER_URL (http://localhost:3000), RELAY_METRICS_URL (optional),
#      HEALTH_CHECK_INTERVAL (seconds between tries, default 5)
set -euo pipefail

API_URL="${API_URL:-http://localhost:8080}"
DAGSTER_URL="${DAGSTER_URL:-http://localhost:3000}"
RELAY_METRICS_URL="${RELAY_METRICS_URL:-}"
TIMEOUT=120
INTERVAL="${HEALTH_CHECK_INTERVAL:-5}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --timeout) TIMEOUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

check() {  # name url: 0 when the URL answers 200
  local name="$1" url="$2" status
  status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)"
  if [[ "$status" == "200" ]]; then
    echo "ok    $name ($url)"
    return 0
  fi
  echo "wait  $name ($url): HTTP ${status:-none}"
  return 1
}

deadline=$(( $(date +%s) + TIMEOUT ))
while true; do
  failed=0
  check api "$API_URL/health" || failed=1
  check dagster "$DAGSTER_URL/server_info" || failed=1
  if [[ -n "$RELAY_METRICS_URL" ]]; then
    check relay "$RELAY_METRICS_URL" || failed=1
  fi
  if [[ "$failed" == 0 ]]; then
    echo "healthy"
    exit 0
  fi
  if (( $(date +%s) >= deadline )); then
    echo "unhealthy after ${TIMEOUT}s; engine detail:" >&2
    curl -s --max-time 5 "$API_URL/health" >&2 || true
    exit 1
  fi
  sleep "$INTERVAL"
done
