"""Publishing a release to a pyarrow filesystem URI (here `file://`): whole, hash-checked, manifest last."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.publish import MANIFEST, publish
from pipeline.tables import ReleaseError
from pipeline.verify import verify_release


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_published_release_is_the_same_release(planted_release, tmp_path):
    release, _, _ = planted_release
    dest = tmp_path / "bucket" / "releases" / "r1"
    where = publish(release, dest.as_uri())  # file:///...: resolved by pyarrow.fs.FileSystem.from_uri
    assert Path(where) == dest / MANIFEST
    assert _tree(dest) == _tree(release)  # documents, ledger, evidence, index, manifest: byte for byte
    assert verify_release(dest, None).ok
    with pytest.raises(ReleaseError, match="immutable"):
        publish(release, dest.as_uri())


def test_a_corrupt_file_is_not_published_as_a_release(planted_release, tmp_path):
    release, manifest, _ = planted_release
    broken = tmp_path / "broken"
    shutil.copytree(release, broken)
    part = broken / next(f["path"] for f in manifest["files"] if f["table"] == "ledger")
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot after the build
    part.write_bytes(bytes(data))
    dest = tmp_path / "published"
    with pytest.raises(ReleaseError, match="differs from the manifest"):
        publish(broken, dest.as_uri())
    assert not (dest / MANIFEST).exists()  # readers wait for the manifest: they never see this copy
    shutil.copyfile(release / part.relative_to(broken), part)  # repaired: publishing again completes it
    publish(broken, dest.as_uri())
    assert _tree(dest) == _tree(release)


def test_the_cli_publishes_and_refuses_what_it_cannot(planted_release, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    release, _, _ = planted_release
    runner = CliRunner()
    dest = tmp_path / "store" / "r1"
    result = runner.invoke(app, ["release", "publish", str(release), dest.as_uri()])
    assert result.exit_code == 0, result.output
    assert _tree(dest) == _tree(release)
    again = runner.invoke(app, ["release", "publish", str(release), dest.as_uri()])
    assert again.exit_code == 2 and "immutable" in again.output
    nowhere = runner.invoke(app, ["release", "publish", str(tmp_path / "missing"), (tmp_path / "x").as_uri()])
    assert nowhere.exit_code == 2 and "is not a release" in nowhere.output
    unknown = runner.invoke(app, ["release", "publish", str(release), "nosuchscheme://bucket/r1"])
    assert unknown.exit_code == 2 and "error" in unknown.output and "Traceback" not in unknown.output
