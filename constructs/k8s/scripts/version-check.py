"""Start-up version check (SW-1): runs as an init container in the serving image.

Compares the runtime's versions with the lock in VERSION_LOCK (JSON: python, pytorch,
cudaToolkit, nccl, triton, transformers) and fails the pod, naming every difference, when
they drift. The CUDA driver is the node's and is checked at boot (NODE-2).
"""
import json
import os
import platform
import sys


def actual_versions():
    found = {"python": platform.python_version()}
    try:
        import torch  # noqa: PLC0415

        found["pytorch"] = torch.__version__.split("+")[0]
        found["cudaToolkit"] = torch.version.cuda or "none"
        nccl = torch.cuda.nccl.version()
        found["nccl"] = ".".join(str(p) for p in nccl) if isinstance(nccl, tuple) else str(nccl)
    except ImportError:
        found["pytorch"] = found["cudaToolkit"] = found["nccl"] = "missing"
    for module, key in (("triton", "triton"), ("transformers", "transformers")):
        try:
            found[key] = __import__(module).__version__
        except ImportError:
            found[key] = "missing"
    return found


def main():
    lock = json.loads(os.environ["VERSION_LOCK"])
    found = actual_versions()
    drift = [f"{k} {found.get(k, 'missing')} != {v}" for k, v in lock.items() if found.get(k) != v]
    if drift:
        print("SW-1: runtime versions differ from the lock: " + "; ".join(drift), flush=True)
        sys.exit(1)
    print("SW-1: runtime versions match the lock: " + json.dumps(found, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
