"""torch stays optional: the new modules import without it; using the adapter without it names the extra."""

import subprocess
import sys

import numpy as np
import pytest

from workloads.importers.errors import MissingExtraError
from workloads.torch_model import TorchModel


def test_importing_the_library_and_the_new_modules_does_not_import_torch():
    modules = (
        "accelsim",
        "workloads",
        "workloads.torch_model",
        "workloads.user_data",
        "workloads.user_task",
        "pruning.statistics",
        "accelsim.timing.bottleneck",
        "accelsim.codesign.loop",
        "accelsim.codesign.sources",
        "accelsim.cli.codesign",
    )
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_torch_the_adapter_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'accelsim\[torch\]'"):
        TorchModel(object(), np.zeros((1, 4)))  # type: ignore[arg-type]
