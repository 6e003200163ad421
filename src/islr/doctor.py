"""What islr needs from a Python environment, what it finds there, and an install that keeps what already fits.

``islr doctor [EXTRA ...]`` prints, for every package islr declares (the base set plus the named extras; default
``notebooks``, i.e. everything the notebook chain uses): the version found, the supported range, and what an install
would do to it — keep it, add it, or change it because the version found lies outside the range. ``--plan`` asks pip
(``pip install --dry-run --report``) for the exact versions it would add or change, dependencies included.

``scripts/install.py [EXTRA ...]`` (run from a clone, before islr is installed; the Kaggle/Colab recipe) and
``islr doctor --install`` install islr that way into a ready-made image:

1. every installed distribution is *held* at its version (a pip constraints file ``name==version``), except the
   packages islr declares whose installed version lies outside islr's range (those have to change, and are listed);
2. pip installs only what is missing: the declared packages that no installed distribution provides (an image's
   ``opencv-python`` or ``tensorflow-cpu`` counts as providing ``opencv-python-headless`` / ``tensorflow``, so no
   second copy of a module is added), then islr itself with ``--no-deps``;
3. before/after snapshots of the environment are compared and printed: added, changed, and the held packages, which
   must all be unchanged (the install fails loudly otherwise); problems that ``pip check`` reports after the install
   and did not report before are printed too.

Where a missing package has no release that fits the held versions, pip stops with its conflict; ``--release NAME``
lets pip change that package (the report then lists the change).

This module uses the standard library and ``packaging`` only (pip's vendored copy where ``packaging`` itself is not
installed), so it runs before islr's dependencies are.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ModuleNotFoundError:  # a bare venv: pip's vendored copy is the same library
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import InvalidVersion, Version

PROJECT = "islr"
#: Distributions that install the same importable module as the one islr declares: any of them satisfies it.
PROVIDERS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly", "tf-nightly-cpu"),
    "opencv-python-headless": ("opencv-python-headless", "opencv-python", "opencv-contrib-python",
                               "opencv-contrib-python-headless"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "psycopg2-binary": ("psycopg2-binary", "psycopg2"),
}
DEFAULT_EXTRAS = ("notebooks",)


# ---------------------------------------------------------------------------------------------------------------
# What islr declares
# ---------------------------------------------------------------------------------------------------------------
def declared(pyproject: Path | None = None) -> dict[str, list[Requirement]]:
    """islr's requirements by extra ("" = the base install), ``islr[...]`` references included.

    Args:
        pyproject: a checkout's ``pyproject.toml``; None = the installed distribution's metadata.
    """
    if pyproject is not None:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            from pip._vendor import tomli as tomllib
        project = tomllib.loads(Path(pyproject).read_text())["project"]
        out = {"": [Requirement(r) for r in project["dependencies"]]}
        for extra, reqs in project.get("optional-dependencies", {}).items():
            out[extra] = [Requirement(r) for r in reqs]
        return out
    out: dict[str, list[Requirement]] = {"": []}
    for extra in metadata.metadata(PROJECT).get_all("Provides-Extra") or []:
        out[extra] = []
    for line in metadata.requires(PROJECT) or []:
        req = Requirement(line)
        match = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", str(req.marker or ""))
        extra = match.group(1) if match else ""
        if match:  # the marker says which extra; the requirement itself is unconditional inside it
            req.marker = None
        out.setdefault(extra, []).append(req)
    return out


def requirements(extras: tuple[str, ...], pyproject: Path | None = None) -> dict[str, tuple[Requirement, list[str]]]:
    """The direct requirements of the base install plus ``extras`` (``islr[x]`` expanded), by canonical name.

    Returns:
        {name: (requirement with the ranges of every asking extra combined, the extras that ask for it)}; requirements
        whose environment marker is false here are left out.
    """
    table = declared(pyproject)
    unknown = [e for e in extras if e not in table]
    if unknown:
        raise SystemExit(f"islr doctor: unknown extra {', '.join(unknown)}; islr has {', '.join(sorted(e for e in table if e))}")
    env = default_environment()
    out: dict[str, tuple[Requirement, list[str]]] = {}
    todo, seen = ["", *extras], set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for req in table[extra]:
            if canonicalize_name(req.name) == PROJECT:
                todo += sorted(req.extras)
                continue
            if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
                continue
            name = canonicalize_name(req.name)
            if name in out:
                known, asked = out[name]
                known.specifier &= req.specifier
                asked.append(extra or "base")
            else:
                out[name] = (Requirement(str(req)), [extra or "base"])
    return out


# ---------------------------------------------------------------------------------------------------------------
# What the environment has
# ---------------------------------------------------------------------------------------------------------------
def installed() -> dict[str, tuple[str, str]]:
    """{canonical name: (name as installed, version)} of every distribution importable here (the first of each name,
    as Python and pip see it)."""
    out: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonicalize_name(name) not in out:
            out[canonicalize_name(name)] = (name, dist.version)
    return out


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@dataclass
class Need:
    """One package islr declares, and what this environment has of it.

    Attributes:
        requirement: islr's requirement (its specifier is the supported range).
        extras: the extras (or "base") that ask for it.
        provider: the installed distribution that provides it (possibly another one of :data:`PROVIDERS`), or None.
        version: that distribution's version, or None.
    """

    requirement: Requirement
    extras: list[str]
    provider: str | None = None
    version: str | None = None

    @property
    def status(self) -> str:
        """"fits" (kept as it is), "missing" (pip adds it) or "outside" (installed, but outside the range)."""
        if self.provider is None:
            return "missing"
        version = _version(self.version or "")
        # local builds ("2.4.1+cu121") are compared by their public version
        ok = version is not None and self.requirement.specifier.contains(Version(version.public), prereleases=True)
        return "fits" if ok else "outside"

    def pip_requirement(self) -> str:
        """What pip is asked for: under the installed provider's name when that is an alternative distribution."""
        if self.provider is None or canonicalize_name(self.provider) == canonicalize_name(self.requirement.name):
            return str(self.requirement)
        return f"{self.provider}{self.requirement.specifier}"


def survey(extras: tuple[str, ...] = DEFAULT_EXTRAS, pyproject: Path | None = None,
           have: dict[str, tuple[str, str]] | None = None) -> list[Need]:
    """Every package islr needs for ``extras``, with what ``have`` (default: this environment) provides of it."""
    have = installed() if have is None else have
    needs = []
    for name, (req, asked) in sorted(requirements(extras, pyproject).items()):
        need = Need(req, asked)
        for alternative in PROVIDERS.get(name, (name,)):
            if canonicalize_name(alternative) in have:
                need.provider, need.version = have[canonicalize_name(alternative)]
                break
        needs.append(need)
    return needs


def held(needs: list[Need], have: dict[str, tuple[str, str]], release: tuple[str, ...] = ()) -> list[str]:
    """The constraints that hold the environment: ``name==version`` for every installed distribution but islr, the
    declared packages outside their range, and ``release``; versions pip cannot parse are left out."""
    free = {canonicalize_name(n.provider) for n in needs if n.status == "outside"}
    free |= {canonicalize_name(r) for r in release} | {PROJECT}
    lines = []
    for key, (name, version) in sorted(have.items()):
        if key in free or _version(version) is None:
            continue
        try:
            Requirement(f"{name}=={version}")
        except InvalidRequirement:
            continue
        lines.append(f"{name}=={version}")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# pip
# ---------------------------------------------------------------------------------------------------------------
def _pip(*args: str, quiet: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", *args]
    return subprocess.run(command, capture_output=quiet, text=True)


def _to_install(needs: list[Need]) -> list[str]:
    return [n.pip_requirement() for n in needs if n.status != "fits"]


def plan(needs: list[Need], constraints: list[str]) -> dict[str, str]:
    """What ``pip install`` of the missing/outside packages under ``constraints`` would install: {name: version}
    (dependencies included), from pip's own resolver (``--dry-run --report``; needs the package index).

    Raises:
        RuntimeError: pip found no solution (its message included).
    """
    reqs = _to_install(needs)
    if not reqs:
        return {}
    with tempfile.TemporaryDirectory(prefix="islr-doctor-") as tmp:
        cfile, report = Path(tmp) / "held.txt", Path(tmp) / "report.json"
        cfile.write_text("\n".join(constraints) + "\n")
        done = _pip("install", "--dry-run", "--quiet", "--report", str(report), "-c", str(cfile), *reqs)
        if done.returncode != 0:
            raise RuntimeError(_pip_failure(done))
        items = json.loads(report.read_text()).get("install", [])
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in items}


def _pip_failure(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return "\n".join(lines[-15:])


def _pip_check() -> set[str]:
    done = _pip("check")
    return {line.strip() for line in done.stdout.splitlines() if line.strip() and "No broken" not in line}


# ---------------------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------------------
def table(needs: list[Need], planned: dict[str, str] | None = None) -> str:
    """The per-package table: package, asked by, found, supported range, what an install does."""
    rows = [("package", "extra", "found", "supported", "an install would")]
    planned = {canonicalize_name(k): v for k, v in (planned or {}).items()}
    for need in needs:
        name = need.requirement.name
        found = f"{need.version}" + (f" ({need.provider})" if need.provider and
                                     canonicalize_name(need.provider) != canonicalize_name(name) else "")
        target = planned.get(canonicalize_name(need.provider or name))
        action = {"fits": "keep it",
                  "missing": f"add {target}" if target else "add it",
                  "outside": f"change it to {target}" if target else "change it (outside the range)"}[need.status]
        rows.append((name, ",".join(need.extras), found if need.provider else "—",
                     str(need.requirement.specifier) or "any", action))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _dependency_lines(planned: dict[str, str], needs: list[Need], have: dict[str, tuple[str, str]]) -> list[str]:
    direct = {canonicalize_name(n.provider or n.requirement.name) for n in needs}
    out = []
    for name, version in sorted(planned.items()):
        key = canonicalize_name(name)
        if key in direct:
            continue
        out.append(f"  {name} {have[key][1]} -> {version}" if key in have else f"  {name} {version} (new)")
    return out


def compare(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> tuple[dict, dict, dict]:
    """(added {name: version}, changed {name: (old, new)}, removed {name: version}) between two snapshots."""
    added = {after[k][0]: after[k][1] for k in after.keys() - before.keys()}
    removed = {before[k][0]: before[k][1] for k in before.keys() - after.keys()}
    changed = {before[k][0]: (before[k][1], after[k][1]) for k in before.keys() & after.keys()
               if before[k][1] != after[k][1]}
    return added, changed, removed


def install(extras: tuple[str, ...], project: Path, release: tuple[str, ...] = (), editable: bool = False) -> int:
    """Install islr from the checkout ``project`` with ``extras`` into this environment, holding what fits.

    Returns:
        0 when islr is installed and every held package is unchanged; 1 otherwise (the reason is printed).
    """
    pyproject = project / "pyproject.toml"
    before = installed()
    needs = survey(extras, pyproject, before)
    constraints = held(needs, before, release)
    outside = [n for n in needs if n.status == "outside"]
    print(f"islr install: {sys.executable} (Python {sys.version.split()[0]}), extras: {', '.join(extras) or 'none'}")
    print(f"  holding {len(constraints)} installed packages at their versions")
    if outside:
        print("  outside islr's supported range, so pip may change them: "
              + ", ".join(f"{n.provider} {n.version} (supported {n.requirement.specifier})" for n in outside))
    problems_before = _pip_check()
    with tempfile.TemporaryDirectory(prefix="islr-install-") as tmp:
        cfile = Path(tmp) / "held.txt"
        cfile.write_text("\n".join(constraints) + "\n")
        reqs = _to_install(needs)
        if reqs:
            print(f"  adding: {' '.join(reqs)}", flush=True)
            done = _pip("install", "--quiet", "-c", str(cfile), *reqs)
            if done.returncode != 0:
                print(f"islr install: pip found no way to add islr's packages without changing the image's:\n"
                      f"{_pip_failure(done)}\n"
                      f"Run `islr doctor --plan` to see why, or pass --release NAME to let pip change a package.",
                      file=sys.stderr)
                return 1
        target = ["-e", str(project)] if editable else [str(project)]
        done = _pip("install", "--quiet", "--no-deps", "--force-reinstall", *target)
        if done.returncode != 0:
            print(f"islr install: installing islr itself failed:\n{_pip_failure(done)}", file=sys.stderr)
            return 1
    after = installed()
    added, changed, removed = compare(before, after)
    changed.pop(PROJECT, None)
    kept = {line.split("==")[0] for line in constraints}
    broken = sorted(n for n in (*changed, *removed) if n in kept)
    for title, items in (("added", added),
                         ("changed", {k: f"{a} -> {b}" for k, (a, b) in changed.items()}),
                         ("removed", removed)):
        if items:
            print(f"  {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(items.items())))
    new_problems = sorted(_pip_check() - problems_before)
    if new_problems:
        print("  pip check reports problems that were not there before:\n    " + "\n    ".join(new_problems))
    if broken:
        print(f"islr install: these held packages changed: {', '.join(broken)}", file=sys.stderr)
        return 1
    untouched = len(before) - len(changed) - len(removed)
    print(f"islr install: done; {untouched} of the environment's {len(before)} packages unchanged"
          f"{'' if not changed else f', {len(changed)} changed (outside the range or released)'}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------
def _checkout() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / PROJECT).is_dir() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="islr doctor",
        description="For each package islr needs: the version found here, the supported range, and what an install "
                    "would change. --install installs islr from a checkout without changing what already fits.")
    parser.add_argument("extras", nargs="*", default=list(DEFAULT_EXTRAS),
                        help="extras to check (default: notebooks = everything the notebook chain uses); 'base' for "
                             "the base install alone")
    parser.add_argument("--plan", action="store_true",
                        help="ask pip (dry run, needs the package index) for the exact versions an install would add "
                             "or change, dependencies included")
    parser.add_argument("--install", action="store_true", help="install islr from the checkout (--project)")
    parser.add_argument("--project", type=Path, default=None,
                        help="the islr checkout to read requirements from / install (default: this one, if islr runs "
                             "from a checkout; else the installed islr's metadata)")
    parser.add_argument("--release", nargs="+", default=[], metavar="NAME",
                        help="let pip change these installed packages")
    parser.add_argument("--editable", action="store_true", help="with --install: an editable install")
    args = parser.parse_args(argv)
    extras = tuple(e for e in args.extras if e != "base")
    project = args.project or _checkout()
    if args.install:
        if project is None:
            parser.error("--install needs a checkout of islr: --project DIR")
        return install(extras, project.resolve(), tuple(args.release), args.editable)
    pyproject = project / "pyproject.toml" if project is not None else None
    have = installed()
    needs = survey(extras, pyproject, have)
    planned = None
    if args.plan:
        try:
            planned = plan(needs, held(needs, have, tuple(args.release)))
        except RuntimeError as err:
            print(table(needs))
            print(f"\npip found no way to install the missing packages without changing held ones:\n{err}",
                  file=sys.stderr)
            return 1
    print(f"islr doctor: {sys.executable} (Python {sys.version.split()[0]}), extras: {', '.join(extras) or 'none'}")
    print(table(needs, planned))
    if planned:
        deps = _dependency_lines(planned, needs, have)
        if deps:
            print("dependencies pip would add or change as well:\n" + "\n".join(deps))
    counts = {s: sum(n.status == s for n in needs) for s in ("fits", "missing", "outside")}
    print(f"{counts['fits']} fit, {counts['missing']} missing, {counts['outside']} outside the supported range")
    return 0


if __name__ == "__main__":
    sys.exit(main())
