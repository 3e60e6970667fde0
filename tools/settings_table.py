"""The configuration table of the docs, generated from device/settings.py (the schema).

    python tools/settings_table.py                    print it
    python tools/settings_table.py --write docs/device-app.md  replace it there, between its markers

host_tests/test_settings_table.py fails when a document and the schema disagree.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toolchain import ROOT, settings  # noqa: E402

BEGIN = "<!-- settings table: generated from device/settings.py by tools/settings_table.py -->"
END = "<!-- end of settings table -->"
GROUPS = (("APP", "`config.json`, read by the app"),
          ("CLIENT", "`config.json`, passed to the library (unset: the profile's or the "
                     "library's default)"),
          ("SECRETS", "`secrets.json`"))


def table():
    """The tables as Markdown, one per group of keys."""
    s = settings()
    out = []
    for group, title in GROUPS:
        out += ["", title + ":", "", "| key | kind | default | meaning |", "|---|---|---|---|"]
        for name, kind, default, meaning in getattr(s, group):
            if isinstance(kind, tuple):
                kind = " or ".join("`%s`" % json.dumps(k) for k in kind)
            elif kind == "num":
                kind = "a number, %s to %s" % tuple("{:,}".format(n) for n in s.RANGES[name])
            else:
                kind = s.KINDS[kind]
            shown = "—" if default is None else "`%s`" % json.dumps(default)
            out.append("| `%s` | %s | %s | %s |" % (name, kind, shown, meaning))
    return "\n".join(out[1:]) + "\n"


def section(text):
    """The generated part of a document (between the markers), or None."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write(path):
    text = Path(path).read_text()
    if section(text) is None:
        raise SystemExit("%s has no %s ... %s markers" % (path, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    Path(path).write_text(head + BEGIN + "\n" + table() + END + rest.split(END, 1)[1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", metavar="FILE", help="e.g. %s" % (ROOT / "docs" / "device-app.md"))
    args = ap.parse_args(argv)
    if args.write:
        write(args.write)
    else:
        sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
