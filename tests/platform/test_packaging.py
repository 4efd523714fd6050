"""The project as a wheel: built, installed into a fresh virtual environment, running the smoke
league from there (the same wheel a cluster's runtime env installs on its nodes)."""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import socius

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True, timeout=300)
    (wheel,) = out.glob("socius-*.whl")
    return wheel


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_installs_into_a_fresh_venv_and_runs_the_smoke_league(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    assert wheel.name == f"socius-{socius.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "socius/platform/ops/dashboard.html" in names  # package data travels
    assert not any(n.startswith(("tests/", "benchmarks/", "cluster/")) for n in names)
    metadata = zipfile.ZipFile(wheel).read(
        f"socius-{socius.__version__}.dist-info/METADATA").decode()
    assert "Requires-Dist: ray[default,rllib]" in metadata
    assert "Requires-Dist: torch<2.15,>=2.2" in metadata

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # Dependencies come from this project's environment (no downloads of torch and Ray here);
    # socius itself only from the wheel: the fresh site-packages comes first on sys.path, and
    # the project's editable install is not activated through a path added this way.
    fresh_site = next((venv / "lib").glob("python3*/site-packages"))
    (fresh_site / "_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    str(wheel)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import socius; print(socius.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(fresh_site)

    run_dir = tmp_path / "run"
    league = subprocess.run([str(venv / "bin" / "socius"), "league", "run", "--profile", "smoke",
                             "--run-dir", str(run_dir)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=400)
    assert league.returncode == 0, league.stderr[-3000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert Path(manifest["socius_location"]).is_relative_to(fresh_site)
    state = json.loads((run_dir / "league.json").read_text())["league"]
    assert state["generation"] == 1 and (run_dir / "checkpoints" / "main_0").is_dir()
    assert "main_0" in league.stdout
    # the evaluation suites travel in the wheel (package data)
    evaluation = subprocess.run([str(venv / "bin" / "socius"), "eval", "scripted:tit_for_tat",
                                 "--suite", "dilemmas", "--episodes", "1", "--partners",
                                 "always_defect"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    assert "suite dilemmas v1" in evaluation.stdout
