"""Build and load the hand-written CPU kernels in ``csrc/`` at first use.

Plain C ABI loaded with :mod:`ctypes`: no torch headers, so a kernel builds
in a few seconds with the system C++ compiler (the one ``torch.compile``
needs on CPU anyway). The shared library is cached under
``~/.cache/mmseg-autoloss/kernels`` (``$MMSEG_AUTOLOSS_CACHE`` overrides the
root), keyed by the source, the compiler, its flags and the CPU's features
(``-march=native``), so a shared home across different machines is safe.
"""
import ctypes
import ctypes.util
import hashlib
import os
import os.path as osp
import platform
import shutil
import subprocess
import tempfile
import threading
from typing import Dict, List

__all__ = ['load_kernel', 'kernel_cache_dir', 'CXX_FLAGS']

SRC_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc')
# -ffp-contract=off: no fused multiply-adds, so the kernels round like the
# eager torch ops; -fopenmp-simd: the `omp simd` loops without an OpenMP
# runtime (a second libgomp next to torch's is asking for trouble);
# -fno-trapping-math, -fno-math-errno: the selects and square roots
# vectorize (nothing here reads FP exception flags or errno).
CXX_FLAGS: List[str] = ['-O3', '-march=native', '-fopenmp-simd', '-fno-math-errno',
                        '-fno-trapping-math', '-ffp-contract=off', '-fPIC', '-shared',
                        '-std=c++17']
_LIBS: Dict[str, ctypes.CDLL] = {}
_LOCK = threading.Lock()


def kernel_cache_dir() -> str:
    """Where built kernels are kept."""
    root = os.environ.get('MMSEG_AUTOLOSS_CACHE',
                          osp.join(osp.expanduser('~'), '.cache', 'mmseg-autoloss'))
    return osp.join(root, 'kernels')


def _cpu_features() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            lines = [ln for ln in f if ln.startswith(('flags', 'model name', 'Features'))]
        return ''.join(sorted(set(lines)))
    except OSError:
        return platform.processor() or platform.machine()


def _compiler() -> str:
    cxx = os.environ.get('CXX') or shutil.which('c++') or shutil.which('g++')
    if not cxx:
        raise RuntimeError('no C++ compiler found (set $CXX or install g++)')
    return cxx


def _optional_flags() -> List[str]:
    """glibc's vector math library where there is one (x86-64): the
    kernels' ``exp`` vectorizes through it (``BF1_LIBMVEC``)."""
    if platform.machine() in ('x86_64', 'AMD64') and ctypes.util.find_library('mvec'):
        return ['-DBF1_LIBMVEC', '-lmvec']
    return []


def _build(cxx: str, src: str, extra: List[str], path: str) -> None:
    """Compile ``src`` to ``path`` (raises RuntimeError with the output)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    # build next to the target and rename: concurrent processes (torchrun
    # ranks, test workers) never load a half-written library
    fd, tmp = tempfile.mkstemp(suffix='.so', dir=osp.dirname(path))
    os.close(fd)
    try:
        # libraries after the source: the linker resolves left to right
        res = subprocess.run([cxx, *CXX_FLAGS, '-o', tmp, src, *extra], capture_output=True,
                             text=True)
        if res.returncode != 0:
            raise RuntimeError(f'building {src} with {cxx} failed:\n'
                               f'{(res.stderr or res.stdout)[-2000:]}')
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)


def load_kernel(name: str) -> ctypes.CDLL:
    """The kernel library ``csrc/<name>.cpp``, built on first use.

    Built with libmvec where it is found, else (or if that build fails, e.g.
    without the ``libmvec.so`` link) without it.

    Args:
        name (str): Source file stem.

    Returns:
        ctypes.CDLL: The loaded library.

    Raises:
        RuntimeError: No compiler, or the build failed (with its output).
    """
    with _LOCK:
        if name in _LIBS:
            return _LIBS[name]
        src = osp.join(SRC_DIR, name + '.cpp')
        cxx = _compiler()
        with open(src, 'rb') as f:
            source = f.read()
        optional = _optional_flags()
        for extra in ([optional] if optional else []) + [[]]:
            digest = hashlib.sha256(source)
            digest.update('\0'.join([cxx] + CXX_FLAGS + extra + [_cpu_features()]).encode())
            path = osp.join(kernel_cache_dir(), f'{name}-{digest.hexdigest()[:16]}.so')
            if not osp.exists(path):
                try:
                    _build(cxx, src, extra, path)
                except RuntimeError:
                    if extra:  # retry without the optional library
                        continue
                    raise
            _LIBS[name] = ctypes.CDLL(path)
            break
        return _LIBS[name]
