#!/usr/bin/env bash
# Create (or complete) the project's virtual environment on a CPU machine.
#
# Idempotent: every step checks what is already there. The full mmcv 2.1.0
# (mmseg 1.2.2 imports mmcv.ops) is compiled once and its wheel cached under
# $MMCV_WHEEL_CACHE (default ~/.cache/mmseg-autoloss/wheels), so a second
# set-up installs it in seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
MMCV_VERSION="2.1.0"
WHEEL_CACHE="${MMCV_WHEEL_CACHE:-$HOME/.cache/mmseg-autoloss/wheels}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"

die() { echo "setup_env: ERROR: $*" >&2; exit 1; }
step() { echo "setup_env: $*"; }

command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found; install Python 3.11 or set PYTHON=..."

if [ ! -x "$VENV/bin/python" ]; then
  step "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create the venv at $VENV"
fi
PY="$VENV/bin/python"
PIP="$PY -m pip --disable-pip-version-check"

have() { "$PY" - "$@" <<'PYEOF' 2>/dev/null
import importlib.metadata as m, sys
name, ver = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
try:
    v = m.version(name)
except m.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if ver is None or v.split('+')[0] == ver else 1)
PYEOF
}

if ! have torch 2.13.0; then
  step "installing $TORCH_SPEC (CPU build from the local wheel when available)"
  $PIP install "$TORCH_SPEC" || die "pip could not install $TORCH_SPEC"
fi
step "build tools: setuptools<70 wheel ninja"
$PIP install -q "setuptools<70" wheel ninja || die "could not install build tools"

if ! have mmcv "$MMCV_VERSION"; then
  mkdir -p "$WHEEL_CACHE"
  whl=$(ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    step "building full mmcv==$MMCV_VERSION from source with MAX_JOBS=$MAX_JOBS (about 13 min on 2 cores)"
    $PIP wheel --no-build-isolation --no-deps -w "$WHEEL_CACHE" "mmcv==$MMCV_VERSION" \
      || die "building mmcv==$MMCV_VERSION failed (see the compiler output above)"
    whl=$(ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)
  else
    step "using cached mmcv wheel $whl"
  fi
  $PIP install "$whl" || die "installing $whl failed"
fi

step "runtime and test requirements"
$PIP install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
  || die "pip install of requirements failed"
$PIP install -q --no-deps -e "$ROOT" || die "pip install -e $ROOT failed"

"$PY" -c "import torch, mmcv, mmcv.ops, mmengine, mmseg; print('setup_env: ok: torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmengine', mmengine.__version__, 'mmseg', mmseg.__version__)" \
  || die "the environment does not import (torch/mmcv/mmengine/mmseg)"
