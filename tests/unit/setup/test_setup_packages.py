"""scripts/setup installs every program the project's scripts, tests and benchmarks run.

A fresh machine has only what Debian installs by priority (required, important) plus
what scripts/setup adds. A test that runs a program from neither passes on the machine
where it was written and fails on the next one (it happened with `ethtool`). So this
test reads every file under scripts/, tests/, perf/ and .ci/ that runs programs (Python
through subprocess calls and the argument lists they are given; shell scripts word by
word), finds each external command, asks dpkg which package holds it and checks that
the package is in scripts/setup's list or has priority required or important.

The scan is static and deliberately simple: it follows string literals, lists built
from them (also through a name bound to one, like `nft = ["ip", "netns", "exec", ns,
"nft"]`) and the usual wrappers (`ip netns exec NS cmd`, `timeout`, `nice`, `taskset`,
`xargs`, `env`, `bash -c`), and ignores commands it cannot read (the project's own
binaries, held in variables). A self-test checks that it still finds the commands we
know are there, so a scanner that quietly finds nothing fails too.
"""
import ast
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(os.environ.get("LINERATE_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[3]))

SHELL_BUILTINS = {
    ".", ":", "[", "[[", "]]", "alias", "bg", "break", "builtin", "case", "cd", "command", "continue", "declare",
    "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fg", "fi", "for",
    "function", "getopts", "hash", "if", "in", "jobs", "kill", "let", "local", "mapfile", "popd", "printf",
    "pushd", "pwd", "read", "readarray", "readonly", "return", "select", "set", "shift", "source", "test",
    "then", "time", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
    "{", "}", "!",
}
# Words after which the next word is still in command position.
SHELL_PREFIXES = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "{", "exec", "command"}
# Programs whose arguments include another program, and how many words to skip before it.
CALLER_FUNCTIONS = re.compile(r"^(run|sh|Popen|check_output|check_call|call|kernel_run)$")


def setup_packages():
    """The package names in scripts/setup's `packages=( ... )` array."""
    text = (ROOT / "scripts" / "setup").read_text()
    m = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M)
    assert m, "scripts/setup has no packages=( ... ) array"
    names = set()
    for line in m.group(1).splitlines():
        names.update(line.split("#", 1)[0].split())
    return names


def unwrap(argv):
    """The commands an argument vector runs: its program, and the program it wraps.
    Words that are not literal strings are None."""
    i = 0
    while i < len(argv) and argv[i] is not None and re.match(r"^[A-Za-z_][A-Za-z0-9_]*\+?=", argv[i]):
        i += 1  # VAR=value before the command
    if i >= len(argv) or argv[i] is None:
        return []
    cmd, rest = argv[i], argv[i + 1:]
    found = [cmd]
    name = os.path.basename(cmd)

    def after_options(words, with_value=()):
        j = 0
        while j < len(words) and words[j] is not None and words[j].startswith("-"):
            j += 2 if words[j] in with_value else 1
        return words[j:]

    if name == "ip" and rest[:2] == ["netns", "exec"] and len(rest) > 3:
        found += unwrap(rest[3:])
    elif name == "timeout":
        found += unwrap(after_options(rest, ("-s", "-k", "--signal", "--kill-after"))[1:])
    elif name == "nice":
        found += unwrap(after_options(rest, ("-n",)))
    elif name == "taskset":
        tail = after_options(rest, ())
        found += unwrap(tail if "-c" in rest[:len(rest) - len(tail)] else tail[1:])
    elif name in ("xargs", "env", "setsid", "nohup", "stdbuf", "sudo", "command", "exec", "time"):
        found += unwrap(after_options(rest, ("-n", "-P", "-I", "-d", "-u")))
    elif name in ("bash", "sh") and rest[:1] == ["-c"] and len(rest) > 1 and rest[1] is not None:
        for words in shell_commands(rest[1]):
            found += unwrap(words)
    return found


# --- Python --------------------------------------------------------------------------

def python_commands(path):
    tree = ast.parse(path.read_text(), str(path))
    bound = {}  # name -> list expression assigned to it, for `*name` inside a command
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound[target.id] = node.value

    def words(expr, depth=0):
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, (ast.List, ast.Tuple)):
            out = []
            for e in expr.elts:
                if isinstance(e, ast.Starred):
                    out += words(e.value, depth + 1) if depth < 4 else [None]
                elif isinstance(e, ast.Constant) and isinstance(e.value, str):
                    out.append(e.value)
                else:
                    out.append(None)
            return out
        if isinstance(expr, ast.Name) and expr.id in bound and depth < 4:
            return words(bound[expr.id], depth + 1)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return words(expr.left, depth + 1) + words(expr.right, depth + 1)
        return [None]

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fn == "which" and node.args:
                found += [w for w in words(node.args[0]) if w]
                continue
            if not CALLER_FUNCTIONS.match(fn) or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, (ast.List, ast.Tuple, ast.Name)) and len(node.args) == 1:
                argv = words(first)
            else:
                argv = []
                for a in node.args:
                    argv += words(a.value) if isinstance(a, ast.Starred) else words(a)[:1]
            shell = any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords)
            if shell and argv and argv[0] is not None:
                for w in shell_commands(argv[0]):
                    found += unwrap(w)
            else:
                found += unwrap(argv)
        elif isinstance(node, (ast.List, ast.Tuple)):
            # A command built now and run later (perf/cps builds them as lists).
            argv = words(node)
            if argv[:3] == ["ip", "netns", "exec"] or (argv and argv[0] in ("taskset", "nice", "timeout")):
                found += unwrap(argv)
    return found


# --- shell ---------------------------------------------------------------------------

def shell_commands(text):
    """Simple commands of a shell script as word lists (None for a word that is not a
    literal). Follows quotes, $( ) and here-documents (whose bodies are skipped)."""
    commands, words = [], []
    word, literal, in_word = [], True, False
    heredocs = []
    i, n = 0, len(text)
    depth = [0]  # open $( ) per level

    def end_word():
        nonlocal word, literal, in_word
        if in_word:
            words.append("".join(word) if literal else None)
        word, literal, in_word = [], True, False

    def end_command():
        end_word()
        if words:
            commands.append(list(words))
        words.clear()

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            if text[i + 1] != "\n":
                word.append(text[i + 1])
                in_word = True
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            j = n if j < 0 else j
            word.append(text[i + 1:j])
            in_word = True
            i = j + 1
            continue
        if c == '"':
            # Double quotes: literal unless they hold an expansion; a $( ) inside is a
            # command of its own.
            j = i + 1
            chunk = []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    chunk.append(text[j + 1:j + 2])
                    j += 2
                    continue
                if text.startswith("$(", j):
                    k, level = j + 2, 1
                    while k < n and level:
                        level += {"(": 1, ")": -1}.get(text[k], 0)
                        k += 1
                    commands.extend(shell_commands(text[j + 2:k - 1]))
                    literal = False
                    j = k
                    continue
                if text[j] in "$`":
                    literal = False
                chunk.append(text[j])
                j += 1
            word.append("".join(chunk))
            in_word = True
            i = j + 1
            continue
        if text.startswith("$((", i):
            # Arithmetic expansion: names in it are variables, never commands.
            k, level = i + 3, 2
            while k < n and level:
                level += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            word.append(text[i:k])
            literal, in_word = False, True
            i = k
            continue
        if text.startswith("$(", i):
            k, level = i + 2, 1
            while k < n and level:
                if text[k] in "'\"":
                    q = text.find(text[k], k + 1)
                    k = n if q < 0 else q + 1
                    continue
                level += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            commands.extend(shell_commands(text[i + 2:k - 1]))
            literal, in_word = False, True
            i = k
            continue
        if c == "$" or c == "`":
            literal, in_word = False, True
            word.append(c)
            i += 1
            continue
        if c == "#" and not in_word:
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("<<", i) and not text.startswith("<<<", i):
            m = re.match(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", text[i:])
            if m:
                heredocs.append(m.group(2))
                end_word()
                i += m.end()
                continue
        if c == "\n":
            end_command()
            i += 1
            for tag in heredocs:  # skip each body up to its closing line
                m = re.compile(r"^[ \t]*" + re.escape(tag) + r"[ \t]*$", re.M).search(text, i)
                i = n if m is None else m.end() + 1
            heredocs = []
            continue
        if c in "<>" or text.startswith("&>", i):
            # A redirection: its file is no command, nor is an fd number before it.
            if in_word and literal and "".join(word).isdigit():
                word, in_word = [], False
            end_word()
            m = re.match(r"&?[<>]{1,2}&?-?\s*", text[i:])
            i += m.end()
            m = re.match(r"[^\s;|&()<>]+", text[i:])
            if m and not text.startswith("$(", i):
                i += m.end()
            continue
        if c == "(" and in_word and literal and "".join(word).endswith("="):
            # An array assignment, name=( words ): its words are data (comments in it
            # may hold parentheses).
            j = i + 1
            while j < n and text[j] != ")":
                j = text.find("\n", j) if text[j] == "#" else j + 1
                j = n if j < 0 else j
            i = j + 1
            word, in_word = [], False
            continue
        if c in ";|&()":
            end_command()
            i += 1
            continue
        if c in " \t":
            end_word()
            i += 1
            continue
        word.append(c)
        in_word = True
        i += 1
    end_command()

    # Split off what stands before a command (keywords, assignments) and drop function
    # definitions, `case` patterns and `for` lists.
    out = []
    for argv in commands:
        k = 0
        while k < len(argv) and argv[k] in SHELL_PREFIXES:
            k += 1
        argv = argv[k:]
        if not argv or argv[0] is None:
            continue
        head = argv[0]
        if head in ("for", "case", "select", "function") or head.startswith("-") or head.startswith("*"):
            continue
        out.append(argv)
    return out


def shell_function_names(text):
    return set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)\s*\{", text, re.M))


def shell_file_commands(path):
    text = path.read_text()
    functions = shell_function_names(text)
    found = []
    for argv in shell_commands(text):
        for cmd in unwrap(argv):
            if cmd in functions or cmd in SHELL_BUILTINS:
                continue
            found.append(cmd)
    return found


# --- the files and the check ---------------------------------------------------------

def project_files():
    for top in ("scripts", "tests", "perf", ".ci"):
        for p in sorted((ROOT / top).rglob("*")):
            # This file reads packages itself (dpkg): it is the checker, not a user.
            if not p.is_file() or "__pycache__" in p.parts or p.resolve() == pathlib.Path(__file__).resolve():
                continue
            head = p.read_bytes()[:200]
            if p.suffix == ".py" or head.startswith(b"#!/usr/bin/python3") or head.startswith(b"#!/usr/bin/env python"):
                yield p, "python"
            elif p.suffix == ".sh" or head.startswith(b"#!/usr/bin/env bash") or head.startswith(b"#!/bin/bash") \
                    or head.startswith(b"#!/bin/sh"):
                yield p, "shell"


def external_commands():
    """{command: [files that run it]} for commands outside the repository."""
    found = {}
    for path, kind in project_files():
        cmds = python_commands(path) if kind == "python" else shell_file_commands(path)
        for cmd in cmds:
            if not cmd or cmd in SHELL_BUILTINS or "$" in cmd or "{" in cmd:
                continue
            # Paths into the repository or the build (scripts/build, ./run, build/apps/...).
            if "/" in cmd and not cmd.startswith("/"):
                continue
            if cmd.startswith("/") and not cmd.startswith(("/usr/", "/bin/", "/sbin/")):
                continue
            found.setdefault(cmd, set()).add(str(path.relative_to(ROOT)))
    return found


def packages_of(cmds):
    """{command: (package, priority)} of the Debian packages holding the commands, with
    None for a command not installed. Two dpkg calls in all: one per command is slow."""
    paths = {}
    for cmd in cmds:
        exe = cmd if cmd.startswith("/") else shutil.which(
            cmd, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if exe is None:
            continue
        candidates = [exe, os.path.realpath(exe)]
        # Debian 12 has merged /usr: dpkg may list the file under either prefix.
        for c in list(candidates):
            for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/bin/", "/usr/bin/"),
                         ("/sbin/", "/usr/sbin/")):
                if c.startswith(a):
                    candidates.append(b + c[len(a):])
        paths[cmd] = candidates
    owner = {}
    every = sorted({c for cs in paths.values() for c in cs})
    r = subprocess.run(["dpkg", "-S", *every], capture_output=True, text=True) if every else None
    for line in (r.stdout.splitlines() if r else []):
        pkgs, _, path = line.partition(": ")
        if pkgs.startswith("diversion"):
            continue
        owner.setdefault(path.strip(), pkgs.split(",")[0].strip().split(":")[0])
    pkgs = sorted(set(owner.values()))
    prio = {}
    if pkgs:
        q = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Priority}\n", *pkgs], capture_output=True, text=True)
        prio = dict(line.split(" ", 1) for line in q.stdout.splitlines() if " " in line)
    result = {}
    for cmd in cmds:
        if cmd not in paths:
            result[cmd] = None
            continue
        pkg = next((owner[c] for c in paths[cmd] if c in owner), None)
        result[cmd] = (pkg, prio.get(pkg, "?")) if pkg else (paths[cmd][0], "not from a Debian package")
    return result


def test_the_scanner_finds_the_commands_known_to_be_run():
    cmds = external_commands()
    for known in ("ip", "ethtool", "curl", "ping", "valgrind", "gnuplot", "ss", "nft", "tcpdump", "sysctl", "g++",
                  "pkg-config", "mktemp", "awk", "grep", "xargs", "seq", "dpdk-telemetry.py", "nm", "meson",
                  "apt-get", "dpkg-query"):
        assert known in cmds, f"the scan no longer finds {known}: {sorted(cmds)}"
    for not_a_command in ("then", "do", "--connections", "cleanup", "wait_running", "PY", "import", "print"):
        assert not_a_command not in cmds, f"{not_a_command} taken for a command (in {cmds.get(not_a_command)})"


def test_the_shell_scanner_follows_quotes_substitutions_and_heredocs():
    text = '''
x=$(dirname "$(realpath "$0")") && y="$(cd "$x/.." && pwd)"
ip netns exec "$ns" timeout -s INT 5 curl -sS http://198.18.0.2/ | grep -c ok
f() { echo hi; }
cat <<'EOF' | sed s/a/b/
not_a_command here
EOF
awk 'BEGIN {
  print "in quotes"
}' file
high=$(count $((base_count + more)) "$(nproc)")
'''
    cmds = [c for argv in shell_commands(text) for c in unwrap(argv)]
    for want in ("dirname", "realpath", "pwd", "ip", "timeout", "curl", "grep", "cat", "sed", "awk", "count", "nproc"):
        assert want in cmds, (want, cmds)
    # Names inside an arithmetic expansion $(( )) are variables.
    for never in ("not_a_command", "print", "base_count", "more"):
        assert never not in cmds, (never, cmds)


def direct_dependencies(packages):
    """Packages that the listed ones depend on directly: installing python3 installs
    python3-minimal, pkg-config installs pkgconf. One level only, so that a command
    is never accepted through a long chain that a later package version may break."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}\n", *sorted(packages)],
                       capture_output=True, text=True)
    deps = set()
    for line in r.stdout.splitlines():
        for alternatives in line.split(","):
            for dep in alternatives.split("|"):
                name = dep.strip().split(" ")[0].split(":")[0]
                if name:
                    deps.add(name)
    return deps


def test_every_command_comes_from_a_package_that_setup_installs_or_debian_always_has():
    listed = setup_packages()
    listed |= direct_dependencies(listed)
    problems = []
    cmds = external_commands()
    owners = packages_of(cmds)
    for cmd, files in sorted(cmds.items()):
        where = ", ".join(sorted(files))
        found = owners[cmd]
        if found is None:
            problems.append(f"{cmd} (run by {where}): not installed here, so no package is known; add its package "
                            "to scripts/setup")
            continue
        pkg, prio = found
        if pkg in listed or prio in ("required", "important"):
            continue
        problems.append(f"{cmd} (run by {where}): package {pkg}, priority {prio}, is not in scripts/setup's list")
    assert not problems, "\n".join(problems)
