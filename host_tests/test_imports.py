"""The import graph of the device code, read from source (CPython): no cycle anywhere under
device/ (and main.py, boot.py), counting imports inside functions too; and the app uses no
private module or name of the library or of another app module."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "device"
ENTRY = (ROOT / "main.py", ROOT / "boot.py")


def modules(root, extra=()):
    """{dotted name: path} of every module under root (a package is its __init__.py)."""
    out = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    for p in extra:
        out[p.stem] = p
    return out


def imported(name, path):
    """(dotted name, names taken from it) of every import statement in the module."""
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield base, tuple(a.name for a in node.names)


def graph(mods):
    """{module: set of modules it imports}. Importing a.b.c imports a, a.b and a.b.c; a
    module's own parent packages are left out (they are always imported first)."""
    g = {}
    for name, path in mods.items():
        edges = set()
        for base, names in imported(name, path):
            targets = [base] + [base + "." + n for n in names]
            for t in targets:
                parts = t.split(".")
                for i in range(1, len(parts) + 1):
                    m = ".".join(parts[:i])
                    if m in mods and m != name and not name.startswith(m + "."):
                        edges.add(m)
        g[name] = edges
    return g


def cycle(g):
    """One import cycle as a list [a, b, ..., a], or None."""
    state = {}  # 1: on the current path, 2: done

    def visit(n, path):
        state[n] = 1
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m, path + [m])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            found = visit(n, [n])
            if found:
                return found
    return None


def test_no_import_cycle_under_device():
    g = graph(modules(DEVICE, ENTRY))
    assert "mainloop" in g["main"] and "app" in g["mainloop"]
    assert "oauthcc.client" in g["oauthcc"] and "app" in g["aioapp"]
    found = cycle(g)
    assert found is None, "import cycle: " + " -> ".join(found)


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from c import x\n")
    (tmp_path / "c.py").write_text("def g():\n    import a\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .m import y\n")
    (pkg / "m.py").write_text("from . import n\n")
    (pkg / "n.py").write_text("def h():\n    from .m import y\n")
    g = graph(modules(tmp_path))
    assert cycle(g) == ["a", "b", "c", "a"]
    del g["a"]
    g["c"].discard("a")
    assert cycle(g) == ["pkg.m", "pkg.n", "pkg.m"]
    g["pkg.n"].clear()
    assert cycle(g) is None


def test_the_app_uses_no_private_module_or_name_of_another_module():
    mods = modules(DEVICE, ENTRY)
    app_side = [n for n in mods if not n.startswith("oauthcc")]
    bad = []
    for name in app_side:
        tree = ast.parse(mods[name].read_text())
        local = set()  # names bound to modules of device/ by an import
        for base, names in imported(name, mods[name]):
            if any(p.startswith("_") for p in base.split(".")):
                bad.append("%s imports %s" % (name, base))
            for n in names:
                if n.startswith("_"):
                    bad.append("%s imports %s from %s" % (name, n, base))
                if base + "." + n in mods or n in mods:
                    local.add(n)
            if not names and base in mods:
                local.add(base.split(".")[0])
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                    and node.value.id in local):
                bad.append("%s reads %s.%s" % (name, node.value.id, node.attr))
    assert bad == [], bad
