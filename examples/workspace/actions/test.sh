#!/bin/sh
# Pretends to run one test suite against the built artifact.
set -eu
echo "Running ${SUITE} checks on ${ARTIFACT}"
echo "OUTPUT: {\"suite\": \"${SUITE}\", \"passed\": true}"
