"""Layers import downward only: envs (no torch, no ray) <- policies <- platform."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "socius"
FORBIDDEN = {
    "envs": ("torch", "ray", "socius.policies", "socius.platform"),
    "policies": ("socius.platform",),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_import_downward_only():
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            for name in imported_modules(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    violations.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert not violations, "\n".join(violations)


def test_importing_envs_loads_neither_torch_nor_ray():
    code = ("import sys, socius.envs; "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_top_level_platform_package_shadows_the_stdlib():
    assert not (ROOT.parent / "platform" / "__init__.py").exists()
