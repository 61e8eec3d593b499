#!/usr/bin/env bash
# Debian tools the test suite drives: Chromium (+ driver) for the browser tests, shellcheck and
# promtool for the deployment checks, Prometheus, Alertmanager (+ amtool) and the Pushgateway for the
# alerting test, wrk for `hotelctl bench api`. Installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v wrk >/dev/null || need+=(wrk)
# Binaries taken out of Debian's packages rather than installed: only the programs are wanted, not services.
# package:program ... (prometheus brings promtool too, prometheus-alertmanager brings amtool)
extract=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || extract+=(prometheus)
command -v alertmanager >/dev/null && command -v amtool >/dev/null && [ -e /usr/share/prometheus/alertmanager ] \
  || extract+=(prometheus-alertmanager)
command -v pushgateway >/dev/null || extract+=(prometheus-pushgateway)
if ((${#need[@]})) || ((${#extract[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system tools (${need[*]:-} ${extract[*]:-}); run this script as root" >&2
    exit 1
  fi
  apt-get update -qq
fi
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
for package in "${extract[@]}"; do
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$package")
  dpkg -x "$tmp"/"${package}"_*.deb "/opt/$package-deb"
  rm -rf "$tmp"
done
link() { [ -x "$1" ] && ln -sf "$1" "/usr/local/bin/$2"; }
link /opt/prometheus-deb/usr/bin/promtool promtool || true
link /opt/prometheus-deb/usr/bin/prometheus prometheus || true
link /opt/prometheus-alertmanager-deb/usr/bin/prometheus-alertmanager alertmanager || true
link /opt/prometheus-alertmanager-deb/usr/bin/amtool amtool || true
link /opt/prometheus-pushgateway-deb/usr/bin/prometheus-pushgateway pushgateway || true
# Debian's Alertmanager reads its default notification templates from this path.
if [ ! -e /usr/share/prometheus/alertmanager ] && [ -d /opt/prometheus-alertmanager-deb/usr/share/prometheus/alertmanager ]; then
  mkdir -p /usr/share/prometheus
  ln -s /opt/prometheus-alertmanager-deb/usr/share/prometheus/alertmanager /usr/share/prometheus/alertmanager
fi
