#!/usr/bin/env bash
# Prometheus and promtool for the local stack and the tests, from Debian's packages (like PostgreSQL).
#   prometheus.sh install   apt-get install prometheus when `prometheus` or `promtool` is missing (needs root);
#                           where it cannot be installed it says so and exits 0: the stack then runs without
#                           Prometheus (`ledgerline stack up` says so too) and the rule tests fail, never skip
#   prometheus.sh status    exit 0 when both `prometheus` and `promtool` are on the PATH
# The package's own service (a Prometheus on :9090 scraping localhost) is never started: the stack starts its own
# process per port base (ledgerline_cli.monitoring), with its state under .state/prometheus/.
set -euo pipefail

log() { echo "prometheus: $*" >&2; }
present() { command -v prometheus >/dev/null && command -v promtool >/dev/null; }

install() {
  if present; then return 0; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "not installed and cannot install it here (needs root and apt-get): the stack runs without Prometheus"
    return 0
  fi
  log "installing Debian's prometheus package (brings promtool)"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package's init script from starting a daemon of its own (only while installing, and only when the
  # machine has no policy of its own).
  local policy=/usr/sbin/policy-rc.d made="" ok=1
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made=1; fi
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || ok=""
  if [ -n "$made" ]; then rm -f "$policy"; fi
  if [ -z "$ok" ] || ! present; then
    log "apt-get install prometheus failed: the stack runs without Prometheus"
    return 0
  fi
  log "installed $(prometheus --version 2>&1 | head -1)"
}

case "${1:-}" in
  install) install ;;
  status) present ;;
  *) echo "usage: $0 install|status" >&2; exit 2 ;;
esac
