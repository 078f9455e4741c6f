#!/usr/bin/env bash
# W-1 / W-2 boot step: copy each configured model's weights from the weights bucket onto the
# NVMe RAID0 array, verify every file against the SHA-256 manifest stored beside the weights,
# and only then write the model's ready marker (temporary file + rename, so it is atomic).
#
# Run by compliant-inference-boot-checks.service, which kubelet.service requires: when this
# script exits non-zero the kubelet never starts, so the node never registers, and with it
# never the weights-ready labels its NodeConfig carries. On failure it writes exactly one line,
# starting with the rule id and naming the object, to the console. Progress lines (bytes, rate,
# time left) start with "compliant-inference:".
#
# Layout on the node:   ${CI_WEIGHTS_DIR}/<model>/<revision>/<files of the manifest>
#                       ${CI_WEIGHTS_DIR}/<model>/<revision>/.compliance-ready
#                       ${CI_WEIGHTS_PV_ROOT}/weights-<model>-<revision>/gpu<N>  (read-only bind mounts)
# Layout in the bucket: s3://${CI_WEIGHTS_BUCKET}/<prefix>/SHA256SUMS   (sha256sum format)
#                       s3://${CI_WEIGHTS_BUCKET}/<prefix>/<files of the manifest>
#
# Environment (production defaults in brackets):
#   CI_WEIGHTS_BUCKET            bucket name (required)
#   CI_MODELS                    space-separated name:revision:prefix entries (required)
#   CI_WEIGHTS_DIR               root of the model directories [/mnt/k8s-disks/0/models]
#   CI_RAID_MOUNT                nodeadm's RAID0 mount point [/mnt/k8s-disks/0]
#   CI_REQUIRE_RAID              1: refuse unless CI_RAID_MOUNT is an md device mount [1]
#   CI_MANIFEST_NAME             manifest object name inside each prefix [SHA256SUMS]
#   CI_READY_MARKER              ready marker file name [.compliance-ready]
#   CI_WEIGHTS_PV_ROOT           discovery root of the local volume provisioner; empty: none [/mnt/weights-pv]
#   CI_WEIGHTS_PV_COUNT          read-only bind mounts per model revision, one per GPU [8]
#   CI_AWS_CLI                   AWS CLI v2 binary [aws]
#   CI_AWS_REGION                region of the bucket [AWS_REGION, else AWS_DEFAULT_REGION]
#   CI_S3_ENDPOINT               S3 endpoint URL [the AWS CLI's default]
#   CI_S3_MAX_CONCURRENT_REQUESTS  parallel requests of one transfer [64]
#   CI_S3_MULTIPART_CHUNKSIZE    part size of ranged downloads [64MB]
#   CI_S3_MAX_BANDWIDTH          cap on the download rate, such as 500MB/s; empty: none []
#   CI_MAX_ATTEMPTS              attempts per object, first one included [5]
#   CI_BACKOFF_BASE_MS           first retry delay before jitter, in ms [2000]
#   CI_BACKOFF_MAX_MS            retry delay ceiling, in ms [60000]
#   CI_PROGRESS_INTERVAL_SECONDS seconds between progress lines [10]
#   CI_CONSOLE                   where verdict and progress go [/dev/console]
#
# Signals: systemd stops the unit by sending SIGTERM to every process of it at once, so the
# signal can land at any moment, also while bash itself is forked or expanding something. Once
# the traps are set, the main shell therefore runs no command substitution ($(...)): bash 5.2
# can run a pending trap while it is inside one, fail to parse the trap's own text ("trap: line
# 2: unexpected EOF while looking for matching `)'") and exit 2 without the verdict line. Values
# come from builtins (EPOCHREALTIME, printf -v, read from a file in ${work}) instead.
set -o errexit -o nounset -o pipefail -o errtrace

if [[ "${COMPLIANT_INFERENCE_GATE:-}" != "1" ]]; then
  # cloud-init runs every user-data shell part once, in cloud-final, before nodeadm has built
  # the RAID0 array; the gate unit runs this script again at the right time.
  exit 0
fi

console="${CI_CONSOLE:-/dev/console}"
bucket="${CI_WEIGHTS_BUCKET:?CI_WEIGHTS_BUCKET must name the weights bucket}"
models="${CI_MODELS:?CI_MODELS must list name:revision:prefix entries}"
weights_dir="${CI_WEIGHTS_DIR:-/mnt/k8s-disks/0/models}"
raid_mount="${CI_RAID_MOUNT:-/mnt/k8s-disks/0}"
require_raid="${CI_REQUIRE_RAID:-1}"
manifest_name="${CI_MANIFEST_NAME:-SHA256SUMS}"
marker_name="${CI_READY_MARKER:-.compliance-ready}"
pv_root="${CI_WEIGHTS_PV_ROOT-/mnt/weights-pv}"
pv_count="${CI_WEIGHTS_PV_COUNT:-8}"
aws_bin="${CI_AWS_CLI:-aws}"
region="${CI_AWS_REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
endpoint="${CI_S3_ENDPOINT:-}"
concurrency="${CI_S3_MAX_CONCURRENT_REQUESTS:-64}"
chunksize="${CI_S3_MULTIPART_CHUNKSIZE:-64MB}"
bandwidth="${CI_S3_MAX_BANDWIDTH:-}"
max_attempts="${CI_MAX_ATTEMPTS:-5}"
backoff_base_ms="${CI_BACKOFF_BASE_MS:-2000}"
backoff_max_ms="${CI_BACKOFF_MAX_MS:-60000}"
progress_interval="${CI_PROGRESS_INTERVAL_SECONDS:-10}"

current_model=""
current_object=""
transfer_started=""
child=""
work="$(mktemp -d)"

cleanup() {
  if [[ -n "${child}" ]]; then kill "${child}" 2>/dev/null || true; fi
  rm -rf "${work}"
}
trap cleanup EXIT

# The one verdict line: console and journal, then stop. Only the main shell writes it (a
# subshell that inherited the traps leaves the verdict to its parent), and only once: a signal
# or error that arrives while it runs returns to it instead of writing a second line.
failing=""
fail() {
  if [[ "${BASHPID}" != "$$" ]]; then exit 1; fi
  if [[ -n "${failing}" ]]; then return 0; fi
  failing=1
  trap '' TERM INT
  trap - ERR
  printf '%s\n' "$1" >>"${console}"
  printf '%s\n' "$1" >&2
  exit 1
}

progress() {
  printf 'compliant-inference: %s\n' "$1" >>"${console}"
}

on_signal() {
  fail "W-1: preload of ${current_model:-the weights} interrupted by SIG$1 while downloading ${current_object:-nothing}; no ready marker written"
}
# A command killed by the same SIGTERM fails with 143 (SIGINT: 130); name the signal, not the line.
on_error() {
  local status="$1" line="$2"
  if ((status == 143)); then on_signal TERM; fi
  if ((status == 130)); then on_signal INT; fi
  fail "W-1: preload of ${current_model:-the weights} failed at line ${line} while handling ${current_object:-nothing}; no ready marker written"
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_error "$?" "${LINENO}"' ERR

# The helpers below return their value in REPLY (no command substitution, see above).

# human_bytes <bytes>: "512 B", "4.0 KiB", "1.5 GiB" (one decimal, rounded half to even, as
# printf %.1f does).
human_bytes() {
  local b="$1" div=1 i=0 q r
  local -a units=(B KiB MiB GiB TiB)
  while ((b >= div * 1024 && i < 4)); do
    div=$((div * 1024))
    i=$((i + 1))
  done
  if ((i == 0)); then
    REPLY="${b} B"
    return 0
  fi
  q=$((b * 10 / div))
  r=$((b * 10 % div))
  if ((2 * r > div || (2 * r == div && q % 2 == 1))); then q=$((q + 1)); fi
  printf -v REPLY '%d.%d %s' "$((q / 10))" "$((q % 10))" "${units[i]}"
}

# now_ms: the wall clock in milliseconds.
now_ms() {
  local t="${EPOCHREALTIME/./}"
  REPLY=$((t / 1000))
}

# bytes_in <directory>: the bytes under the directory (du -sb); 0 if du fails.
bytes_in() {
  local size="" rest
  du -sb -- "$1" >"${work}/du" 2>/dev/null || true
  read -r size rest <"${work}/du" || true
  REPLY="${size:-0}"
}

# sha256_of <file>: the SHA-256 of the file; non-zero status if it cannot be read.
sha256_of() {
  local rest
  REPLY=""
  sha256sum <"$1" >"${work}/sum" || return 1
  read -r REPLY rest <"${work}/sum"
}

# Transfer settings for throughput: see docs/platform-node.md, "Transfer settings".
cat >"${work}/aws-config" <<CONFIG
[default]
s3 =
    max_concurrent_requests = ${concurrency}
    max_queue_size = 10000
    multipart_threshold = ${chunksize}
    multipart_chunksize = ${chunksize}
CONFIG
if [[ -n "${bandwidth}" ]]; then
  printf '    max_bandwidth = %s\n' "${bandwidth}" >>"${work}/aws-config"
fi
export AWS_CONFIG_FILE="${work}/aws-config"
export AWS_RETRY_MODE="${AWS_RETRY_MODE:-standard}"
export AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-3}"
export AWS_PAGER=""
if [[ -n "${region}" ]]; then export AWS_DEFAULT_REGION="${region}"; fi

aws_args=()
if [[ -n "${endpoint}" ]]; then aws_args+=(--endpoint-url "${endpoint}"); fi

# Runs one AWS CLI s3 command in the background, printing progress while it runs. Progress is
# the growth of the model directory against the bytes this run has to fetch.
run_s3() {
  local model_dir="$1" base_bytes="$2" total_bytes="$3"
  shift 3
  local started last now done_bytes rate left status h_done h_total h_rate
  now_ms
  last="${REPLY}"
  started="${transfer_started:-${last}}"
  "${aws_bin}" "${aws_args[@]}" s3 "$@" >"${work}/out" 2>"${work}/err" &
  child=$!
  while kill -0 "${child}" 2>/dev/null; do
    sleep 0.2
    now_ms
    now="${REPLY}"
    if ((total_bytes > 0 && now - last >= progress_interval * 1000)); then
      last="${now}"
      bytes_in "${model_dir}"
      done_bytes=$((REPLY - base_bytes))
      ((done_bytes < 0)) && done_bytes=0
      ((done_bytes > total_bytes)) && done_bytes="${total_bytes}"
      rate=$((done_bytes * 1000 / (now - started + 1)))
      if ((rate > 0)); then left="$(((total_bytes - done_bytes) / rate)) s"; else left="unknown"; fi
      human_bytes "${done_bytes}"
      h_done="${REPLY}"
      human_bytes "${total_bytes}"
      h_total="${REPLY}"
      human_bytes "${rate}"
      h_rate="${REPLY}"
      progress "W-1 ${current_model}: ${h_done} of ${h_total}, ${h_rate}/s, ${left} left"
    fi
  done
  status=0
  wait "${child}" || status=$?
  child=""
  return "${status}"
}

# backoff_ms <attempt>: exponential backoff with jitter, half the exponential delay plus a
# random share of the rest.
backoff_ms() {
  local attempt="$1" delay
  delay=$((backoff_base_ms * (1 << (attempt - 1))))
  ((delay > backoff_max_ms)) && delay="${backoff_max_ms}"
  REPLY=$((delay / 2 + (RANDOM * 32768 + RANDOM) % (delay / 2 + 1)))
}

# last_error: the last non-blank line the AWS CLI wrote to stderr, without CRs.
last_error() {
  local line=""
  REPLY=""
  while IFS= read -r line || [[ -n "${line}" ]]; do
    line="${line//$'\r'/}"
    if [[ "${line}" =~ [^[:space:]] ]]; then REPLY="${line}"; fi
  done <"${work}/err"
}

# with_retries <uri> <model_dir> <base_bytes> <total_bytes> <s3 args...>
with_retries() {
  local uri="$1" model_dir="$2" base_bytes="$3" total_bytes="$4"
  shift 4
  local attempt=1 err delay seconds
  current_object="${uri}"
  while ! run_s3 "${model_dir}" "${base_bytes}" "${total_bytes}" "$@"; do
    last_error
    err="${REPLY}"
    if ((attempt >= max_attempts)); then
      fail "W-1: could not fetch ${uri} after ${attempt} attempts: ${err:-no error text}"
    fi
    backoff_ms "${attempt}"
    delay="${REPLY}"
    progress "W-1 ${current_model}: attempt ${attempt} of ${max_attempts} for ${uri} failed (${err:-no error text}); retrying in ${delay} ms"
    printf -v seconds '%d.%03d' "$((delay / 1000))" "$((delay % 1000))"
    sleep "${seconds}"
    attempt=$((attempt + 1))
  done
}

if [[ "${require_raid}" == "1" ]]; then
  if ! mountpoint -q "${raid_mount}"; then
    fail "W-1: ${raid_mount} is not mounted: the NVMe RAID0 that nodeadm builds is missing, and weights must not land on the root volume"
  fi
  source_dev=""
  findmnt -n -o SOURCE --target "${raid_mount}" >"${work}/findmnt" || true
  read -r source_dev <"${work}/findmnt" || true
  if [[ "${source_dev}" != /dev/md* ]]; then
    fail "W-1: ${raid_mount} is backed by '${source_dev}', not the NVMe RAID0 (/dev/md*)"
  fi
  case "${weights_dir}/" in
    "${raid_mount}"/*) ;;
    *) fail "W-1: weights directory ${weights_dir} is not on the RAID0 mount ${raid_mount}" ;;
  esac
fi

read -r -a entries <<<"${models}"
for entry in "${entries[@]}"; do
  IFS=: read -r name revision prefix <<<"${entry}"
  if [[ -z "${name}" || -z "${revision}" || -z "${prefix}" ]]; then
    fail "W-1: model entry '${entry}' is not name:revision:prefix"
  fi
  prefix="${prefix%/}/"
  current_model="${name}@${revision}"
  model_dir="${weights_dir}/${name}/${revision}"
  marker="${model_dir}/${marker_name}"
  manifest_uri="s3://${bucket}/${prefix}${manifest_name}"

  # A marker from an earlier boot stays only if everything below verifies again.
  mkdir -p "${model_dir}"
  rm -f "${marker}"

  with_retries "${manifest_uri}" "${model_dir}" 0 0 cp --only-show-errors "${manifest_uri}" "${work}/manifest"
  with_retries "s3://${bucket}/${prefix}" "${model_dir}" 0 0 ls --recursive "s3://${bucket}/${prefix}"
  current_object=""
  # aws s3 ls --recursive prints "<date> <time> <size> <key>"; the key is the rest of the line.
  declare -A size_of=()
  while read -r _ _ size key; do
    if [[ -n "${key:-}" ]]; then size_of["${key}"]="${size}"; fi
  done <"${work}/out"

  files=()
  sums=()
  line_no=0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    line_no=$((line_no + 1))
    line="${line%$'\r'}"
    [[ -z "${line}" ]] && continue
    if [[ ! "${line}" =~ ^([0-9a-f]{64})\ [\ *](.+)$ ]]; then
      fail "W-2: ${manifest_uri} line ${line_no} is not '<sha256>  <path>'"
    fi
    sum="${BASH_REMATCH[1]}"
    path="${BASH_REMATCH[2]}"
    if [[ "${path}" == /* || "/${path}/" == */../* || "${path}" == "${manifest_name}" || "${path}" == *"${marker_name}"* ]]; then
      fail "W-2: ${manifest_uri} line ${line_no} names '${path}', which is outside the model directory or reserved"
    fi
    if [[ -z "${size_of["${prefix}${path}"]+set}" ]]; then
      fail "W-1: s3://${bucket}/${prefix}${path} is listed in ${manifest_name} but missing from the bucket"
    fi
    files+=("${path}")
    sums+=("${sum}")
  done <"${work}/manifest"
  if ((${#files[@]} == 0)); then
    fail "W-2: ${manifest_uri} lists no file"
  fi

  # What is already on disk and verified is kept (reboot, or a retry after a partial copy).
  need=()
  need_bytes=0
  all_bytes=0
  for i in "${!files[@]}"; do
    size="${size_of["${prefix}${files[$i]}"]}"
    all_bytes=$((all_bytes + size))
    target="${model_dir}/${files[$i]}"
    have=""
    if [[ -f "${target}" ]] && sha256_of "${target}"; then have="${REPLY}"; fi
    if [[ "${have}" == "${sums[$i]}" ]]; then
      continue
    fi
    need+=("${i}")
    need_bytes=$((need_bytes + size))
  done

  df --output=avail -B1 "${model_dir}" >"${work}/df"
  { read -r _ && read -r avail; } <"${work}/df"
  human_bytes "${need_bytes}"
  h_need="${REPLY}"
  human_bytes "${all_bytes}"
  h_all="${REPLY}"
  if ((need_bytes > avail)); then
    human_bytes "${avail}"
    fail "W-1: ${current_model} needs ${h_need} on ${weights_dir}, only ${REPLY} free"
  fi

  progress "W-1 ${current_model}: ${#need[@]} of ${#files[@]} files to fetch, ${h_need} of ${h_all}"
  bytes_in "${model_dir}"
  base_bytes="${REPLY}"
  now_ms
  transfer_started="${REPLY}"
  for i in "${need[@]}"; do
    uri="s3://${bucket}/${prefix}${files[$i]}"
    target="${model_dir}/${files[$i]}"
    mkdir -p -- "${target%/*}"
    with_retries "${uri}" "${model_dir}" "${base_bytes}" "${need_bytes}" cp --only-show-errors "${uri}" "${target}"
    sha256_of "${target}"
    actual="${REPLY}"
    if [[ "${actual}" != "${sums[$i]}" ]]; then
      rm -f -- "${target}"
      fail "W-2: checksum mismatch for ${uri}: ${manifest_name} says ${sums[$i]}, the copy has ${actual}; no ready marker written"
    fi
  done
  current_object=""
  transfer_started=""

  sha256_of "${work}/manifest"
  manifest_sum="${REPLY}"
  cp -- "${work}/manifest" "${model_dir}/${manifest_name}"
  tmp_marker="${model_dir}/.${marker_name}.tmp.$$"
  {
    printf 'model=%s\nrevision=%s\nsource=s3://%s/%s\n' "${name}" "${revision}" "${bucket}" "${prefix}"
    printf 'manifest_sha256=%s\nfiles=%s\nbytes=%s\n' "${manifest_sum}" "${#files[@]}" "${all_bytes}"
  } >"${tmp_marker}"
  sync -- "${tmp_marker}" 2>/dev/null || sync
  mv -f -- "${tmp_marker}" "${marker}"
  progress "W-2 ${current_model}: ${#files[@]} files, ${h_all} verified against ${manifest_name}; ready"
  unset size_of
done

# W-3: expose each verified revision as read-only bind mounts, one per GPU, in the discovery
# directory of the local volume provisioner (storage class weights-<model>-<revision>). Pods
# claim them as PersistentVolumes instead of a hostPath. Only after every model is ready.
if [[ -n "${pv_root}" ]]; then
  for entry in "${entries[@]}"; do
    IFS=: read -r name revision _ <<<"${entry}"
    current_model="${name}@${revision}"
    class="weights-${name}-${revision}"
    class="${class,,}"
    for ((gpu = 0; gpu < pv_count; gpu++)); do
      mount_dir="${pv_root}/${class}/gpu${gpu}"
      current_object="${mount_dir}"
      mkdir -p "${mount_dir}"
      if mountpoint -q "${mount_dir}"; then continue; fi
      if ! mount --bind "${weights_dir}/${name}/${revision}" "${mount_dir}" ||
        ! mount -o remount,bind,ro "${mount_dir}"; then
        umount "${mount_dir}" 2>/dev/null || true
        fail "W-3: could not bind ${weights_dir}/${name}/${revision} read-only at ${mount_dir}; the weights of ${current_model} cannot be offered to pods"
      fi
    done
  done
  current_object=""
  progress "W-3: weights exposed read-only under ${pv_root} for ${#entries[@]} model(s)"
fi
