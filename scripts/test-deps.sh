#!/usr/bin/env bash
# Install what the real-player tests (tests/test_players.py) need; safe to run again.
#
#   - espeak-ng (speech synthesis for the indexing bench and fixture), through apt.
#   - Debian's Chromium (/usr/bin/chromium, with its H.264/AAC-capable ffmpeg) and fonts,
#     through apt. The tests launch this browser; nothing ever downloads one
#     (never `playwright install`).
#   - hls.js, dash.js (npm package "dashjs"; "dash.js" on npm is an unrelated package) and
#     shaka-player, pinned to a major version, into .npm-deps/ (git-ignored).
#   - The playwright Python package, into the project's venv.
#   - wrk (apt), the HTTP load generator the origin resilience test runs.
#
# Run as root (apt) from anywhere; `make test` runs it. Each step is skipped when its
# result is already there, so a second run does no network I/O.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV_PYTHON="${VENV_PYTHON:-.venv/bin/python}"
NPM_PREFIX=".npm-deps"
# Package spec -> the dist file the tests load (also the "already installed" check).
NPM_PACKAGES=(
  "hls.js@^1.7.4"        # HLS: TS (transmuxed) and fMP4
  "dashjs@^5.2.1"        # DASH, and Smooth through its MSS module (dash.mss.min.js)
  "shaka-player@^5.2.12" # DASH and HLS (5.x has no Smooth Streaming support)
)
NPM_FILES=(
  "hls.js/dist/hls.min.js"
  "dashjs/dist/modern/umd/dash.mss.min.js"
  "shaka-player/dist/shaka-player.compiled.js"
)
PLAYWRIGHT_SPEC="playwright>=1.50,<2"

log() { printf 'test-deps: %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    log "need root to apt-get install $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

# The major version of an installed npm package ("" when absent).
installed_major() {
  local manifest="$NPM_PREFIX/node_modules/$1/package.json"
  [ -f "$manifest" ] || return 0
  sed -n 's/^ *"version": *"\([0-9]*\)\..*/\1/p' "$manifest" | head -n 1
}

npm_ready() {
  local i spec name major
  for i in "${!NPM_PACKAGES[@]}"; do
    spec="${NPM_PACKAGES[$i]}"
    name="${spec%@*}"
    major="${spec##*@^}"
    major="${major%%.*}"
    [ -f "$NPM_PREFIX/node_modules/${NPM_FILES[$i]}" ] || return 1
    [ "$(installed_major "$name")" = "$major" ] || return 1
  done
}

# 1. Chromium (Debian's build: proprietary codecs through its ffmpeg) and fonts.
if [ -x /usr/bin/chromium ] && dpkg -s fonts-liberation >/dev/null 2>&1; then
  log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
else
  log "installing chromium and fonts (apt)"
  apt_install chromium fonts-liberation fonts-dejavu-core
fi

# 1b. wrk: the load generator of the origin resilience test (tests/test_origin_resilience.py).
if command -v wrk >/dev/null 2>&1; then
  log "wrk present"
else
  log "installing wrk (apt)"
  apt_install wrk
fi

# 1c. espeak-ng: bench/index.py synthesises speech with it (and
#     scripts/make-speech-fixture.sh, which regenerates tests/fixtures/speech.mp4, with bc).
if command -v espeak-ng >/dev/null 2>&1 && command -v bc >/dev/null 2>&1; then
  log "espeak-ng and bc present"
else
  log "installing espeak-ng and bc (apt)"
  apt_install espeak-ng bc
fi

# 2. The player libraries.
if npm_ready; then
  log "player libraries present in $NPM_PREFIX"
else
  if ! command -v npm >/dev/null 2>&1; then
    log "installing npm (apt)"
    apt_install nodejs npm
  fi
  log "npm install ${NPM_PACKAGES[*]}"
  npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}"
  npm_ready || { log "player libraries still missing after npm install" >&2; exit 1; }
fi

# 3. Playwright for Python (the driver only: the tests launch /usr/bin/chromium).
if [ ! -x "$VENV_PYTHON" ]; then
  log "$VENV_PYTHON not found: run \`make dev\` first" >&2
  exit 1
fi
if "$VENV_PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
  log "playwright present in the venv"
else
  log "pip install $PLAYWRIGHT_SPEC"
  "$VENV_PYTHON" -m pip install --quiet "$PLAYWRIGHT_SPEC"
fi
