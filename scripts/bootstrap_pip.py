"""Install pip into a virtual environment made with ``--without-pip``, from PyPI.

Debian and Ubuntu ship Python without ``ensurepip`` unless ``python3-venv`` is installed, so
``python3 -m venv`` fails there. The ``venv`` module itself is present: make the environment
without pip, then run pip's own wheel (a wheel is a zip file Python can run) to install it.
Standard library only. Usage: python3 scripts/bootstrap_pip.py .venv/bin/python
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/pypi/pip/json"


def main(python: str) -> int:
    with urllib.request.urlopen(INDEX, timeout=60) as answer:
        release = json.load(answer)
    wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / wheel["filename"]
        url = urllib.parse.urljoin(INDEX, wheel["url"])  # mirrors may answer relative URLs
        with urllib.request.urlopen(url, timeout=120) as answer:
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
            print(f"bootstrap_pip: {wheel['filename']} does not match its sha256", file=sys.stderr)
            return 1
        path.write_bytes(data)
        command = [python, f"{path}/pip", "install", "--quiet", "--no-index", str(path)]
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
