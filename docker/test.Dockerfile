# musl-wheels: the test step of one target, after its wheel was built and repaired.
#
# Driven by src/muslwheels/wheeltest/; nothing of the build stage is here: every stage starts FROM the
# target's base image on the target's platform (QEMU for a foreign one, in every build mode). The context
# is this directory (docker/).
#
# Build args
#   BASE_IMAGE    the target's Python base image (required)
#   MW_FRESH      any new value runs the test again instead of taking it from the layer cache (--force)
#   MW_QEMU_CPU   the CPU QEMU emulates for the platform (QEMU_CPU; from the architecture table, empty for
#                 QEMU's default): armv6's arm1176, so the probe and the test run on an ARMv6 CPU, which
#                 says armv6l, and ARMv7 code in the wheel fails there
#
# Named build contexts (--build-context NAME=DIR)
#   closure       the target's wheel and its whole runtime closure (pip installs from here alone)
#   testrecipe    files written by the test step (src/muslwheels/wheeltest/): requirement (what to pip install), test.sh (the test
#                 command, or the default imports), test_requires (one requirement a line),
#                 needed (the ELF NEEDED libraries the wheel does not provide itself, one a line),
#                 runtime.apk / runtime.apt (system packages installed before the test),
#                 packages.apk / packages.apt (the module's build packages: where the owners stage
#                 looks for the libraries' packages)
#
# Secrets: pipconf, pipcert, pipclientcert as in Dockerfile (test_requires only). An index on the
# loopback: the build runs with --network host, as the wheel's build does.
#
# Stages (--target)
#   probe         /probe.json: the interpreter's marker variables and the wheel tags it accepts
#   owners        /owners.txt: "missing <lib>" for every needed library the clean image lacks, then
#                 the package manager's answer for who owns it once the build packages are installed
#   report        /report.txt: what the test did (the last stage)

ARG BASE_IMAGE

FROM ${BASE_IMAGE} AS clean
COPY bin/mw-lib.sh /mw/bin/

# ---- probe --------------------------------------------------------------------------------------
FROM clean AS probe-run
ARG MW_QEMU_CPU=
COPY bin/mw-probe /mw/bin/
RUN ${MW_QEMU_CPU:+env QEMU_CPU=$MW_QEMU_CPU} /mw/bin/mw-probe >/mw/probe.json

FROM scratch AS probe
COPY --from=probe-run /mw/probe.json /

# ---- owners: which package holds each library the wheel needs and the clean image lacks ------------
FROM clean AS owners-run
ARG TARGETPLATFORM
ARG BASE_IMAGE
COPY bin/mw-packages bin/mw-owners /mw/bin/
COPY --from=testrecipe needed packages.apk packages.apt /mw/recipe/
RUN --mount=type=cache,id=muslwheels-apk-${TARGETPLATFORM},target=/var/cache/apk,sharing=locked \
    --mount=type=cache,id=muslwheels-apt-${TARGETPLATFORM},target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=muslwheels-aptlists-${TARGETPLATFORM},target=/var/lib/apt/lists,sharing=locked \
    MW_BASE_IMAGE="${BASE_IMAGE}" /mw/bin/mw-owners >/mw/owners.txt

FROM scratch AS owners
COPY --from=owners-run /mw/owners.txt /

# ---- the test -----------------------------------------------------------------------------------
FROM clean AS tested
ARG TARGETPLATFORM
ARG MW_QEMU_CPU=
ARG MW_FRESH=
COPY bin/mw-test /mw/bin/
RUN --mount=type=secret,id=pipconf --mount=type=secret,id=pipcert --mount=type=secret,id=pipclientcert \
    --mount=type=cache,id=muslwheels-apk-${TARGETPLATFORM},target=/var/cache/apk,sharing=locked \
    --mount=type=cache,id=muslwheels-apt-${TARGETPLATFORM},target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=muslwheels-aptlists-${TARGETPLATFORM},target=/var/lib/apt/lists,sharing=locked \
    --mount=type=bind,from=closure,target=/mw/closure \
    --mount=type=bind,from=testrecipe,target=/mw/test \
    ${MW_QEMU_CPU:+env QEMU_CPU=$MW_QEMU_CPU} /mw/bin/mw-test

FROM scratch AS report
COPY --from=tested /mw/report.txt /
