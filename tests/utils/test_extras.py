import sys

import pytest

from vlad.errors import MissingDependencyError
from vlad.utils.extras import has_module, install_hint, require_extra


def test_has_module_does_not_import() -> None:
    assert has_module("json")
    assert not has_module("vlad_no_such_module")
    assert not has_module("vlad_no_such_parent.child")


def test_a_module_blocked_in_sys_modules_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)
    assert not has_module("gradio")
    with pytest.raises(MissingDependencyError) as caught:
        require_extra("gradio", extra="demo", feature="vlad demo", library="Gradio")
    assert str(caught.value) == (
        "vlad demo needs Gradio, which is not installed; install it with pip install 'vlad[demo]'."
    )


def test_an_installed_module_passes() -> None:
    require_extra("json", extra="dev", feature="x")
    assert install_hint("faiss") == "pip install 'vlad[faiss]'"
