#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, then the npm packages from the
# lock file. Idempotent: tools already present are not installed again.
#   - the shellcheck linter, on every shell part of the node user data;
#   - promtool, to check and unit-test the Prometheus rules (Debian package `prometheus`);
#   - /usr/bin/aws, AWS CLI v2 (Debian package `awscli`), the client the boot preload uses;
#   - jq, which the weights-volume recycler runs (its test runs the script for real).
# moto_server and cfn-lint come with the machine image (Python).
set -euo pipefail

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v jq >/dev/null 2>&1 || missing+=(jq)
[ -x /usr/bin/aws ] || missing+=(awscli)

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in moto_server cfn-lint; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-tools: $tool is not on the PATH (pip install 'moto[server]' cfn-lint)" >&2; exit 1; }
done

npm ci --no-audit --no-fund
