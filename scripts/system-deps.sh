#!/usr/bin/env bash
# Make sure the system packages stepmetrics needs are present:
#   redis-server  (the local stack and the integration tests)
#   stunnel4      (the Kafka TLS tests: a TLS terminator in front of the test broker)
#   openssl       (the Kafka TLS tests: a throwaway CA and certificates)
#   chromium      (the browser tests; only when STEPMETRICS_NEED_BROWSER=1)
# Installs them with apt-get when running as root on Debian, else says what to install.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v stunnel4 >/dev/null 2>&1 || need+=(stunnel4)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [[ "${STEPMETRICS_NEED_BROWSER:-0}" == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
[[ ${#need[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi
echo "missing system packages: ${need[*]}" >&2
echo "install them (Debian/Ubuntu: sudo apt-get install ${need[*]}) and run make again" >&2
exit 1
