"""The docs cannot rot: every fenced code block of README.md and docs/*.md is checked, and every
relative link resolves.

- ```python: an excerpt of a file in examples/ (which test_examples.py runs on both runtimes)
  or tools/: the block's lines, as they stand, one after another in that file (indentation
  removed alike).
- ```sh: each command that runs a make target names one the Makefile has, with variables
  the Makefile uses, and the flags of a tool's *_ARGS variable are flags that tool's --help
  lists; `python3 tools/X.py --flag` likewise; a file under examples/ or config/ that a
  command names exists.
  A command marked `# board only: why` or `# not run by the tests: why` (as
  test_installing_doc.py, which runs docs/installing.md's commands, marks them) and a `make -C`
  into another project are not checked.
- ```text (output, a listing) or ```c (another project's source): shown as they are.
Any other block, or one without a language, fails: say which it is.
"""
import re
import shlex
import subprocess
import sys
from functools import cache

from conftest import ROOT

DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
LISTINGS = ("text", "c")
NOT_HERE = re.compile(r"#\s+(board only|not run by the tests): \S")
FENCE = re.compile(r"^( *)```(\S*)\s*$")
# pages linked before they exist (none now: every linked page must be there)
NOT_YET = set()
TOOL = re.compile(r"^(?:python3?|\.venv/bin/python3?)$")


def blocks(path):
    """(line number, language, text) of each fenced block, its fence's indentation removed."""
    out, lines, i = [], path.read_text().split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            indent, lang, start, body = len(m.group(1)), m.group(2), i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
                i += 1
            out.append((start, lang, "\n".join(body)))
        i += 1
    return out


def _dedent(lines):
    pad = min((len(s) - len(s.lstrip()) for s in lines if s.strip()), default=0)
    return [s[pad:].rstrip() for s in lines]


@cache
def _sources():
    files = sorted((ROOT / "examples").glob("*.py")) + sorted((ROOT / "tools").glob("*.py"))
    return [(p, p.read_text().split("\n")) for p in files]


def excerpt_of(text):
    """The file a python block is an excerpt of, or None."""
    want = _dedent(text.split("\n"))
    for path, lines in _sources():
        for i in range(len(lines) - len(want) + 1):
            if lines[i].strip() == want[0].strip() and _dedent(lines[i:i + len(want)]) == want:
                return path
    return None


@cache
def makefile():
    """(targets, variables used, {VAR: the tool its value goes to})."""
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", text, re.M))
    variables = set(re.findall(r"\$\((\w+)\)", text))
    tools = dict((v, t) for t, v in re.findall(r"tools/(\w+\.py)\b.*\$\((\w+_ARGS)\)", text))
    return targets, variables, tools


@cache
def flags(tool):
    """The --flags that `tools/<tool> --help` lists."""
    p = subprocess.run([sys.executable, str(ROOT / "tools" / tool), "--help"], cwd=str(ROOT),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert p.returncode == 0, p.stdout
    return set(re.findall(r"--[a-z][\w-]*", p.stdout))


def commands(text):
    """Each shell command of a block: continuations joined, comments dropped, split at
    ;, &, && and pipes (outside quotes)."""
    text = re.sub(r"\\\n", " ", text)
    for line in text.split("\n"):
        if NOT_HERE.search(line):
            continue
        line = re.sub(r"\$\([^)]*\)", "X", line)  # $(cat build/virtual-board.port)
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split, lex.commenters = True, "#"
        words = []
        for w in list(lex) + [";"]:
            if w.strip("&|;()") == "":
                if words:
                    yield words
                words = []
            else:
                words.append(w)


def problems_of_command(words):
    """What is wrong with one command, as a list of strings (empty: nothing)."""
    bad = []
    targets, variables, tools = makefile()
    if words[0] == "make" and "-C" in words:
        pass  # another project's Makefile
    elif words[0] == "make":
        for w in words[1:]:
            if w.startswith("-"):
                continue
            if "=" in w:
                var, value = w.split("=", 1)
                if var not in variables:
                    bad.append("the Makefile has no variable %s" % var)
                elif var in tools:
                    bad += ["%s has no flag %s" % (tools[var], f)
                            for f in re.findall(r"--[a-z][\w-]*", value)
                            if f not in flags(tools[var])]
            elif w not in targets:
                bad.append("the Makefile has no target %r" % w)
    elif TOOL.match(words[0]) and len(words) > 1 and words[1].startswith("tools/"):
        tool = words[1][len("tools/"):]
        if not (ROOT / "tools" / tool).is_file():
            bad.append("no tools/%s" % tool)
        else:
            bad += ["tools/%s has no flag %s" % (tool, w.split("=")[0]) for w in words[2:]
                    if w.startswith("--") and w.split("=")[0] not in flags(tool)]
    for w in words[1:]:
        if w.startswith(("examples/", "config/", "tools/")) and not (ROOT / w).exists():
            bad.append("no file %s" % w)
    return bad


def test_every_code_block_is_an_example_a_real_command_or_output():
    bad = []
    for doc in DOCS:
        for line, lang, text in blocks(doc):
            where = "%s:%d" % (doc.relative_to(ROOT), line)
            if lang == "python":
                if excerpt_of(text) is None:
                    bad.append("%s: a python block that is no excerpt of examples/ or tools/"
                               % where)
            elif lang == "sh":
                for words in commands(text):
                    bad += ["%s: %s" % (where, b) for b in problems_of_command(words)]
            elif lang not in LISTINGS:
                bad.append("%s: a block in %r: say python, sh, text or c" % (where, lang))
    assert not bad, "\n".join(bad)


def slug(heading):
    """GitHub's anchor for a heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return s.replace(" ", "-")


def anchors(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_every_relative_link_resolves():
    bad = []
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https://...
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists() and path not in NOT_YET:
                bad.append("%s: %s does not exist" % (doc.relative_to(ROOT), target))
            elif anchor and path.exists() and path.suffix == ".md" and anchor not in anchors(path):
                bad.append("%s: %s has no heading #%s" % (doc.relative_to(ROOT), file, anchor))
    assert not bad, "\n".join(bad)


def test_the_checks_catch_what_they_should():
    assert excerpt_of("client = oauthcc.TokenClient(base)") is None
    assert excerpt_of('    t = client.token()  # cached, renewed when due') == (
        ROOT / "examples" / "blocking.py")
    assert problems_of_command(["make", "no-such-target"])
    assert problems_of_command(["make", "deploy", "PORT=x", "DEPLOY_ARGS=--no-such-flag"])
    assert not problems_of_command(["make", "deploy", "PORT=x", "DEPLOY_ARGS=--set-clock --run"])
    assert problems_of_command(["python3", "tools/stub_server.py", "--no-such-flag"])
    assert problems_of_command(["tools/mp", "examples/missing.py"])
    assert not problems_of_command(["make", "-C", "ports/esp32", "BOARD=X", "deploy"])
    assert list(commands("make nothing  # board only: needs ESP-IDF\nmake run")) == [
        ["make", "run"]]
    assert slug("`TokenClient(token_url, scope=None, **options)`") == (
        "tokenclienttoken_url-scopenone-options")
    assert list(commands("make run  # a comment\nA=1 make x && make y \\\n  Z=2 &\n"
                         "mp exec 'a; b' | tail\nmake deploy PORT=$(cat f) A='--b'")) == [
        ["make", "run"], ["A=1", "make", "x"], ["make", "y", "Z=2"], ["mp", "exec", "a; b"],
        ["tail"], ["make", "deploy", "PORT=X", "A=--b"]]


PATH_RE = re.compile(r"(?<![\w./-])((?:host_tests|tools|device|examples|config|conformance|docs)"
                     r"/[\w./-]*[\w/])")


def test_every_file_the_docs_name_exists():
    tests = {p.name for p in (ROOT / "host_tests").rglob("test_*.py")}
    bad = []
    for doc in DOCS:
        text = doc.read_text()
        for m in PATH_RE.finditer(text):
            path = m.group(1)
            if text[m.end():m.end() + 1] in "<*" or "*" in path:
                continue  # a pattern: test_conformance_<server>.py, test_*.py
            if not (ROOT / path).exists() and (ROOT / path) not in NOT_YET:
                bad.append("%s: no %s" % (doc.relative_to(ROOT), path))
        for name in set(re.findall(r"\b(test_\w+\.py)\b", text)):
            if name not in tests and not (ROOT / "tools" / name).exists():
                bad.append("%s: no test file %s" % (doc.relative_to(ROOT), name))
    assert not bad, "\n".join(bad)
