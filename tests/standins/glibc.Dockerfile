# Imports a debootstrapped Debian bookworm rootfs (made by build-glibc.sh) as a Python base image that
# behaves like the official python:3.11-bookworm for building wheels: python, python3, pip, venv, gcc.
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8
CMD ["python3"]
