#!/bin/sh
# Pretends to deploy the artifact to an environment.
set -eu
echo "Deploying ${ARTIFACT} (version ${VERSION}) to ${ENVIRONMENT}"
echo "OUTPUT: {\"environment\": \"${ENVIRONMENT}\", \"url\": \"https://${ENVIRONMENT}.example.com\"}"
