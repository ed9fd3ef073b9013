"""The local constructs/ folder extends the constructs library package without shadowing it."""

from __future__ import annotations

from pathlib import Path

import constructs
import constructs.web_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_library_and_local_modules_both_resolve():
    assert constructs.Construct.__module__ == "constructs"
    assert Path(constructs.__file__).parent != PROJECT_ROOT / "constructs"
    assert Path(constructs.web_server.__file__).parent == PROJECT_ROOT / "constructs"


def test_local_folder_is_not_a_regular_package():
    assert not (PROJECT_ROOT / "constructs" / "__init__.py").exists()


def test_local_module_names_do_not_clash_with_the_library():
    library_dir = Path(constructs.__file__).parent
    library_names = {p.stem for p in library_dir.iterdir()}
    local_names = {p.stem for p in (PROJECT_ROOT / "constructs").glob("*.py")}
    assert local_names
    assert not local_names & library_names
