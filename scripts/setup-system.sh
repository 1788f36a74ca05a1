#!/usr/bin/env bash
# Optional system parts for llmpress (Debian 12 "bookworm", run as root). Nothing else needs them:
# without them the WebGPU and browser suites skip and say why.
#   - Mesa's software Vulkan driver (lavapipe) from bookworm-backports, so the `webgpu` npm package
#     (Dawn) runs WGSL compute shaders without a GPU. Bookworm's own Mesa (22.3) is too old for Dawn.
#   - Debian's `chromium`, for the browser demo's end-to-end test (headless, /usr/bin/chromium).
# Idempotent: what is already installed is only checked. Progress goes to stderr; stdout is only the
# environment to export, so CI does:   eval "$(bash scripts/setup-system.sh)"
# Options:  --env    print the environment only (install nothing)
#           --check  report what is present and exit 1 if something is missing (install nothing)
set -euo pipefail

ICD=/usr/share/vulkan/icd.d/lvp_icd.json
CHROMIUM=/usr/bin/chromium
log() { echo "setup-system: $*" >&2; }
print_env() {
  echo "export VK_ICD_FILENAMES=$ICD"
  echo "export XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}"
}

case "${1:-}" in
  --env) print_env; exit 0 ;;
  --check)
    ok=0
    if [ -f "$ICD" ]; then log "lavapipe: present ($ICD)"; else log "lavapipe: missing"; ok=1; fi
    if [ -x "$CHROMIUM" ]; then log "chromium: present ($CHROMIUM)"; else log "chromium: missing"; ok=1; fi
    exit $ok ;;
  "") ;;
  *) log "unknown option '$1' (use --env or --check)"; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then log "needs root (apt-get); run it with sudo, or use --check"; exit 1; fi
if ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
  log "written for Debian 12 (bookworm); this system is $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}") — not changing it"; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() { [ $updated = 1 ] || { apt-get update -qq; updated=1; }; }

# --- lavapipe from bookworm-backports
if [ -f "$ICD" ]; then
  log "lavapipe: already installed"
else
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # the backports suite on the mirror this system already uses (deb.debian.org otherwise)
    mirror=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1)
    [ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    log "adding bookworm-backports from $mirror"
    echo "deb $mirror bookworm-backports main" > /etc/apt/sources.list.d/llmpress-bookworm-backports.list
  fi
  apt_update
  apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null
  apt-get install -y -qq -t bookworm-backports --no-install-recommends mesa-vulkan-drivers >/dev/null
  [ -f "$ICD" ] || { log "lavapipe: $ICD missing after the install"; exit 1; }
  log "lavapipe: installed (mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers))"
fi
mkdir -p /tmp/xdg-runtime && chmod 700 /tmp/xdg-runtime

# --- Debian chromium
if [ -x "$CHROMIUM" ]; then
  log "chromium: already installed"
else
  apt_update
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [ -x "$CHROMIUM" ] || { log "chromium: $CHROMIUM missing after the install"; exit 1; }
  log "chromium: installed ($(dpkg-query -W -f='${Version}' chromium))"
fi

print_env
