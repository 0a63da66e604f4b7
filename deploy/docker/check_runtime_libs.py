"""Checks that the runtime stage of deploy/docker/Dockerfile installs every shared library the
service binaries need, without a Docker engine.

For each build/bin/concord-* binary: its direct dependencies (ELF NEEDED entries, objdump -p)
are mapped to the Debian packages that ship them (dpkg -S on this Debian 12 machine, the same
release as the image); each of those packages must be one that the runtime stage's
`apt-get install` line names, or a dependency of one of them (the Depends closure read from the
installed packages with dpkg-query). A library that another engineer links in later and forgets
to add to the image fails here instead of at `docker run`.

Usage: python check_runtime_libs.py DOCKERFILE BIN...
Prints one line: "ok (...)" or the problems, one per line; exit 1 on any problem.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def runtime_packages(dockerfile: str, stage: str = "runtime") -> list[str]:
    """Package names on the apt-get install line(s) of the given stage."""
    text = open(dockerfile).read().replace("\\\n", " ")
    in_stage = False
    pkgs: list[str] = []
    for line in text.splitlines():
        m = re.match(r"\s*FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            in_stage = (m.group(1) or "").lower() == stage
            continue
        if in_stage and "apt-get install" in line:
            after = line.split("apt-get install", 1)[1]
            for word in re.split(r"\s+", after):
                if word in ("&&", ";") or word.startswith("&&"):
                    break
                if word and not word.startswith("-"):
                    pkgs.append(word)
    return pkgs


def depends_closure(roots: list[str]) -> set[str]:
    """roots and everything they depend on (installed packages; one dpkg-query per level)."""
    seen: set[str] = set()
    level = set(roots)
    while level:
        seen |= level
        r = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\n", *sorted(level)],
                           capture_output=True, text=True)  # not-installed names: skipped
        nxt: set[str] = set()
        for line in r.stdout.splitlines():
            _, _, deps = line.partition("\t")
            for alt in deps.split(","):
                for dep in alt.split("|"):
                    name = dep.strip().split(" ")[0].split(":")[0]
                    if name and name not in seen:
                        nxt.add(name)
        level = nxt
    return seen


def needed_libs(binary: str) -> list[str]:
    out = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout
    return [line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED")]


def ldconfig_map() -> dict[str, str]:
    """soname -> path for this machine's architecture (ldconfig -p)."""
    arch = "x86-64" if "x86_64" in subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout else ""
    out: dict[str, str] = {}
    for line in subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m and (not arch or arch in m.group(2)) and m.group(1) not in out:
            out[m.group(1)] = m.group(3)
    return out


def lib_packages(libs: set[str], paths: dict[str, str]) -> dict[str, str | None]:
    """soname -> Debian package that ships it (one dpkg -S for all; /lib and /usr/lib spellings)."""
    candidates: dict[str, str] = {}
    for lib in libs:
        path = paths.get(lib)
        if not path:
            continue
        for c in {path, os.path.realpath(path)}:
            candidates[c] = lib
            if c.startswith("/usr/lib/"):
                candidates[c.replace("/usr/lib/", "/lib/", 1)] = lib
            elif c.startswith("/lib/"):
                candidates["/usr" + c] = lib
    out: dict[str, str | None] = {lib: None for lib in libs}
    r = subprocess.run(["dpkg", "-S", *sorted(candidates)], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        lib = candidates.get(path.strip())
        if lib and out[lib] is None:
            out[lib] = pkg.split(":")[0].strip()
    return out


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    dockerfile, binaries = sys.argv[1], sys.argv[2:]
    roots = runtime_packages(dockerfile)
    if not roots:
        print(f"{dockerfile}: no apt-get install in the runtime stage")
        return 1
    closure = depends_closure(roots)
    problems: list[str] = []
    needed = {b: needed_libs(b) for b in binaries}
    packages = lib_packages({lib for libs in needed.values() for lib in libs}, ldconfig_map())
    for b, libs in needed.items():
        for lib in libs:
            pkg = packages[lib]
            if pkg is None:
                problems.append(f"{b}: {lib}: no Debian package on this machine ships it")
            elif pkg not in closure:
                problems.append(f"{b}: {lib} (package {pkg}) is not installed by the runtime stage of {dockerfile}")
    if problems:
        for p in sorted(set(problems)):
            print(p)
        return 1
    print(f"ok ({len(binaries)} binaries, {len(packages)} libraries, from {len(roots)} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
