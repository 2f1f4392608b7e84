#!/usr/bin/env bash
# Installs the Debian packages Vigil's tests run against, only those missing.
# Add a package here when a test starts needing a real server binary (prometheus, redis-server, ...).
set -euo pipefail

PACKAGES=(
  # <package>:<binary that proves it is installed>
  redis-server:redis-server
  prometheus:prometheus
  prometheus-alertmanager:amtool
  chromium:chromium
  poppler-utils:pdftotext
)

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg="${entry%%:*}"; bin="${entry#*:}"
  command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system test dependencies: all present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing system test dependencies: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
