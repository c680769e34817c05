#!/usr/bin/env bash
# Builds the roster image (FROM scratch, static binary): docker-build.sh [TAG]
# The build context holds only the binary and an empty data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-roster:dev}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
scripts/build.sh "$ctx/roster"
mkdir "$ctx/data"
cp Dockerfile "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "built $tag"
