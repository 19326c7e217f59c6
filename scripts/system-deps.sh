#!/usr/bin/env bash
# Installs the Debian packages the platform runs on, when any is missing. Idempotent.
set -euo pipefail
PACKAGES=(nginx libnginx-mod-rtmp ffmpeg)
if [[ "${WITH_BROWSER:-0}" == "1" ]]; then
  PACKAGES+=(chromium)
fi
# `make bench` only: wrk, the HTTP load client of benchmarks/segment_delivery.py.
if [[ "${WITH_BENCH:-0}" == "1" ]]; then
  PACKAGES+=(wrk)
fi
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "Installing system packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]] || { echo "nginx RTMP module missing after install" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "ffmpeg missing after install" >&2; exit 1; }
if [[ "${WITH_BROWSER:-0}" == "1" ]]; then
  [[ -x /usr/bin/chromium ]] || { echo "chromium missing after install" >&2; exit 1; }
fi
if [[ "${WITH_BENCH:-0}" == "1" ]]; then
  command -v wrk >/dev/null || { echo "wrk missing after install" >&2; exit 1; }
fi
