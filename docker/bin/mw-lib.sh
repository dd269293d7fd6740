# Shared helpers for the musl-wheels build steps (POSIX sh: Alpine has no bash). Sourced, not run.
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
}
