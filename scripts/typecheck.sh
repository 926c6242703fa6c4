#!/bin/sh
# mypy over gristmill's packages as they are imported (gristmill.pipeline, gristmill.jobs, ...).
# The repository's folders install under the gristmill namespace through setuptools'
# package-dir mapping, which mypy cannot follow: a tree of links in build/typecheck mirrors the
# installed layout, so every import between the packages resolves and is checked.
set -eu
mypy=${1:-.venv/bin/mypy}
root=$(cd "$(dirname "$0")/.." && pwd)
tree="$root/build/typecheck"
rm -rf "$tree"
mkdir -p "$tree/gristmill"
cp "$root/gristmill/__init__.py" "$tree/gristmill/"
for package in pipeline filters schemas jobs; do
    ln -s "$root/$package" "$tree/gristmill/$package"
done
case "$mypy" in /*) ;; *) mypy="$root/$mypy" ;; esac
cd "$tree"
exec "$mypy" --config-file "$root/pyproject.toml" \
    -p gristmill.pipeline -p gristmill.filters -p gristmill.schemas -p gristmill.jobs
