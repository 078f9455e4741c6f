#!/usr/bin/env bash
# NODE-3 boot check: on an NVSwitch system (p4d) the NVIDIA fabric manager is active and its
# version equals the driver's. A mismatch leaves CUDA unable to initialise the GPUs.
#
# Run by compliant-inference-boot-checks.service, which kubelet.service requires: when this
# script exits non-zero the kubelet never starts and the node never joins the cluster.
# On failure it writes exactly one line, starting with the rule id, to the console.
#
# Environment (production defaults in brackets):
#   CI_FM_SERVICE        the fabric manager unit [nvidia-fabricmanager.service]
#   CI_FM_WAIT_SECONDS   how long to wait for the unit to become active, in seconds [120]
#   CI_CONSOLE           where the one-line verdict goes [/dev/console]
#   CI_NVIDIA_SMI        the nvidia-smi binary [nvidia-smi]
#   CI_FM_BINARY         the fabric manager binary [nv-fabricmanager]
#   CI_SYSTEMCTL         the systemctl binary [systemctl]
set -o errexit -o nounset -o pipefail

if [[ "${COMPLIANT_INFERENCE_GATE:-}" != "1" ]]; then
  # cloud-init runs every user-data shell part once, in cloud-final; the gate unit runs this
  # script again at the right time, so the cloud-init run has nothing to do.
  exit 0
fi

console="${CI_CONSOLE:-/dev/console}"
service="${CI_FM_SERVICE:-nvidia-fabricmanager.service}"
wait_seconds="${CI_FM_WAIT_SECONDS:-120}"
nvidia_smi="${CI_NVIDIA_SMI:-nvidia-smi}"
fm_binary="${CI_FM_BINARY:-nv-fabricmanager}"
systemctl_bin="${CI_SYSTEMCTL:-systemctl}"

fail() {
  printf '%s\n' "$1" >>"${console}"
  printf '%s\n' "$1" >&2
  exit 1
}

# The unit is enabled in the image and may still be starting: wait for it, within a bound.
deadline=$((SECONDS + wait_seconds))
until "${systemctl_bin}" is-active --quiet "${service}"; do
  if ((SECONDS >= deadline)); then
    state="$("${systemctl_bin}" is-active "${service}" 2>/dev/null || true)"
    fail "NODE-3: ${service} is not active after ${wait_seconds} s (state: ${state:-unknown}); NVSwitch GPUs unusable, node kept out of the cluster"
  fi
  sleep 1
done

if ! driver_out="$("${nvidia_smi}" --query-gpu=driver_version --format=csv,noheader 2>&1)"; then
  fail "NODE-3: nvidia-smi failed, so the fabric manager cannot be compared with the driver"
fi
driver="$(printf '%s\n' "${driver_out}" | head -n 1 | tr -d '[:space:]')"

if ! fm_out="$("${fm_binary}" --version 2>&1)"; then
  fail "NODE-3: '${fm_binary} --version' failed, so its version cannot be verified against driver ${driver}"
fi
fm_version="$(printf '%s\n' "${fm_out}" | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)"

if [[ -z "${fm_version}" ]]; then
  fail "NODE-3: no version found in the output of '${fm_binary} --version'; driver is ${driver}"
fi
if [[ "${fm_version}" != "${driver}" ]]; then
  fail "NODE-3: fabric manager ${fm_version} does not match driver ${driver}; node kept out of the cluster"
fi

printf 'compliant-inference: NODE-3 passed: fabric manager %s active, equal to the driver\n' "${fm_version}"
