#!/bin/bash
# Build the glibc stand-in base image 127.0.0.1:5000/standin/python:3.11-bookworm (linux/amd64 + linux/arm64)
# from Debian packages with debootstrap, because no image can be pulled on the CI machine.
#
#   tests/standins/build-glibc.sh [--force]
#
# Skips the build when the registry already holds the multi-arch tag with both platforms (--force rebuilds).
# Always ends by checking that both platforms run (arm64 under QEMU). Needs root, debootstrap, a running
# dockerd with buildx, QEMU binfmt handlers and the local registry on 127.0.0.1:5000.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../../.ci/lib.sh
. "$HERE/../../.ci/lib.sh"

REGISTRY=${MUSLWHEELS_STANDIN_REGISTRY:-127.0.0.1:5000}
REPO=standin/python
TAG=3.11-bookworm
IMAGE=$REGISTRY/$REPO:$TAG
SUITE=bookworm
ARCHES=(amd64 arm64)
INCLUDE=python3,python3-pip,python3-venv,python3-dev,python-is-python3,gcc,ca-certificates
BUILD_DIR=$CI_WORK/standins/glibc

force=0
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
        *) die "unknown argument '$arg' (only --force is accepted)" ;;
    esac
done

# 0 when the registry's manifest list for $IMAGE names every platform in ARCHES.
image_present() {
    local body arch
    body=$(curl -sf --max-time 10 \
        -H 'Accept: application/vnd.oci.image.index.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REGISTRY/v2/$REPO/manifests/$TAG") || return 1
    for arch in "${ARCHES[@]}"; do
        grep -q "\"architecture\": *\"$arch\"" <<<"$body" || return 1
    done
}

# Unmount anything debootstrap left mounted below $1 (deepest first), so the tree can be removed safely.
unmount_below() {
    local dir=$1 mnt
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
        umount -l "$mnt" || true
    done
}

clean_rootfs() {
    local dir=$1
    [ -e "$dir" ] || return 0
    unmount_below "$dir"
    rm -rf --one-file-system "$dir"
}

# debootstrap one architecture into $BUILD_DIR/<arch>/rootfs and pack it as $BUILD_DIR/<arch>/rootfs.tar.
bootstrap() {
    local arch=$1 mirror keyring dir root
    mirror=$(debian_mirror)
    keyring=$(debian_keyring)
    dir=$BUILD_DIR/$arch
    root=$dir/rootfs
    clean_rootfs "$root"
    mkdir -p "$dir" "$CI_WORK/debootstrap-cache/$arch"
    rm -f "$dir/rootfs.tar"
    local opts=(--variant=minbase "--include=$INCLUDE" "--arch=$arch" "--cache-dir=$CI_WORK/debootstrap-cache/$arch")
    [ -n "$keyring" ] && opts+=("--keyring=$keyring")
    if [ "$arch" = "$(dpkg --print-architecture)" ]; then
        debootstrap "${opts[@]}" "$SUITE" "$root" "$mirror"
    else
        # Foreign architecture: unpack on the host, then run the second stage under QEMU (binfmt handler).
        local qemu
        qemu=$(qemu_for "$arch")
        debootstrap --foreign "${opts[@]}" "$SUITE" "$root" "$mirror"
        install -m 0755 "/usr/bin/$qemu" "$root/usr/bin/$qemu"
        chroot "$root" /debootstrap/debootstrap --second-stage
        rm -f "$root/usr/bin/$qemu"
    fi
    unmount_below "$root"
    finish_rootfs "$root"
    tar --numeric-owner --xattrs -C "$root" -cf "$dir/rootfs.tar" .
    clean_rootfs "$root"
}

qemu_for() {
    case $1 in
        arm64) echo qemu-aarch64-static ;;
        *) die "no QEMU mapping for Debian architecture '$1'" ;;
    esac
}

# Make the Debian rootfs behave like the official python image for pip: no PEP 668 marker, apt sources = the
# host's entries for $SUITE (on a trixie host: its entries rewritten for $SUITE, same mirror and keyring), no
# package caches.
finish_rootfs() {
    local root=$1 sources
    rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
    [ -x "$root/usr/bin/python" ] || die "python-is-python3 did not provide /usr/bin/python in $root"
    sources=$(debian_sources_as "$SUITE") || die "no enabled 'deb' entry for this machine's suite in $DEBIAN_SOURCES"
    mkdir -p "$root/etc/apt/sources.list.d"
    printf '%s\n' "$sources" >"$root/etc/apt/sources.list.d/debian.sources"
    rm -f "$root/etc/apt/sources.list"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/tmp/*
    rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    printf '%s\n' "$SUITE" >"$root/etc/muslwheels-standin"
}

# Import $BUILD_DIR/<arch>/rootfs.tar as $IMAGE-<arch> for linux/<arch> and push it.
import_and_push() {
    local arch=$1 dir=$BUILD_DIR/$1
    cp "$HERE/glibc.Dockerfile" "$dir/Dockerfile"
    docker buildx build --builder default --platform "linux/$arch" --provenance=false --sbom=false \
        --tag "$IMAGE-$arch" --push "$dir"
    rm -f "$dir/rootfs.tar"
}

build() {
    local arch pids=() logs=() i rc=0
    mkdir -p "$BUILD_DIR"
    # Both debootstraps run at once: amd64 is mostly download and dpkg, arm64's second stage is QEMU-bound.
    for arch in "${ARCHES[@]}"; do
        log "debootstrap $SUITE for $arch (log: $BUILD_DIR/debootstrap-$arch.log)"
        bootstrap "$arch" >"$BUILD_DIR/debootstrap-$arch.log" 2>&1 &
        pids+=("$!")
        logs+=("$BUILD_DIR/debootstrap-$arch.log")
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            log "debootstrap for ${ARCHES[$i]} failed; last lines of ${logs[$i]}:"
            tail -n 30 "${logs[$i]}" >&2
            rc=1
        fi
    done
    [ "$rc" -eq 0 ] || die "debootstrap failed"
    log "debootstrap of ${ARCHES[*]} done after ${SECONDS}s"
    local sources=()
    for arch in "${ARCHES[@]}"; do
        import_and_push "$arch"
        sources+=("$IMAGE-$arch")
    done
    docker buildx imagetools create --tag "$IMAGE" "${sources[@]}"
    log "$IMAGE pushed (${ARCHES[*]}) after ${SECONDS}s"
}

# Run both platforms from the registry; the arm64 one must report aarch64 (QEMU).
check() {
    local arch out want venv_opts
    for arch in "${ARCHES[@]}"; do
        case $arch in amd64) want=x86_64 ;; arm64) want=aarch64 ;; esac
        docker pull -q --platform "linux/$arch" "$IMAGE" >/dev/null
        out=$(docker run --rm --pull=never --platform "linux/$arch" "$IMAGE" \
            python -c "import platform; print(platform.machine())")
        [ "$out" = "$want" ] || die "$IMAGE for linux/$arch reports machine '$out', expected '$want'"
        # A full venv (with ensurepip) takes ~30 s under QEMU, so the foreign platform only checks that
        # venv and ensurepip are there; the native one makes a complete venv.
        venv_opts=--without-pip
        [ "$arch" != "$(dpkg --print-architecture)" ] || venv_opts=
        docker run --rm --pull=never --platform "linux/$arch" "$IMAGE" sh -c "
            python3 -m pip --version && python3 -c 'import ensurepip' && python3 -m venv $venv_opts /tmp/v &&
            /tmp/v/bin/python -c 'import sys; assert sys.prefix == \"/tmp/v\"' && gcc --version" >/dev/null ||
            die "$IMAGE for linux/$arch lacks a working pip, venv or gcc"
        log "$IMAGE linux/$arch: platform.machine() = $out"
    done
    # Leave the host's own platform under the tag locally, so `docker run $IMAGE` without --platform is native.
    docker pull -q "$IMAGE" >/dev/null
}

http_answers "http://$REGISTRY/v2/" || die "registry $REGISTRY does not answer (start it with .ci/setup)"
if [ "$force" -eq 0 ] && image_present; then
    log "$IMAGE already in the registry with ${ARCHES[*]}; skipping the build (--force rebuilds)"
else
    build
fi
check
