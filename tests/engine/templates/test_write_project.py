"""`write_project`, the writer behind `tektii strategy init`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tektii_core.contracts import TektiiError
from tektii_engine.templates import template_dir, template_files, write_project

SPEC_DOCKERFILE = """FROM python:3.11-slim

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
CMD ["python", "main.py"]
"""


@pytest.mark.parametrize("name", ["ma-crossover", "rsi-momentum"])
def test_writes_a_complete_project(tmp_path, name):
    dest = tmp_path / "new" / "project"
    written = write_project(name, dest)
    relative = sorted(p.relative_to(dest).as_posix() for p in written)
    module = name.replace("-", "_")
    assert relative == sorted(
        [".dockerignore", "Dockerfile", "README.md", "main.py", f"{module}.py", f"test_{module}.py", "requirements.txt"]
    )
    for path in written:
        assert path.read_bytes() == (template_dir(name) / path.relative_to(dest)).read_bytes()
    assert (dest / "Dockerfile").read_text() == SPEC_DOCKERFILE
    assert (dest / "requirements.txt").read_text().split() == ["tektii>=1.9,<2", "sniffio>=1.3"]
    readme = (dest / "README.md").read_text()
    for command in ("tektii strategy create", "tektii version upload", "tektii scenario create", "tektii scenario get"):
        assert command in readme


@pytest.mark.parametrize("name", ["ma-crossover", "rsi-momentum"])
def test_written_project_tests_pass(tmp_path, name):
    write_project(name, tmp_path)
    done = subprocess.run([sys.executable, "-m", "unittest", "-v"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stderr and "Ran 0 tests" not in done.stderr


def test_refuses_to_overwrite_and_lists_every_existing_file(tmp_path):
    (tmp_path / "main.py").write_text("mine")
    (tmp_path / "Dockerfile").write_text("FROM scratch")
    (tmp_path / "notes.txt").write_text("unrelated")
    with pytest.raises(TektiiError) as raised:
        write_project("ma-crossover", tmp_path)
    assert raised.value.message == (f"Refusing to overwrite existing files: {tmp_path / 'Dockerfile'}, {tmp_path / 'main.py'}")
    assert "--force" in raised.value.hint
    # nothing was written
    assert (tmp_path / "main.py").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile", "main.py", "notes.txt"]


def test_force_overwrites_and_keeps_other_files(tmp_path):
    (tmp_path / "main.py").write_text("mine")
    (tmp_path / "notes.txt").write_text("unrelated")
    write_project("rsi-momentum", tmp_path, force=True)
    assert (tmp_path / "main.py").read_bytes() == (template_dir("rsi-momentum") / "main.py").read_bytes()
    assert (tmp_path / "notes.txt").read_text() == "unrelated"


def test_unknown_template(tmp_path):
    with pytest.raises(TektiiError) as raised:
        write_project("mean-reversion", tmp_path)
    assert raised.value.message == "Unknown template 'mean-reversion'"
    prefix = "Available templates: "  # every registered one: the built-ins, and the example plugin's when installed
    assert raised.value.hint.startswith(prefix)
    assert {"ma-crossover", "rsi-momentum"} <= set(raised.value.hint[len(prefix):].split(", "))
    assert list(tmp_path.iterdir()) == []


def test_destination_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(TektiiError, match="is not a directory"):
        write_project("ma-crossover", target)


def test_a_directory_in_the_way_is_refused_even_with_force(tmp_path):
    (tmp_path / "main.py").mkdir()
    with pytest.raises(TektiiError, match="Cannot write files where directories exist"):
        write_project("ma-crossover", tmp_path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.py"]


def test_caches_are_not_part_of_a_template(tmp_path):
    cache = template_dir("ma-crossover") / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "junk.cpython-311.pyc").write_bytes(b"x")
    try:
        assert all("__pycache__" not in p.parts for p in template_files("ma-crossover"))
    finally:
        (cache / "junk.cpython-311.pyc").unlink()
