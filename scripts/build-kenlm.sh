#!/usr/bin/env bash
# KenLM's lmplz and build_binary, which no wheel ships (the kenlm wheel is the query module
# only), built from the kenlm sdist on PyPI into the venv's bin/. They let the tests compare
# `gristmill train-lm` with lmplz. Best effort: where Debian's boost and cmake cannot be had,
# say so and go on (those tests then skip, and fail under CI=true). About a minute on 2 cores.
set -uo pipefail

VENV=${1:-.venv}
KENLM=kenlm==0.3.0
if [ -x "$VENV/bin/lmplz" ] && [ -x "$VENV/bin/build_binary" ]; then exit 0; fi

skip() { echo "build-kenlm: $1; lmplz not built (the tests comparing with it skip, or fail under CI=true)" >&2; exit 0; }

PACKAGES="cmake g++ libboost-program-options-dev libboost-system-dev libboost-thread-dev \
libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev"
# shellcheck disable=SC2086
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq $PACKAGES >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $PACKAGES >/dev/null 2>&1; } \
      || skip "could not install $PACKAGES"
  else
    skip "needs Debian packages: $PACKAGES"
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The sdist of kenlm alone (--no-binary :all: would build its build requirements, cmake among
# them, from source), its metadata prepared in pip's own build environment: this runs while the
# venv is still being installed.
"$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary kenlm \
  "$KENLM" -d "$work" >/dev/null 2>&1 || skip "could not download the $KENLM sdist"
tar xzf "$work"/kenlm-*.tar.gz -C "$work" || skip "could not unpack the sdist"
src=$(find "$work" -maxdepth 1 -type d -name 'kenlm-*' | head -1)
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 >/dev/null 2>&1 \
  && cmake --build "$src/build" --target lmplz build_binary -j "$(nproc)" >/dev/null 2>&1 \
  || skip "the build failed"
cp "$src/build/bin/lmplz" "$src/build/bin/build_binary" "$VENV/bin/"
echo "build-kenlm: lmplz and build_binary in $VENV/bin" >&2
