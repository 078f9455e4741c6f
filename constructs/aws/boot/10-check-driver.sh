#!/usr/bin/env bash
# NODE-2 boot check: the NVIDIA driver the GPUs report equals the pinned version.
#
# Run by compliant-inference-boot-checks.service, which kubelet.service requires: when this
# script exits non-zero the kubelet never starts and the node never joins the cluster.
# On failure it writes exactly one line, starting with the rule id, to the console.
#
# Environment (production defaults in brackets):
#   CI_DRIVER_PIN      driver version the node must run (required)
#   CI_EXPECTED_GPUS   GPUs the instance must report (HW-1); empty skips the count check
#   CI_CONSOLE         where the one-line verdict goes [/dev/console]
#   CI_NVIDIA_SMI      the nvidia-smi binary [nvidia-smi]
set -o errexit -o nounset -o pipefail

if [[ "${COMPLIANT_INFERENCE_GATE:-}" != "1" ]]; then
  # cloud-init runs every user-data shell part once, in cloud-final; the gate unit runs this
  # script again at the right time, so the cloud-init run has nothing to do.
  exit 0
fi

console="${CI_CONSOLE:-/dev/console}"
nvidia_smi="${CI_NVIDIA_SMI:-nvidia-smi}"
pin="${CI_DRIVER_PIN:?CI_DRIVER_PIN must name the pinned driver version}"
expected_gpus="${CI_EXPECTED_GPUS:-}"

fail() {
  printf '%s\n' "$1" >>"${console}"
  printf '%s\n' "$1" >&2
  exit 1
}

if ! versions="$("${nvidia_smi}" --query-gpu=driver_version --format=csv,noheader 2>&1)"; then
  fail "NODE-2: nvidia-smi failed, so the driver cannot be verified (pin ${pin}): $(printf '%s' "${versions}" | head -n 1)"
fi

count=0
while IFS= read -r line; do
  version="$(printf '%s' "${line}" | tr -d '[:space:]')"
  [[ -z "${version}" ]] && continue
  count=$((count + 1))
  if [[ "${version}" != "${pin}" ]]; then
    fail "NODE-2: GPU $((count - 1)) runs NVIDIA driver ${version}, the pin is ${pin}; node kept out of the cluster"
  fi
done <<<"${versions}"

if [[ "${count}" -eq 0 ]]; then
  fail "NODE-2: nvidia-smi reported no GPU, so the driver cannot be verified (pin ${pin})"
fi
if [[ -n "${expected_gpus}" && "${count}" -ne "${expected_gpus}" ]]; then
  fail "HW-1: nvidia-smi reports ${count} GPUs, the instance type has ${expected_gpus}; node kept out of the cluster"
fi

printf 'compliant-inference: NODE-2 passed: %s GPUs on driver %s\n' "${count}" "${pin}"
