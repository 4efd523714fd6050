"""Layers import downward only.

Across the package: envs (no torch, no ray) <- policies <- platform. Inside `socius/platform`,
in this order (a module may import from its own layer and the ones before it):

    files, types, runfolder             the bottom: atomic files, hand-off types, run folder paths
    data                                the rollout lake
    training                            runners, the round loop, weights
    eval                                suites, the partner zoo's games, measures
    league                              league state, matchmaking, ratings, evolution
    registry, finetune, config          MLflow mirror and registry, fine-tuning, the config tree
    run                                 a league run and its generation
    ops, cli                            dashboard, jobs, progress, the command line
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "socius"
FORBIDDEN = {
    "envs": ("torch", "ray", "socius.policies", "socius.platform"),
    "policies": ("socius.platform",),
}
PLATFORM_LAYERS = (
    ("files", "types", "runfolder"),
    ("data",),
    ("training",),
    ("eval",),
    ("league",),
    ("registry", "finetune", "config"),
    ("run",),
    ("ops", "cli"),
)


def imported_modules(path: Path) -> set[str]:
    """Every absolute import in a file, also those inside functions (a lazy import is still
    a dependency)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def platform_layer(module: str) -> int | None:
    """The layer of a `socius.platform...` module name (None outside the platform)."""
    parts = module.split(".")
    if parts[:2] != ["socius", "platform"] or len(parts) < 3:
        return None
    for index, names in enumerate(PLATFORM_LAYERS):
        if parts[2] in names:
            return index
    return None


def upward_imports(root: Path = ROOT) -> list[str]:
    """`file imports module` for every import of a platform module from a later layer, and
    for platform modules that no layer names."""
    out = []
    for path in sorted((root / "platform").rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        if module == "socius.platform":
            continue
        mine = platform_layer(module)
        if mine is None:
            out.append(f"{relative}: in no layer of PLATFORM_LAYERS")
            continue
        reported: list[str] = []
        for name in sorted(imported_modules(path)):  # a module before the names from it
            theirs = platform_layer(name)
            if theirs is not None and theirs > mine and not any(
                    name.startswith(r + ".") for r in reported):
                reported.append(name)
                out.append(f"{relative} (layer {mine}) imports {name} (layer {theirs})")
    return out


def test_layers_import_downward_only():
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            for name in imported_modules(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    violations.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert not violations, "\n".join(violations)


def test_platform_layers_import_downward_only():
    violations = upward_imports()
    assert not violations, "\n".join(violations)


def test_an_upward_import_inside_the_platform_fails(tmp_path):
    """The check itself: a copy of the package with one deliberate upward import (data
    importing the league) is caught, naming the file and both layers."""
    import shutil

    copy = tmp_path / "socius"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert upward_imports(copy) == []
    writer = copy / "platform" / "data" / "writer.py"
    writer.write_text(writer.read_text() + "\nfrom socius.platform.league.state import Member\n")
    lazy = copy / "platform" / "types.py"
    lazy.write_text(lazy.read_text() + "\n\ndef _f():\n    from socius.platform import run\n")
    assert upward_imports(copy) == [
        "socius/platform/data/writer (layer 1) imports socius.platform.league.state (layer 4)",
        "socius/platform/types (layer 0) imports socius.platform.run (layer 6)",
    ]


def test_importing_envs_loads_neither_torch_nor_ray():
    code = ("import sys, socius.envs; "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_top_level_platform_package_shadows_the_stdlib():
    assert not (ROOT.parent / "platform" / "__init__.py").exists()
