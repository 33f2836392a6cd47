#!/usr/bin/env python3
"""Structure metrics of the project's own package, against the targets of issue 17.

Standard library only (``ast``). Over the package's tracked Python files (``git ls-files '*.py'`` under the package
directory; a plain directory walk when the root is not a git work tree) it measures:

* **complex functions** — functions and methods whose cyclomatic complexity exceeds ``--cc-limit`` (15). The count
  follows radon's rules: 1, plus 1 per ``if``/``elif``/conditional expression, per ``for``/``while`` (and 1 more for
  their ``else``), per ``except`` handler (and 1 for a ``try``'s ``else``), per ``assert``, per ``case`` of a
  ``match``, per extra operand of ``and``/``or``, and per comprehension ``for`` and its ``if`` clauses. Unlike radon,
  a function nested in another is measured on its own and does not add to its parent.
* **local imports** — ``import``/``from ... import`` statements of the package's own modules inside a function body
  (relative imports count as own).
* **import cycles** — strongly connected components of more than one module (or a module importing itself) in the
  graph of the package's imports of its own modules. Module-level and function-local imports are edges (a local
  import hides a cycle, it does not remove it); imports under ``if TYPE_CHECKING:`` are not (they never run). An
  edge goes to the module named: ``from pkg.sub import mod`` -> ``pkg.sub.mod`` when that is a module, else
  ``pkg.sub``; parent packages run implicitly are not edges (as in import-linter/grimp).
* **environment reads outside the settings module** — ``os.environ``, ``os.getenv``, ``os.putenv``, ``os.unsetenv``
  and ``from os import environ/getenv/...`` in any file but ``--settings-module`` (``config.py``).
* **private Dagster imports** — imports from a ``dagster``/``dagster_*`` module with a ``_``-prefixed part
  (``dagster._core...``), or of a ``_``-prefixed name from one (``from dagster import _check``).

Usage::

    python tools/code_metrics.py            # table + details
    python tools/code_metrics.py --json     # one JSON document (shape: see ``report_dict``)
    python tools/code_metrics.py --check    # also exit 1 when a target is missed

Targets (issue 17 "Done when"): complex functions <= 15, local imports <= 10, no cycle, no environment read outside
the settings module; private Dagster imports must not exceed ``--max-dagster-private`` (16, the count when the
issue was filed: a ratchet, the issue sets no figure). Exit codes: 0 ok (or no ``--check``), 1 a target missed,
2 bad arguments or a file that does not parse.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_PACKAGE = "easycrm_pipeline"
DEFAULT_SETTINGS = "config.py"

#: (metric key, option name, default target). A metric meets its target when its count is <= the target.
TARGETS = (
    ("complex_functions", "max_complex", 15),
    ("local_imports", "max_local_imports", 10),
    ("import_cycles", "max_cycles", 0),
    ("environ_uses", "max_environ", 0),
    ("dagster_private_imports", "max_dagster_private", 16),
)

_ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


@dataclass(frozen=True)
class Finding:
    """One counted occurrence: ``path`` relative to the root, 1-based ``line``, and what was found."""

    path: str
    line: int
    what: str
    value: int = 0


@dataclass
class Report:
    """All metrics of one package; each list holds the occurrences its count is made of."""

    files: int = 0
    functions: int = 0
    complex_functions: list[Finding] = field(default_factory=list)
    local_imports: list[Finding] = field(default_factory=list)
    import_cycles: list[list[str]] = field(default_factory=list)
    environ_uses: list[Finding] = field(default_factory=list)
    dagster_private_imports: list[Finding] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------- files


def list_files(root: Path, package: str) -> list[Path]:
    """The package's ``.py`` files under ``root``: tracked files when ``root`` is in a git work tree, else all.

    Returns paths relative to ``root``, sorted. Raises ``FileNotFoundError`` when ``root/package`` is no directory.
    """
    pkg_dir = root / package
    if not pkg_dir.is_dir():
        raise FileNotFoundError(f"no package directory {pkg_dir}")
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", f"{package}/*.py", f"{package}/**/*.py"],
            cwd=root, capture_output=True, check=True,
        ).stdout.decode()
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True,
        ).stdout.strip() == "true"
    except (OSError, subprocess.CalledProcessError):
        inside = False
    if inside:
        return sorted({Path(p) for p in out.split("\0") if p})
    return sorted(p.relative_to(root) for p in pkg_dir.rglob("*.py"))


def module_name(rel: Path) -> str:
    """``easycrm_pipeline/cli/main.py`` -> ``easycrm_pipeline.cli.main``; a package's ``__init__.py`` -> the package."""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# --------------------------------------------------------------------------------------------------- complexity


def _complexity_of(node: ast.AST) -> int:
    """Decision points in ``node``'s subtree, not entering nested functions or classes (they are measured alone)."""
    total = 0
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(child, (ast.If, ast.IfExp, ast.Assert)):
            total += 1
        elif isinstance(child, (ast.For, ast.AsyncFor, ast.While)):
            total += 1 + bool(child.orelse)
        elif isinstance(child, ast.Try) or type(child).__name__ == "TryStar":
            total += len(child.handlers) + bool(child.orelse)
        elif isinstance(child, ast.BoolOp):
            total += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            total += 1 + len(child.ifs)
        elif isinstance(child, ast.match_case):
            total += 1
        total += _complexity_of(child)
    return total


def cyclomatic_complexity(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Cyclomatic complexity of one function (radon's rules; nested functions excluded): 1 + decision points."""
    return 1 + _complexity_of(func)


def _functions(tree: ast.AST, prefix: str = ""):
    """Yield ``(qualified name, node)`` for every function and method in ``tree``, nested ones included."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{child.name}"
            yield name, child
            yield from _functions(child, f"{name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


# --------------------------------------------------------------------------------------------------- imports


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, in_function: bool = False):
    """Yield ``(import node, inside a function?)``, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                yield from _imports(ast.Module(body=[sub], type_ignores=[]), in_function)
        else:
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from _imports(child, inner)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative levels resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Every module name one import statement refers to: ``from a import b`` -> ``["a", "a.b"]`` (candidates)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _absolute(node, module, is_package)
    return [base] + [f"{base}.{alias.name}" if base else alias.name for alias in node.names]


def _own_targets(node, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules an import statement makes an edge to (see the module doc)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = _absolute(node, module, is_package)
    targets = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base else alias.name
        if sub in known:
            targets.add(sub)
        elif base in known:
            targets.add(base)
    return targets


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (size > 1, or a self-edge), each sorted; Tarjan, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    cycles.append(sorted(component))
    return sorted(cycles)


def _is_private_dagster(node: ast.Import | ast.ImportFrom) -> str | None:
    """The private Dagster name one import uses (``dagster._core.x`` / ``dagster:_check``), or ``None``."""

    def private(name: str) -> bool:
        parts = name.split(".")
        root = parts[0]
        return (root == "dagster" or root.startswith("dagster_")) and any(
            p.startswith("_") and not p.startswith("__") for p in parts[1:]
        )

    if isinstance(node, ast.Import):
        hits = [alias.name for alias in node.names if private(alias.name)]
        return hits[0] if hits else None
    if node.level or not node.module:
        return None
    if private(node.module):
        return node.module
    root = node.module.split(".")[0]
    if root == "dagster" or root.startswith("dagster_"):
        hits = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        if hits:
            return f"{node.module}:{hits[0]}"
    return None


def _environ_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, text)`` of every ``os.environ``-style access and ``from os import environ``-style import."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append((node.lineno, f"os.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and not node.level:
            for alias in node.names:
                if alias.name in _ENV_NAMES:
                    found.append((node.lineno, f"from os import {alias.name}"))
    return sorted(found)


# --------------------------------------------------------------------------------------------------- measure


def measure(root: Path, package: str = DEFAULT_PACKAGE, settings_module: str = DEFAULT_SETTINGS,
            cc_limit: int = 15) -> Report:
    """All metrics of ``root/package``. ``settings_module`` is a path relative to the package directory.

    Raises ``FileNotFoundError`` (no package directory) or ``SyntaxError`` (a file that does not parse, named).
    """
    files = list_files(root, package)
    settings_path = (Path(package) / settings_module).as_posix()
    trees: dict[str, tuple[Path, ast.AST, bool]] = {}
    for rel in files:
        source = (root / rel).read_text(encoding="utf-8")
        try:
            tree = ast.parse(source, filename=rel.as_posix())
        except SyntaxError as exc:
            raise SyntaxError(f"{rel.as_posix()}:{exc.lineno}: {exc.msg}") from None
        trees[module_name(rel)] = (rel, tree, rel.name == "__init__.py")

    report = Report(files=len(files))
    known = set(trees)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for module, (rel, tree, is_package) in sorted(trees.items()):
        path = rel.as_posix()
        for qualname, func in _functions(tree):
            report.functions += 1
            cc = cyclomatic_complexity(func)
            if cc > cc_limit:
                report.complex_functions.append(Finding(path, func.lineno, qualname, cc))
        for node, in_function in _imports(tree):
            targets = _own_targets(node, module, is_package, known)
            own_named = bool(targets) or (isinstance(node, ast.ImportFrom) and node.level > 0) or any(
                m == package or m.startswith(package + ".")
                for m in imported_modules(node, module, is_package)
            )
            graph[module] |= targets
            if in_function and own_named:
                report.local_imports.append(Finding(path, node.lineno, ast.unparse(node)))
            private = _is_private_dagster(node)
            if private:
                report.dagster_private_imports.append(Finding(path, node.lineno, private))
        if path != settings_path:
            report.environ_uses.extend(Finding(path, line, text) for line, text in _environ_uses(tree))
    report.complex_functions.sort(key=lambda f: (-f.value, f.path, f.line))
    report.import_cycles = find_cycles(graph)
    return report


def counts(report: Report) -> dict[str, int]:
    """The five counted metrics of ``report`` (keys as in :data:`TARGETS`)."""
    return {key: len(getattr(report, key)) for key, _, _ in TARGETS}


def report_dict(report: Report, targets: dict[str, int]) -> dict:
    """The ``--json`` document::

        {"files": int, "functions": int,
         "metrics": {key: {"count": int, "target": int, "ok": bool}},   # keys as in TARGETS
         "complex_functions": [{"path", "line", "what" (qualified name), "value" (complexity)}],
         "local_imports" | "environ_uses" | "dagster_private_imports": [{"path", "line", "what", "value": 0}],
         "import_cycles": [[module, ...]], "ok": bool}
    """
    metrics = {
        key: {"count": n, "target": targets[key], "ok": n <= targets[key]} for key, n in counts(report).items()
    }
    doc = {"files": report.files, "functions": report.functions, "metrics": metrics}
    for key in ("complex_functions", "local_imports", "environ_uses", "dagster_private_imports"):
        doc[key] = [asdict(f) for f in getattr(report, key)]
    doc["import_cycles"] = report.import_cycles
    doc["ok"] = all(m["ok"] for m in metrics.values())
    return doc


def render_table(doc: dict, cc_limit: int) -> str:
    """The human-readable report: the summary table, then every occurrence grouped by metric."""
    labels = {
        "complex_functions": f"functions with complexity > {cc_limit}",
        "local_imports": "function-local imports of own modules",
        "import_cycles": "import cycles between own modules",
        "environ_uses": "environment reads outside settings",
        "dagster_private_imports": "private dagster._ imports",
    }
    lines = [f"{doc['files']} files, {doc['functions']} functions", "",
             f"{'metric':<42} {'count':>6} {'target':>7}  ok"]
    lines.append("-" * len(lines[-1]))
    for key, m in doc["metrics"].items():
        lines.append(f"{labels[key]:<42} {m['count']:>6} {'<= ' + str(m['target']):>7}  {'yes' if m['ok'] else 'NO'}")
    sections = (
        ("complex_functions", lambda f: f"  {f['value']:>3}  {f['path']}:{f['line']}  {f['what']}"),
        ("local_imports", lambda f: f"  {f['path']}:{f['line']}  {f['what']}"),
        ("environ_uses", lambda f: f"  {f['path']}:{f['line']}  {f['what']}"),
        ("dagster_private_imports", lambda f: f"  {f['path']}:{f['line']}  {f['what']}"),
    )
    for key, fmt in sections:
        if doc[key]:
            lines += ["", f"{labels[key]}:"] + [fmt(f) for f in doc[key]]
    if doc["import_cycles"]:
        lines += ["", labels["import_cycles"] + ":"] + ["  " + " <-> ".join(c) for c in doc["import_cycles"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit code (0 ok, 1 a target missed under ``--check``, 2 bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="repository root (default: this file's repository)")
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help="package directory under the root")
    parser.add_argument("--settings-module", default=DEFAULT_SETTINGS,
                        help="the one file allowed to read the environment, relative to the package")
    parser.add_argument("--cc-limit", type=int, default=15, help="a function above this complexity counts")
    for key, option, default in TARGETS:
        parser.add_argument(f"--{option.replace('_', '-')}", type=int, default=default,
                            help=f"target for {key} (default {default})")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    try:
        report = measure(args.root, args.package, args.settings_module, args.cc_limit)
    except (FileNotFoundError, SyntaxError, UnicodeDecodeError) as exc:
        print(f"code_metrics: {exc}", file=sys.stderr)
        return 2
    targets = {key: getattr(args, option) for key, option, _ in TARGETS}
    doc = report_dict(report, targets)
    print(json.dumps(doc, indent=2) if args.json else render_table(doc, args.cc_limit))
    if args.check and not doc["ok"]:
        missed = [k for k, m in doc["metrics"].items() if not m["ok"]]
        print(f"code_metrics: targets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
