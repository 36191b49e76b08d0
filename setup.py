"""mmseg-autoloss: ``pip install .`` into an MMSegmentation 1.x environment.

mmcv is not a requirement, as in OpenMMLab's own packages: its compiled ops
must match the user's torch and CUDA (``mim install mmcv==2.1.0``); the
package says so at import when they are missing.
"""
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
INSTALL_REQUIRES = [
    'mmsegmentation>=1.0,<1.3',
    'mmengine>=0.10.0,<1.0',
    'scipy',
    'matplotlib',
    'numpy',
    # imported by mmseg 1.x's text encoder at ``import mmseg.models``, yet
    # not in its install_requires
    'ftfy',
    'regex',
]


def read_version() -> str:
    """``__version__`` of mmseg_autoloss/version.py, without importing the package."""
    with open(osp.join(HERE, 'mmseg_autoloss', 'version.py'), encoding='utf-8') as f:
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.M)
    if match is None:
        raise RuntimeError('no __version__ in mmseg_autoloss/version.py')
    return match.group(1)


def read_requirements(name: str) -> list:
    """The requirements of requirements/<name> (comments dropped, ``-r`` followed)."""
    out = []
    with open(osp.join(HERE, 'requirements', name), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line.startswith('-r '):
                out += read_requirements(line[3:].strip())
            elif line and not line.startswith('-'):
                out.append(line)
    return out


class BuildWithMim(build_py):
    """Ship ``configs/`` and ``tools/`` as ``mmseg_autoloss/.mim/`` (OpenMMLab's
    layout for ``mim`` and for finding the configs of an installed package).

    An editable install reads them from the checkout, so nothing is copied.
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        for name in ('configs', 'tools'):
            src = osp.join(HERE, name)
            dst = osp.join(self.build_lib, 'mmseg_autoloss', '.mim', name)
            if osp.isdir(src):
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(
    name='mmseg_autoloss',
    version=read_version(),
    description='Auto Seg-Loss metric surrogates, JDT and ReCAM-style losses and loss search '
                'for MMSegmentation 1.x',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    keywords='semantic segmentation, loss function, mmsegmentation, auto seg-loss',
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    packages=find_packages(include=['mmseg_autoloss', 'mmseg_autoloss.*']),
    python_requires='>=3.8',
    # Ranges for an existing MMSeg environment; torch and mmcv come with it
    # (see the module doc). requirements/runtime.txt pins the tested versions.
    install_requires=INSTALL_REQUIRES,
    extras_require={
        'optuna': read_requirements('optuna.txt'),
        'tests': read_requirements('tests.txt'),
    },
    cmdclass={'build_py': BuildWithMim},
    zip_safe=False,
)
