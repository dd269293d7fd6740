from setuptools import Extension, setup

setup(ext_modules=[Extension("tinyext", sources=["tinyext.c"], libraries=["z", "ffi", "m"])])
