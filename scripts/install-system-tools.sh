#!/usr/bin/env bash
# Debian tools the test suite drives: Chromium (+ driver) for the browser tests, shellcheck and
# promtool for the deployment checks, wrk for `hotelctl bench api`. Installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})) || ! command -v promtool >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system tools (${need[*]:-} promtool); run this script as root" >&2
    exit 1
  fi
  apt-get update -qq
fi
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
if ! command -v promtool >/dev/null; then
  # Extract the package rather than install it: only its promtool binary is wanted, not a service.
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus)
  dpkg -x "$tmp"/prometheus_*.deb /opt/prometheus-deb
  ln -sf /opt/prometheus-deb/usr/bin/promtool /usr/local/bin/promtool
  rm -rf "$tmp"
fi
