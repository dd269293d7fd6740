#!/bin/sh
# Self-test of the stand-in's rust packages, in a container of the platform (tests/standins/build-musl-rust.sh):
# apk installs them, rustc and cargo answer, and a host program (like a build script) links and runs.
set -eu
apk add cargo
rustc -vV
cargo -V
src=$(rustc --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml
[ -f "$src" ] || { echo "rust-src: no $src" >&2; exit 1; }
# quick (under QEMU): the tools answer and rust-src is there; full: a host program links and runs too.
[ "${1:-full}" = full ] || exit 0
cd /tmp
printf 'fn main() { let v: Vec<u32> = (1..4).collect(); println!("host program ran: {:?}", v); }\n' >host.rs
rustc -C linker=/usr/lib/muslwheels-standin/rust/bin/host-cc host.rs -o host
./host
