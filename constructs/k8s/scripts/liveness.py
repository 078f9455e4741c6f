"""Liveness probe of an inference container (ALM-2, with the engine's own health).

Fails (exit 1, one line starting with the rule id) when any GPU the container holds uses
more raw framebuffer memory than the limit, or when the engine's health endpoint does not
answer 200. Kubernetes restarts the container after FAILURE_THRESHOLD failures in a row,
so the limit must hold for about period x threshold seconds (30 s) before a restart.

Settings come from the environment so that one script serves every engine:
  LIVENESS_GPU_MEMORY_LIMIT_PERCENT  raw memory limit, percent (90)
  LIVENESS_HEALTH_URL                the engine's health URL
  LIVENESS_NVIDIA_SMI                the nvidia-smi binary (nvidia-smi)
  LIVENESS_TIMEOUT_SECONDS           timeout of each check (3)
"""
import os
import subprocess
import sys
import urllib.request


def fail(message):
    print(message, flush=True)
    sys.exit(1)


def main():
    limit = float(os.environ.get("LIVENESS_GPU_MEMORY_LIMIT_PERCENT", "90"))
    url = os.environ.get("LIVENESS_HEALTH_URL", "http://127.0.0.1:8000/health")
    smi = os.environ.get("LIVENESS_NVIDIA_SMI", "nvidia-smi")
    timeout = float(os.environ.get("LIVENESS_TIMEOUT_SECONDS", "3"))

    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        fail(f"ALM-2: cannot read GPU memory with {smi}: {e}")
    rows = [r for r in out.strip().splitlines() if r.strip()]
    if not rows:
        fail("ALM-2: nvidia-smi reported no GPU")
    for row in rows:
        try:
            index, used, total = (float(x) for x in row.split(","))
        except ValueError:
            fail(f"ALM-2: unreadable nvidia-smi line: {row!r}")
        if total <= 0:
            fail(f"ALM-2: GPU {int(index)} reports {total} MiB of memory")
        percent = 100.0 * used / total
        if percent > limit:
            fail(f"ALM-2: GPU {int(index)} raw memory {percent:.1f}% > {limit:g}% ({used:.0f} of {total:.0f} MiB)")

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except Exception as e:  # noqa: BLE001 - any failure to answer is a failed probe
        fail(f"engine health {url} did not answer: {e}")
    if status != 200:
        fail(f"engine health {url} answered {status}")


if __name__ == "__main__":
    main()
