# Shared helpers for the musl-wheels build steps (POSIX sh: Alpine has no bash). Sourced, not run.
# shellcheck shell=sh
set -eu
set -f  # word lists come from files: never glob them

MW_TOOLS=/opt/muslwheels-tools
MW_WHEELHOUSE=/mw/wheelhouse
MW_OUT=/mw/out
MW_DEPS=/mw/deps
MW_WORK=/mw/work
export MW_TOOLS MW_WHEELHOUSE MW_OUT MW_DEPS MW_WORK

mw_log() {
    printf 'muslwheels: %s\n' "$*"
}

mw_die() {
    printf 'muslwheels: error: %s\n' "$*" >&2
    exit 1
}

# The image's Python: python3, else python.
mw_python() {
    if command -v python3 >/dev/null 2>&1; then
        command -v python3
    elif command -v python >/dev/null 2>&1; then
        command -v python
    else
        mw_die "the base image has neither python3 nor python on PATH"
    fi
}

# pip's settings come only from the build's secrets (mounted for this step alone).
mw_pip_env() {
    PIP_CONFIG_FILE=/run/secrets/pipconf
    export PIP_CONFIG_FILE
    if [ -s /run/secrets/pipcert ]; then
        PIP_CERT=/run/secrets/pipcert
        export PIP_CERT
    fi
    if [ -s /run/secrets/pipclientcert ]; then
        PIP_CLIENT_CERT=/run/secrets/pipclientcert
        export PIP_CLIENT_CERT
    fi
    PIP_DISABLE_PIP_VERSION_CHECK=1
    PIP_NO_INPUT=1
    PIP_ROOT_USER_ACTION=ignore
    PIP_PROGRESS_BAR=off
    PIP_BREAK_SYSTEM_PACKAGES=1
    export PIP_DISABLE_PIP_VERSION_CHECK PIP_NO_INPUT PIP_ROOT_USER_ACTION PIP_PROGRESS_BAR
    export PIP_BREAK_SYSTEM_PACKAGES
}

# The module's environment from modules.toml (export lines written by build_inputs.py).
mw_module_env() {
    if [ -s /mw/recipe/env.sh ]; then
        # shellcheck disable=SC1091
        . /mw/recipe/env.sh
    fi
}

# Use ccache when the image has it (add "ccache" to the module's packages to get it).
mw_ccache() {
    for dir in /usr/lib/ccache/bin /usr/lib/ccache; do
        if [ -x "$dir/gcc" ] || [ -x "$dir/cc" ]; then
            PATH="$dir:$PATH"
            CCACHE_DIR=/root/.cache/ccache
            export PATH CCACHE_DIR
            mw_log "ccache in use ($dir)"
            return 0
        fi
    done
}

# Commands are written for "python": make sure it names the image's Python.
mw_python_on_path() {
    if ! command -v python >/dev/null 2>&1; then
        mkdir -p /mw/shim
        ln -sf "$(mw_python)" /mw/shim/python
        PATH="/mw/shim:$PATH"
        export PATH
    fi
}

# Cross mode (MW_CROSS=1): the cross environment made by mw-cross-tools; its python (and python3, pip)
# build for the target platform, and the usual variables name the target's compiler and files.
mw_cross_env() {
    [ "${MW_CROSS:-}" = 1 ] || return 0
    [ -f /mw/crossenv/bin/activate ] || mw_die "cross mode: no cross environment (mw-cross-tools did not run)"
    # shellcheck disable=SC1091
    . /mw/crossenv/bin/activate
    CC=/mw/cross/bin/cc
    CXX=/mw/cross/bin/c++
    AR=/mw/cross/bin/ar
    RANLIB=/mw/cross/bin/ranlib
    PKG_CONFIG_SYSROOT_DIR=/target
    PKG_CONFIG_LIBDIR=/target/usr/lib/pkgconfig:/target/usr/share/pkgconfig:/target/usr/local/lib/pkgconfig
    export CC CXX AR RANLIB PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
    mw_log "cross mode: building for ${MW_CROSS_TRIPLE:-the target} with $(command -v python)"
    mw_cross_rust_env
}

# Cargo's caches and limits, in both modes: the registry and git folders and the target directory are
# BuildKit cache mounts (the Dockerfile), the crate registry is reached through the CA bundle pip is given, and a
# fetch that stalls ends within the deadline instead of hanging.
mw_cargo_env() {
    command -v cargo >/dev/null 2>&1 || return 0
    CARGO_HOME=${CARGO_HOME:-/root/.cargo}
    CARGO_TARGET_DIR=/root/.cache/muslwheels-cargo-target
    CARGO_HTTP_TIMEOUT=${CARGO_HTTP_TIMEOUT:-30}
    CARGO_NET_RETRY=${CARGO_NET_RETRY:-2}
    CARGO_TERM_COLOR=never
    export CARGO_HOME CARGO_TARGET_DIR CARGO_HTTP_TIMEOUT CARGO_NET_RETRY CARGO_TERM_COLOR
    if [ -s /run/secrets/pipcert ]; then
        CARGO_HTTP_CAINFO=/run/secrets/pipcert
        SSL_CERT_FILE=/run/secrets/pipcert
        export CARGO_HTTP_CAINFO SSL_CERT_FILE
    fi
}

# Cross mode with cargo on the build platform: cargo builds for the target's Rust triple
# (MW_CROSS_RUST_TRIPLE), links with zig against /target, compiles the C of crates (cc crate) with the
# target's compiler, finds the target's OpenSSL (or LibreSSL) and Python under /target. The target's
# std: MW_RUST_STD=auto (default: installed, else rustup's, else built from rust-src), installed,
# rustup or build-std.
mw_cross_rust_env() {
    [ -n "${MW_CROSS_RUST_TRIPLE:-}" ] || return 0
    command -v cargo >/dev/null 2>&1 || return 0
    mw_cargo_env
    t=$MW_CROSS_RUST_TRIPLE
    T=$(printf '%s' "$t" | tr 'a-z-' 'A-Z_')
    u=$(printf '%s' "$t" | tr '-' '_')
    CARGO_BUILD_TARGET=$t
    export CARGO_BUILD_TARGET
    # crossenv's python puts LIBRARY_PATH and CPATH (/target) into every process it starts, and the build
    # machine's compiler would then link cargo's host programs (build scripts, proc macros) against the
    # target's files: cargo runs without them (the target's compiler, /mw/cross/bin/cc, names /target
    # itself).
    mkdir -p /mw/cross/rust
    printf '#!/bin/sh\nunset LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH\nexec %s "$@"\n' \
        "$(command -v cargo)" >/mw/cross/rust/cargo
    chmod 0755 /mw/cross/rust/cargo
    PATH=/mw/cross/rust:$PATH
    CARGO=/mw/cross/rust/cargo
    export PATH CARGO
    export "CARGO_TARGET_${T}_LINKER=/mw/cross/bin/rust-cc"
    # A Python extension (cdylib) links musl dynamically.
    export "CARGO_TARGET_${T}_RUSTFLAGS=-C target-feature=-crt-static${MW_CROSS_RUSTFLAGS:+ $MW_CROSS_RUSTFLAGS}"
    export "CC_${u}=/mw/cross/bin/cc" "CXX_${u}=/mw/cross/bin/c++" "AR_${u}=/mw/cross/bin/ar"
    # Build scripts and proc macros run on the build machine: its own compiler.
    HOST_CC=${HOST_CC:-cc}
    HOST_CXX=${HOST_CXX:-c++}
    HOST_AR=${HOST_AR:-ar}
    PKG_CONFIG_ALLOW_CROSS=1
    PYO3_CROSS_LIB_DIR=/target/usr/local/lib/python$MW_PYTHON
    PYO3_CROSS_PYTHON_VERSION=$MW_PYTHON
    export HOST_CC HOST_CXX HOST_AR PKG_CONFIG_ALLOW_CROSS PYO3_CROSS_LIB_DIR PYO3_CROSS_PYTHON_VERSION
    if [ -f /target/usr/include/openssl/opensslv.h ]; then
        # openssl-sys: the target's OpenSSL or LibreSSL (whichever the recipe installed under /target).
        export "${T}_OPENSSL_LIB_DIR=/target/usr/lib" "${T}_OPENSSL_INCLUDE_DIR=/target/usr/include"
    fi
    sysroot=$(rustc --print sysroot) || mw_die "cross mode: rustc of the build platform does not run"
    src=$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml
    std=${MW_RUST_STD:-auto}
    case $std in
        auto)
            # rustup has no std for some musl triples (s390x): then rust-src, as without rustup.
            if [ -d "$sysroot/lib/rustlib/$t/lib" ]; then
                std=installed
            elif command -v rustup >/dev/null 2>&1 && rustup target add "$t"; then
                std=rustup
            else
                std=build-std
            fi
            ;;
        installed | rustup | build-std) ;;
        *) mw_die "MW_RUST_STD=$std: use auto, installed, rustup or build-std" ;;
    esac
    case $std in
        installed)
            [ -d "$sysroot/lib/rustlib/$t/lib" ] ||
                mw_die "cross mode: no Rust std for $t is installed in $sysroot (MW_RUST_STD=installed)"
            ;;
        rustup)
            [ "${MW_RUST_STD:-auto}" = auto ] || rustup target add "$t" ||
                mw_die "cross mode: rustup target add $t failed"
            ;;
        build-std)
            [ -f "$src" ] || mw_die "cross mode: no Rust std for $t and no rust-src to build it from" \
                "($src); install the target's std (rustup target add $t) or rust-src"
            RUSTC_BOOTSTRAP=1
            CARGO_UNSTABLE_BUILD_STD="std panic_abort"
            export RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD
            ;;
    esac
    mw_log "cross mode: Rust $(rustc --version | cut -d' ' -f2) for $t, std: $std"
}
