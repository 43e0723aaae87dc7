#!/bin/sh
# Pretends to build an artifact and returns its description as the output.
set -eu
echo "Building version ${VERSION}"
echo "Compiling..."
echo "OUTPUT: {\"artifact\": {\"name\": \"app-${VERSION}.tar.gz\", \"version\": \"${VERSION}\"}}"
