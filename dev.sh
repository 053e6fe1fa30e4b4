#!/usr/bin/env bash
# madoguchi — set-up and the two everyday commands.
#   bash dev.sh app     set up (first time) and start the counter app (demo mode without configuration)
#   bash dev.sh test    set up (first time) and run the whole test suite
# Set-up is idempotent: system packages (Debian, as root), a .venv with the pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

DEBIAN_PACKAGES=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0
  libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libnss3
  libxcomposite1 libxdamage1 libxrandr2 libxtst6 libasound2 poppler-utils xvfb)

system_packages() {
  command -v dpkg >/dev/null 2>&1 || return 0
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "$1" = test ] && ! command -v pg_ctl >/dev/null 2>&1 && [ ! -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
    missing+=(postgresql)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "次のパッケージが必要です（root で apt-get install してください）: ${missing[*]}" >&2
    return 0
  fi
  echo "== apt-get install ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

python_env() {
  local stamp="$VENV/.stamp-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  echo "== Python environment (.venv)" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install -q -r requirements.lock &&
         "$VENV/bin/python" -m pip install -q --no-deps -e . ; } >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -20 >&2
    echo "Python パッケージの導入に失敗しました（詳細: $log）。" >&2
    exit 1
  fi
  rm -f "$VENV"/.stamp-*; touch "$stamp"
}

postgres_running() {
  # Tests need the local PostgreSQL on 127.0.0.1:5432 (trust auth for the postgres user).
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
  if [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    for v in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
    done
  fi
}

case "${1:-}" in
  app)
    shift
    system_packages app; python_env
    exec "$VENV/bin/madoguchi" "$@"
    ;;
  test)
    shift
    system_packages test; python_env; postgres_running
    export QT_QPA_PLATFORM=offscreen
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  admin)
    shift
    python_env
    exec "$VENV/bin/madoguchi-admin" "$@"
    ;;
  *)
    echo "使い方: bash dev.sh app | test | admin ..." >&2
    exit 2
    ;;
esac
