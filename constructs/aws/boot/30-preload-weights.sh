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

# The one verdict line: console and journal, then stop.
fail() {
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
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'fail "W-1: preload of ${current_model:-the weights} failed at line ${LINENO} while handling ${current_object:-nothing}; no ready marker written"' ERR

human_bytes() {
  awk -v b="$1" 'BEGIN {
    split("B KiB MiB GiB TiB", u, " "); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i]
  }'
}

now_ms() {
  local t="${EPOCHREALTIME/./}"
  printf '%s' "$((t / 1000))"
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
  local started last now done_bytes rate left status
  started="${transfer_started:-$(now_ms)}"
  last="$(now_ms)"
  "${aws_bin}" "${aws_args[@]}" s3 "$@" >"${work}/out" 2>"${work}/err" &
  child=$!
  while kill -0 "${child}" 2>/dev/null; do
    sleep 0.2
    now="$(now_ms)"
    if ((total_bytes > 0 && now - last >= progress_interval * 1000)); then
      last="${now}"
      done_bytes=$(($(du -sb "${model_dir}" | cut -f1) - base_bytes))
      ((done_bytes < 0)) && done_bytes=0
      ((done_bytes > total_bytes)) && done_bytes="${total_bytes}"
      rate=$((done_bytes * 1000 / (now - started + 1)))
      if ((rate > 0)); then left="$(((total_bytes - done_bytes) / rate)) s"; else left="unknown"; fi
      progress "W-1 ${current_model}: $(human_bytes "${done_bytes}") of $(human_bytes "${total_bytes}"), $(human_bytes "${rate}")/s, ${left} left"
    fi
  done
  status=0
  wait "${child}" || status=$?
  child=""
  return "${status}"
}

# Exponential backoff with jitter: half the exponential delay, plus a random share of the rest.
backoff_ms() {
  local attempt="$1" delay
  delay=$((backoff_base_ms * (1 << (attempt - 1))))
  ((delay > backoff_max_ms)) && delay="${backoff_max_ms}"
  printf '%s' "$((delay / 2 + (RANDOM * 32768 + RANDOM) % (delay / 2 + 1)))"
}

# with_retries <uri> <model_dir> <base_bytes> <total_bytes> <s3 args...>
with_retries() {
  local uri="$1" model_dir="$2" base_bytes="$3" total_bytes="$4"
  shift 4
  local attempt=1 err delay
  current_object="${uri}"
  while ! run_s3 "${model_dir}" "${base_bytes}" "${total_bytes}" "$@"; do
    err="$(tr -d '\r' <"${work}/err" | grep -v '^[[:space:]]*$' | tail -n 1 || true)"
    if ((attempt >= max_attempts)); then
      fail "W-1: could not fetch ${uri} after ${attempt} attempts: ${err:-no error text}"
    fi
    delay="$(backoff_ms "${attempt}")"
    progress "W-1 ${current_model}: attempt ${attempt} of ${max_attempts} for ${uri} failed (${err:-no error text}); retrying in ${delay} ms"
    sleep "$(awk -v ms="${delay}" 'BEGIN { printf "%.3f", ms / 1000 }')"
    attempt=$((attempt + 1))
  done
}

if [[ "${require_raid}" == "1" ]]; then
  if ! mountpoint -q "${raid_mount}"; then
    fail "W-1: ${raid_mount} is not mounted: the NVMe RAID0 that nodeadm builds is missing, and weights must not land on the root volume"
  fi
  source_dev="$(findmnt -n -o SOURCE --target "${raid_mount}" || true)"
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
    if [[ -f "${target}" ]] && [[ "$(sha256sum -- "${target}" | cut -d' ' -f1)" == "${sums[$i]}" ]]; then
      continue
    fi
    need+=("${i}")
    need_bytes=$((need_bytes + size))
  done

  avail="$(df --output=avail -B1 "${model_dir}" | tail -n 1 | tr -d ' ')"
  if ((need_bytes > avail)); then
    fail "W-1: ${current_model} needs $(human_bytes "${need_bytes}") on ${weights_dir}, only $(human_bytes "${avail}") free"
  fi

  progress "W-1 ${current_model}: ${#need[@]} of ${#files[@]} files to fetch, $(human_bytes "${need_bytes}") of $(human_bytes "${all_bytes}")"
  base_bytes="$(du -sb "${model_dir}" | cut -f1)"
  transfer_started="$(now_ms)"
  for i in "${need[@]}"; do
    uri="s3://${bucket}/${prefix}${files[$i]}"
    target="${model_dir}/${files[$i]}"
    mkdir -p "$(dirname "${target}")"
    with_retries "${uri}" "${model_dir}" "${base_bytes}" "${need_bytes}" cp --only-show-errors "${uri}" "${target}"
    actual="$(sha256sum -- "${target}" | cut -d' ' -f1)"
    if [[ "${actual}" != "${sums[$i]}" ]]; then
      rm -f -- "${target}"
      fail "W-2: checksum mismatch for ${uri}: ${manifest_name} says ${sums[$i]}, the copy has ${actual}; no ready marker written"
    fi
  done
  current_object=""
  transfer_started=""

  manifest_sum="$(sha256sum -- "${work}/manifest" | cut -d' ' -f1)"
  cp -- "${work}/manifest" "${model_dir}/${manifest_name}"
  tmp_marker="${model_dir}/.${marker_name}.tmp.$$"
  {
    printf 'model=%s\nrevision=%s\nsource=s3://%s/%s\n' "${name}" "${revision}" "${bucket}" "${prefix}"
    printf 'manifest_sha256=%s\nfiles=%s\nbytes=%s\n' "${manifest_sum}" "${#files[@]}" "${all_bytes}"
  } >"${tmp_marker}"
  sync -- "${tmp_marker}" 2>/dev/null || sync
  mv -f -- "${tmp_marker}" "${marker}"
  progress "W-2 ${current_model}: ${#files[@]} files, $(human_bytes "${all_bytes}") verified against ${manifest_name}; ready"
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
