"""Packaging: the wheel carries the license file and the known-deviation lists."""

import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_license_file_is_bsd_3_clause():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, the portable_ml developers" in text
    assert "Neither the name of the copyright holder nor the names of its" in text


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="77")  # the build-system requirement (PEP 639 metadata)
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "portable_ml", src / "portable_ml", ignore=shutil.ignore_patterns("__pycache__"))
    # the PEP 517 hook a build front-end calls, without build isolation (no network)
    res = subprocess.run([sys.executable, "-c", "import setuptools.build_meta as b, sys; "
                          "print(b.build_wheel(sys.argv[1]))", str(tmp / "dist")],
                         cwd=src, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "dist" / res.stdout.strip().splitlines()[-1]


def test_wheel_metadata_names_the_license_file(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = next(n.rsplit("/", 1)[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = z.read(f"{info}/METADATA").decode()
        assert "License-Expression: BSD-3-Clause" in meta.splitlines()
        assert "License-File: LICENSE" in meta.splitlines()
        assert z.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()


def test_wheel_ships_the_known_deviation_lists(wheel):
    import portable_ml

    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.startswith("portable_ml/testing/deviations/")}
    assert shipped == {f"portable_ml/testing/deviations/{b}.toml" for b in portable_ml.BACKENDS}
