from __future__ import annotations

import subprocess
import sys

import unistore
from unistore import errors


def test_all_is_sorted_and_complete() -> None:
    names = [n for n in unistore.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in unistore.__all__:
        assert getattr(unistore, name) is not None


def test_every_error_derives_from_the_root() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, unistore.UnistoreError)
        assert name in unistore.__all__
    assert not issubclass(unistore.StoreUnavailableError, ConnectionError)
    assert not issubclass(unistore.StoreTimeoutError, TimeoutError)


def test_every_error_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, name


def test_import_pulls_no_client_library_and_no_product() -> None:
    # Import cost is kept low by importing only the contract eagerly; timing it
    # here would be flaky, so this checks what gets imported instead (the
    # figure itself comes from ``python -X importtime -c "import unistore"``).
    code = (
        "import sys, unistore\n"
        "heavy = ('redis', 'sqlalchemy', 'aiofiles', 'pluggy', 'importlib.metadata', 'pytest',"
        " 'asyncio', 'click', 'rich', 'unistore._registry', 'unistore._sessions')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_names_resolve_and_are_listed() -> None:
    for name in ("connect", "NamespacedStore", "SessionManager", "Conversation", "copy_store"):
        assert name in dir(unistore)
        assert getattr(unistore, name) is not None


def test_dir_lists_only_public_names() -> None:
    # A fresh interpreter: which submodules other tests imported must not matter.
    code = (
        "import types, unistore\n"
        "print('\\n'.join(dir(unistore)))\n"
        "import unistore.testing\n"
        "print('--')\n"
        "print('\\n'.join(dir(unistore)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = (part.split() for part in out.stdout.split("--"))
    assert before == sorted([*unistore.__all__, "errors", "protocols"])
    # A public submodule appears once imported; nothing private ever does.
    assert after == sorted([*before, "testing"])
    for name in after:
        assert name == "__version__" or not name.startswith("_"), name
        assert getattr(unistore, name) is not None
    for internal in ("Any", "TYPE_CHECKING", "annotations", "importlib"):
        assert internal not in after
        assert not hasattr(unistore, internal), internal
