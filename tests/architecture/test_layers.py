"""The dependency rule: import-linter contracts, and an allow-list for the pure core."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
CORE_ALLOWED_THIRD_PARTY = {"msgspec", "numpy", "jsonschema"}


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_only_stdlib_and_pure_libraries() -> None:
    graph = grimp.build_graph("domain", "application", include_external_packages=True)
    stdlib = set(sys.stdlib_module_names)
    offenders = set()
    for module in graph.modules:
        if not module.startswith(("domain", "application")):
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if top in {"domain", "application"} or top in stdlib or top in CORE_ALLOWED_THIRD_PARTY:
                continue
            offenders.add(f"{module} -> {imported}")
    assert not offenders, sorted(offenders)
