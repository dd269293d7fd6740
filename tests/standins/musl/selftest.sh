#!/bin/sh
# Runs INSIDE a musl stand-in container (busybox sh), offline, as the --selftest of build-musl.sh:
#   sh /selftest/selftest.sh <machine>        (machine: x86_64 or aarch64)
# /selftest holds an msgpack sdist and the tinyext source. Builds both with the image's own compiler, repairs
# them with auditwheel, installs and imports them. Any failed check ends the script non-zero.
set -eu
machine=$1
src=/selftest
fail() {
    echo "SELFTEST FAILED ($machine): $*" >&2
    exit 1
}
t0=$(date +%s)
elapsed() { echo "[$(($(date +%s) - t0))s] $*"; }

[ "$(uname -m)" = "$machine" ] || fail "uname -m says $(uname -m)"
for tool in sh python python3 pip pip3 cc gcc c++ ar auditwheel patchelf; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
soabi=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("SOABI"))')
[ "$soabi" = "cpython-311-$machine-linux-musl" ] || fail "SOABI is $soabi"
python3 - "$machine" <<'PY' || fail "interpreter checks"
import importlib, os, sys, sysconfig
machine = sys.argv[1]
assert sys.version_info[:2] == (3, 11), sys.version
assert os.uname().machine == machine
# pip's own tag list must lead with musllinux tags for this machine.
from pip._internal.utils.compatibility_tags import get_supported
tags = [str(t) for t in get_supported()]
assert f"cp311-cp311-musllinux_1_2_{machine}" in tags, tags[:5]
assert not any("manylinux" in t for t in tags), "a musl Python must not accept manylinux wheels"
for mod in ("zlib", "ctypes", "_ctypes", "hashlib", "json", "csv", "venv", "ensurepip"):
    importlib.import_module(mod)
inc = sysconfig.get_paths()["include"]
assert os.path.isfile(os.path.join(inc, "Python.h")), inc
sysconfigdata = f"_sysconfigdata__linux_{machine}-linux-musl"
assert importlib.import_module(sysconfigdata).build_time_vars["SOABI"].endswith("musl")
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
[ "$(./hello)" = "hello from cc" ] || fail "cc-built program did not run"
needed=$(python3 -c '
import sys
from elftools.elf.elffile import ELFFile
with open(sys.argv[1], "rb") as f:
    elf = ELFFile(f)
    print(" ".join(t.needed for t in elf.get_section_by_name(".dynamic").iter_tags() if t.entry.d_tag == "DT_NEEDED"))
' hello)
[ "$needed" = "libc.musl-$machine.so.1" ] || fail "cc-built program NEEDs '$needed'"
elapsed "cc ok: program NEEDs $needed"

# C++ as setuptools drives it: compile with -O, link the objects alone. zig builds libc++ at the first C++
# link in a container: 45 s natively, about 9 minutes under QEMU, so C++ is checked on x86_64 only.
if [ "$machine" = x86_64 ]; then
    printf '#include <string>\n#include <vector>\n#include <cstdio>\nint main() { std::vector<std::string> v{"c++", "ok"};\n    std::printf("%%s %%s\\n", v[0].c_str(), v[1].c_str()); return 0; }\n' >hello.cc
    c++ -O2 -c -o hello_cc.o hello.cc
    c++ -o hello_cc hello_cc.o
    [ "$(./hello_cc)" = "c++ ok" ] || fail "c++-built program did not run"
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
build "$src"/msgpack-*.tar.gz
elapsed "msgpack wheel built"
build "$work/tinyext"
elapsed "tinyext wheel built"
ls "$work/dist"

for whl in "$work"/dist/*.whl; do
    case $whl in *-linux_"$machine".whl) ;; *) fail "unexpected wheel name $whl" ;; esac
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
ls "$work/repaired"
set -- "$work"/repaired/msgpack-*-cp311-cp311-musllinux_1_2_"$machine".whl
[ -f "$1" ] || fail "no musllinux_1_2_$machine msgpack wheel after repair"
set -- "$work"/repaired/standin_tinyext-*-cp311-cp311-musllinux_1_2_"$machine".whl
[ -f "$1" ] || fail "no musllinux_1_2_$machine tinyext wheel after repair"
python3 -m zipfile -l "$1" | grep -q 'standin_tinyext.libs/libffi' || fail "auditwheel did not graft libffi into tinyext"
python3 -m zipfile -l "$1" | grep -q 'standin_tinyext.libs/libz' && fail "auditwheel grafted libz (on the musllinux policy's list)"
elapsed "auditwheel repair ok"

python3 -m pip install --no-index --no-deps "$work"/repaired/*.whl >/dev/null
cd /
python3 - <<'PY' || fail "importing the repaired wheels"
import zlib
import msgpack
from msgpack import _cmsgpack
import tinyext
obj = {"a": [1, 2.5, "x", None, True], "b": b"\x00\xff"}
assert msgpack.unpackb(msgpack.packb(obj)) == obj
assert msgpack.Packer is _cmsgpack.Packer, "msgpack fell back to pure Python"
assert tinyext.crc32(b"musl") == zlib.crc32(b"musl")
assert tinyext.ffi_hypot(3.0, 4.0) == 5.0
assert "site-packages/standin_tinyext.libs" in open("/proc/self/maps").read(), "grafted libffi not loaded"
print("imports ok:", _cmsgpack.__file__, tinyext.__file__, "libz", tinyext.zlib_version())
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
/tmp/venv/bin/python -c 'import sys; assert sys.prefix != sys.base_prefix' || fail "python in a fresh venv"
elapsed "venv ok"
echo "SELFTEST PASSED ($machine)"
