#!/usr/bin/env bash
# Installs the boot gate: makes kubelet.service require compliant-inference-boot-checks.service.
#
# cloud-init runs this user-data part in cloud-final. The unit, the kubelet drop-in and the
# environment file were written before, by the text/cloud-config part (write_files runs in
# cloud-init.service). nodeadm-run.service starts only after cloud-final.service, builds the
# RAID0 array and then starts the kubelet over D-Bus; from then on the kubelet's start job pulls
# in the checks and waits for them. See docs/platform-node.md, "Boot order".
#
# cloud-init carries on after a failing part, so this script must not merely fail: when the
# gate cannot be installed it masks kubelet.service for this boot and blocks it in /etc for
# the next ones, then writes one line starting with the rule id to the console.
#
# Environment (production defaults in brackets):
#   CI_GATE_UNIT       the checks unit [compliant-inference-boot-checks.service]
#   CI_SYSTEMD_DIR     unit directory [/etc/systemd/system]
#   CI_GATE_ENV_FILE   the checks' environment file [/etc/compliant-inference/boot-checks.env]
#   CI_CONSOLE         where the one-line verdict goes [/dev/console]
#   CI_SYSTEMCTL       the systemctl binary [systemctl]
set -o errexit -o nounset -o pipefail -o errtrace

console="${CI_CONSOLE:-/dev/console}"
unit="${CI_GATE_UNIT:-compliant-inference-boot-checks.service}"
systemd_dir="${CI_SYSTEMD_DIR:-/etc/systemd/system}"
env_file="${CI_GATE_ENV_FILE:-/etc/compliant-inference/boot-checks.env}"
systemctl_bin="${CI_SYSTEMCTL:-systemctl}"
dropin="${systemd_dir}/kubelet.service.d/90-compliant-inference-gate.conf"
blocker="${systemd_dir}/kubelet.service.d/99-compliant-inference-blocked.conf"

block_kubelet() {
  trap - ERR
  "${systemctl_bin}" mask --runtime kubelet.service >/dev/null 2>&1 || true
  mkdir -p "$(dirname "${blocker}")" 2>/dev/null || true
  printf '[Service]\nExecStartPre=/bin/false\n' >"${blocker}" 2>/dev/null || true
  printf '%s\n' "$1" >>"${console}"
  printf '%s\n' "$1" >&2
  exit 1
}
trap 'block_kubelet "NODE-2: boot gate installation failed at line ${LINENO}; kubelet blocked so the node never joins unverified"' ERR

for file in "${systemd_dir}/${unit}" "${dropin}" "${env_file}"; do
  if [[ ! -s "${file}" ]]; then
    block_kubelet "NODE-2: boot gate file ${file} is missing; kubelet blocked so the node never joins unverified"
  fi
done

# Every script the unit runs must be on disk and executable.
while IFS= read -r line; do
  script="${line#ExecStart=}"
  script="${script%% *}"
  if [[ ! -x "${script}" ]]; then
    block_kubelet "NODE-2: boot check ${script} is missing or not executable; kubelet blocked so the node never joins unverified"
  fi
done < <(grep '^ExecStart=' "${systemd_dir}/${unit}")

"${systemctl_bin}" daemon-reload

requires="$("${systemctl_bin}" show --property=Requires --value kubelet.service)"
case " ${requires} " in
  *" ${unit} "*) ;;
  *) block_kubelet "NODE-2: kubelet.service does not require ${unit} after daemon-reload; kubelet blocked so the node never joins unverified" ;;
esac

printf 'compliant-inference: boot gate installed: kubelet.service requires %s\n' "${unit}" >>"${console}"
