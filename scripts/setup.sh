#!/usr/bin/env bash
# Set up narcowatch on a fresh Debian machine: system packages, the Python venv, a check for Java 21+.
# Idempotent: re-running skips what is already there. Elasticsearch itself is downloaded (through
# Maven) and started by `narcowatch es start` / the demo / the test fixtures, not here.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
need_apt=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
# Optional: colour emoji in referral-report PDFs (Telegram posts are full of them; without the font they
# print as boxes). Installed with the others when apt can be used, never a reason to fail.
want_apt=()
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || want_apt+=(fonts-noto-color-emoji)
if [ ${#need_apt[@]} -eq 0 ] && [ ${#want_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want_apt[@]}" >/dev/null 2>&1 \
      || echo "setup: optional ${want_apt[*]} not installed (report PDFs show emoji as boxes)" >&2
  else
    echo "setup: optional Debian package not installed: ${want_apt[*]} (report PDFs show emoji as boxes)" >&2
  fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  need_apt+=("${want_apt[@]}")
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first: ${need_apt[*]}" >&2
    exit 1
  fi
fi

# Elasticsearch 9 needs Java 21 or newer.
java_ok=""
for j in "${NARCOWATCH_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 \
         /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/java-25-openjdk-amd64; do
  if [ -n "$j" ] && [ -x "$j/bin/java" ]; then java_ok="$j"; break; fi
done
if [ -z "$java_ok" ]; then
  echo "setup: no Java 21+ found (looked in /usr/lib/jvm); Elasticsearch 9 needs one. Install a JDK 21+" >&2
  echo "       and set NARCOWATCH_JAVA_HOME, or point NARCOWATCH_ES_URL at an existing cluster." >&2
fi

stamp=.venv/.narcowatch-installed
# A venv left by an interrupted set-up (no pip) or whose Python was upgraded or removed is made anew.
if [ -e .venv ] && ! .venv/bin/python -c "import pip" >/dev/null 2>&1; then
  echo "setup: .venv is broken (interrupted set-up or a changed Python); creating it again"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
echo "setup: ok (python $(.venv/bin/python -V 2>&1 | cut -d' ' -f2), java ${java_ok:-missing}, chromium $(command -v chromium || echo missing))"
