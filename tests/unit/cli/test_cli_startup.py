"""`hyp` starts fast because heavy libraries are imported only by the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["kubernetes", "pydantic", "rich", "boto3", "botocore", "yaml", "urllib3", "psutil"]


def _loaded_after(code: str) -> list[str]:
    probe = f"""
import json, sys
{code}
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_loading_the_cli_imports_none_of_the_heavy_libraries() -> None:
    assert _loaded_after("import hyperpod.cli.main") == []


def test_help_imports_none_of_the_heavy_libraries() -> None:
    code = "from hyperpod.cli.main import cli\ntry:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_listing_local_stacks_needs_neither_the_kubernetes_client_nor_pydantic() -> None:
    code = (
        "import os, tempfile\nos.environ['HYPERPOD_HOME'] = tempfile.mkdtemp()\n"
        "from hyperpod.cli.main import cli\n"
        "try:\n    cli.main(['list', 'cluster-stack'], standalone_mode=False)\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert "kubernetes" not in loaded and "pydantic" not in loaded
