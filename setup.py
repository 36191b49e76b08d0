from setuptools import find_packages, setup

setup(name='mmseg_autoloss', version='0.1.0',
      packages=find_packages(include=['mmseg_autoloss', 'mmseg_autoloss.*']),
      # the CPU kernels are built from source at first use (surrogates/native.py)
      package_data={'mmseg_autoloss.surrogates': ['csrc/*.cpp']})
