"""The hand-written stub ``sightline/_sightline.pyi`` must describe the
compiled module ``sightline._sightline`` exactly: the same module-level
names, the same class members (methods, static methods, properties,
explicitly implemented dunders, constructors) and the same parameter names,
order and defaults (as exposed by PyO3's ``__text_signature__``). Every
test collects all drift it finds and fails once, listing all of it.

Annotations and default *values* are not compared (the runtime does not
expose types, and PyO3 renders defaults as Rust-ish text)."""

from __future__ import annotations

import ast
import inspect
import pathlib
import types
from typing import Dict, List, Optional, Tuple

import pytest

import sightline
from sightline import _sightline

PACKAGE_DIR = pathlib.Path(sightline.__file__).parent
SHIPPED_STUB = pathlib.Path(sightline.__file__).with_name("_sightline.pyi")
STUB_PATH = SHIPPED_STUB

# Module attributes every extension module has; not part of the API.
IGNORED_MODULE_DUNDERS = {
    "__doc__", "__file__", "__loader__", "__name__", "__package__", "__spec__", "__all__",
    "__builtins__", "__cached__", "__path__",
}
# Class attributes PyO3 / CPython add to every class; not part of the API.
# (``__new__`` is compared through the stub's ``__init__``, see below.)
IGNORED_CLASS_DUNDERS = {
    "__new__", "__init__", "__doc__", "__module__", "__dict__", "__weakref__",
    "__qualname__", "__text_signature__", "__annotations__", "__slots__",
}
# Parameters that are never part of a Python-visible signature.
IGNORED_PARAMS = {"self", "cls", "type", "py"}


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


# --------------------------------------------------------------- signatures --

Param = Tuple[str, str, bool]  # (name, kind, has_default)


def _params_of(args: ast.arguments) -> List[Param]:
    """(name, kind, has_default) of an ``ast.arguments``; positional-only
    parameters count as positional (PyO3 marks slot wrappers ``/``)."""
    positional = list(args.posonlyargs) + list(args.args)
    n_defaults = len(args.defaults)
    out: List[Param] = []
    for i, a in enumerate(positional):
        out.append((a.arg, "positional", i >= len(positional) - n_defaults))
    if args.vararg is not None:
        out.append((args.vararg.arg, "*args", False))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out.append((a.arg, "keyword-only", d is not None))
    if args.kwarg is not None:
        out.append((args.kwarg.arg, "**kwargs", False))
    return [p for p in out if p[0] not in IGNORED_PARAMS]


def _runtime_params(text_signature: str) -> List[Param]:
    """Parses a PyO3 ``__text_signature__`` such as
    ``($self, items, n, categories=None)``."""
    source = "def f" + text_signature.replace("$", "") + ": pass"
    func = ast.parse(source).body[0]
    assert isinstance(func, ast.FunctionDef)
    return _params_of(func.args)


def _stub_params(func: ast.FunctionDef, kind: str) -> List[Param]:
    params = _params_of(func.args)
    # The stub's receiver may be spelled anything; PyO3's is $self / $cls.
    receiver = func.args.posonlyargs + func.args.args
    if kind in ("method", "classmethod", "property") and receiver and receiver[0].arg not in IGNORED_PARAMS:
        params = params[1:]
    return params


def _fmt(params: List[Param]) -> str:
    parts = []
    for name, kind, default in params:
        prefix = {"*args": "*", "**kwargs": "**"}.get(kind, "")
        suffix = "=..." if default else ""
        parts.append(("(kw) " if kind == "keyword-only" else "") + prefix + name + suffix)
    return "(" + ", ".join(parts) + ")"


def _signature_drift(where: str, stub: List[Param], runtime: List[Param]) -> Optional[str]:
    if stub == runtime:
        return None
    lines = [f"{where}: parameters differ", f"    stub:    {_fmt(stub)}", f"    runtime: {_fmt(runtime)}"]
    stub_names = [p[0] for p in stub]
    runtime_names = [p[0] for p in runtime]
    missing = [n for n in runtime_names if n not in stub_names]
    extra = [n for n in stub_names if n not in runtime_names]
    if missing:
        lines.append(f"    missing in stub: {missing}")
    if extra:
        lines.append(f"    not in runtime:  {extra}")
    if not missing and not extra and stub_names != runtime_names:
        lines.append("    (same names, different order)")
    elif stub_names == runtime_names:
        diff = [f"{s[0]}: stub {s[1]}{'=...' if s[2] else ''} vs runtime {r[1]}{'=...' if r[2] else ''}"
                for s, r in zip(stub, runtime) if s != r]
        lines.append("    default/kind differs: " + "; ".join(diff))
    return "\n".join(lines)


# ---------------------------------------------------------------- the stub --

def _decorators(func: ast.FunctionDef) -> List[str]:
    names = []
    for d in func.decorator_list:
        if isinstance(d, ast.Name):
            names.append(d.id)
        elif isinstance(d, ast.Attribute):
            names.append(d.attr)  # e.g. ``x.setter`` -> "setter"
    return names


def _stub_member_kind(node: ast.AST) -> str:
    if isinstance(node, (ast.AnnAssign, ast.Assign)):
        return "property"
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    decorators = _decorators(node)
    if "staticmethod" in decorators:
        return "staticmethod"
    if "classmethod" in decorators:
        return "classmethod"
    if "property" in decorators or "setter" in decorators or "deleter" in decorators:
        return "property"
    return "method"


def _targets(node: ast.AST) -> List[str]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


class Stub:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.functions: Dict[str, ast.FunctionDef] = {}
        self.classes: Dict[str, ast.ClassDef] = {}
        self.variables: Dict[str, ast.AST] = {}
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node  # type: ignore[assignment]
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            else:
                for name in _targets(node):
                    self.variables[name] = node

    def api_names(self) -> Dict[str, str]:
        """Module-level name -> "function" / "class" / "variable"; private
        helper aliases (``_I = npt.NDArray[...]``) are stub-only and skipped,
        ``_``-prefixed classes are the native classes and are kept."""
        names: Dict[str, str] = {}
        for name in self.functions:
            if not name.startswith("_") or _is_dunder(name):
                names[name] = "function"
        for name in self.classes:
            names[name] = "class"
        for name in self.variables:
            if (not name.startswith("_") or _is_dunder(name)) and name not in IGNORED_MODULE_DUNDERS:
                names[name] = "variable"
        return names

    def members(self, cls: ast.ClassDef) -> Dict[str, Tuple[str, Optional[ast.FunctionDef]]]:
        out: Dict[str, Tuple[str, Optional[ast.FunctionDef]]] = {}
        for node in cls.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = _stub_member_kind(node)
                if node.name in out and kind == "property":
                    continue  # a property's setter/deleter
                out[node.name] = (kind, node)  # type: ignore[assignment]
            else:
                for name in _targets(node):
                    out[name] = ("property", None)
        return out


@pytest.fixture(scope="module")
def stub() -> Stub:
    assert STUB_PATH.is_file(), f"type stub not found at {STUB_PATH}"
    return Stub(STUB_PATH)


# ------------------------------------------------------------- the runtime --

def _runtime_api_names() -> Dict[str, str]:
    names: Dict[str, str] = {}
    for name, value in vars(_sightline).items():
        if name in IGNORED_MODULE_DUNDERS:
            continue
        if isinstance(value, type):
            names[name] = "class"
        elif name.startswith("_") and not _is_dunder(name):
            continue  # private non-class helpers are not stubbed
        elif callable(value):
            names[name] = "function"
        else:
            names[name] = "variable"
    return names


def _runtime_member_kind(value: object) -> str:
    if isinstance(value, staticmethod):
        return "staticmethod"
    if isinstance(value, classmethod) or type(value).__name__ == "classmethod_descriptor":
        return "classmethod"
    if isinstance(value, (property, types.GetSetDescriptorType, types.MemberDescriptorType)):
        return "property"
    if callable(value) or hasattr(value, "__get__"):
        return "method"
    return "property"  # a plain class attribute


def _runtime_members(cls: type) -> Dict[str, object]:
    """Attributes the native class itself defines (nothing inherited from
    ``object``): public names plus explicitly implemented dunders."""
    return {
        name: value
        for name, value in vars(cls).items()
        if name not in IGNORED_CLASS_DUNDERS and (not name.startswith("_") or _is_dunder(name))
    }


def _has_constructor(cls: type) -> bool:
    """PyO3 puts a ``__new__`` in every class's ``__dict__`` (one that raises
    "cannot create ... instances" without ``#[new]``); a real ``#[new]``
    constructor also gives the class a ``__text_signature__``."""
    return "__new__" in vars(cls) and getattr(cls, "__text_signature__", None) is not None


def _text_signature(cls: type, name: str) -> Optional[str]:
    return getattr(getattr(cls, name), "__text_signature__", None)


# ------------------------------------------------------------------- tests --

def _fail(drift: List[str]) -> None:
    if drift:
        pytest.fail(
            f"{len(drift)} drift(s) between {STUB_PATH} and the compiled module "
            f"{_sightline.__file__}:\n" + "\n".join(f"- {d}" for d in drift),
            pytrace=False,
        )


def test_module_level_names_match(stub: Stub) -> None:
    drift: List[str] = []
    stub_names = stub.api_names()
    runtime_names = _runtime_api_names()
    for name in sorted(set(runtime_names) - set(stub_names)):
        drift.append(f"{name}: {runtime_names[name]} in the module, missing from the stub")
    for name in sorted(set(stub_names) - set(runtime_names)):
        drift.append(f"{name}: {stub_names[name]} in the stub, not in the module")
    for name in sorted(set(stub_names) & set(runtime_names)):
        if stub_names[name] != runtime_names[name]:
            drift.append(f"{name}: a {stub_names[name]} in the stub, a {runtime_names[name]} in the module")
    _fail(drift)


def test_function_signatures_match(stub: Stub) -> None:
    drift: List[str] = []
    for name, node in sorted(stub.functions.items()):
        func = getattr(_sightline, name, None)
        if func is None or not callable(func):
            continue  # reported by test_module_level_names_match
        text = getattr(func, "__text_signature__", None)
        if text is None:
            drift.append(f"{name}(): the runtime exposes no __text_signature__ to compare")
            continue
        d = _signature_drift(f"{name}()", _stub_params(node, "function"), _runtime_params(text))
        if d:
            drift.append(d)
    _fail(drift)


def test_class_members_match(stub: Stub) -> None:
    drift: List[str] = []
    for cls_name, cls_node in sorted(stub.classes.items()):
        cls = getattr(_sightline, cls_name, None)
        if not isinstance(cls, type):
            continue  # reported by test_module_level_names_match
        stub_members = stub.members(cls_node)
        runtime_members = _runtime_members(cls)

        # Constructor: the stub's ``__init__`` stands for PyO3's ``#[new]``.
        stub_init = stub_members.pop("__init__", None)
        stub_members.pop("__new__", None)
        if stub_init is not None and not _has_constructor(cls):
            drift.append(f"{cls_name}.__init__: in the stub, but the native class has no #[new] "
                         "constructor (it cannot be instantiated from Python)")
        elif stub_init is None and _has_constructor(cls):
            drift.append(f"{cls_name}.__init__: the native class has a #[new] constructor "
                         f"{cls.__text_signature__}, missing from the stub")
        elif stub_init is not None and stub_init[1] is not None:
            d = _signature_drift(f"{cls_name}.__init__", _stub_params(stub_init[1], "method"),
                                 _runtime_params(cls.__text_signature__))  # type: ignore[arg-type]
            if d:
                drift.append(d)

        for name in sorted(set(runtime_members) - set(stub_members)):
            kind = _runtime_member_kind(runtime_members[name])
            drift.append(f"{cls_name}.{name}: {kind} in the native class, missing from the stub")
        for name in sorted(set(stub_members) - set(runtime_members)):
            inherited = " (only inherited from object)" if hasattr(cls, name) else ""
            drift.append(f"{cls_name}.{name}: {stub_members[name][0]} in the stub, "
                         f"not defined by the native class{inherited}")

        for name in sorted(set(stub_members) & set(runtime_members)):
            stub_kind, node = stub_members[name]
            # getattr_static: the raw descriptor (staticmethod / method_descriptor / getset).
            runtime_kind = _runtime_member_kind(inspect.getattr_static(cls, name))
            if stub_kind != runtime_kind:
                drift.append(f"{cls_name}.{name}: a {stub_kind} in the stub, a {runtime_kind} at runtime")
                continue
            if node is None or stub_kind == "property":
                continue
            text = _text_signature(cls, name)
            if text is None:
                if not _is_dunder(name):
                    drift.append(f"{cls_name}.{name}: the runtime exposes no __text_signature__ to compare")
                continue
            d = _signature_drift(f"{cls_name}.{name}", _stub_params(node, stub_kind), _runtime_params(text))
            if d:
                drift.append(d)
    _fail(drift)


def test_package_ships_py_typed() -> None:
    marker = PACKAGE_DIR / "py.typed"
    assert marker.is_file(), f"PEP 561 marker missing: {marker} (type checkers would ignore the package)"
    assert SHIPPED_STUB.is_file(), f"type stub missing: {SHIPPED_STUB}"


def test_public_names_exist_and_are_documented() -> None:
    drift: List[str] = []
    for name in sightline.__all__:
        if not hasattr(sightline, name):
            drift.append(f"sightline.{name}: listed in __all__ but not defined")
            continue
        obj = getattr(sightline, name)
        if inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj):
            # Own docstring only: a class does not inherit ``__doc__``, so an
            # undocumented exception subclass is caught here.
            doc = obj.__doc__
            if not (isinstance(doc, str) and doc.strip()):
                drift.append(f"sightline.{name}: no docstring (help() shows nothing useful)")
        elif name == "__version__":
            if not (isinstance(obj, str) and obj):
                drift.append(f"sightline.__version__: must be a non-empty str, got {obj!r}")
    if len(set(sightline.__all__)) != len(sightline.__all__):
        drift.append(f"sightline.__all__ has duplicates: {sightline.__all__}")
    _fail(drift)


def test_public_methods_and_properties_are_documented() -> None:
    """``help(sightline.X)`` documents every public method and property,
    also in the implicit drop-in ``sightline.implicit.*``."""
    import sightline.implicit as compat

    namespaces = [("sightline", sightline)] + [
        (f"sightline.implicit.{m}", getattr(compat, m)) for m in compat.__all__
    ]
    drift: List[str] = []
    for prefix, namespace in namespaces:
        for name in namespace.__all__:
            cls = getattr(namespace, name)
            if prefix != "sightline" and inspect.isroutine(cls):
                if not (inspect.getdoc(cls) or "").strip():
                    drift.append(f"{prefix}.{name}: no docstring")
            if not inspect.isclass(cls) or issubclass(cls, BaseException):
                continue
            for attr, value in inspect.getmembers(cls):
                if attr.startswith("_"):
                    continue
                if isinstance(value, property) or inspect.isroutine(value):
                    doc = inspect.getdoc(value)
                    if not (isinstance(doc, str) and doc.strip()):
                        drift.append(f"{prefix}.{name}.{attr}: no docstring")
    _fail(drift)
