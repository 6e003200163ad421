"""Where the MediaPipe worker's python comes from (islr.extract.extract_python) and the cache environment.

The unit tests replace the set-up commands (venv, pip, the worker's import check) by a fake (:class:`FakeSystem`),
so nothing is installed or downloaded; the fake interpreters of the check tests are small shell scripts. One slow
test creates the cache environment for real, with islr seen as an installed package, and extracts a real video.
"""

import contextlib
import fnmatch
import io as stdio
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from islr import extract, landmarks, paths

REPO = Path(__file__).resolve().parents[1]
SOUP = REPO / "data" / "videos" / "soup.mp4"
PIP_ERROR = "ERROR: No matching distribution found for mediapipe==0.10.21"


@pytest.fixture(autouse=True)
def installed_layout(tmp_path, monkeypatch):
    """islr as an installed package (no checkout, no override), with its cache in a temporary folder."""
    monkeypatch.delenv(extract.PYTHON_ENV_VAR, raising=False)
    monkeypatch.setenv(extract.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "REPO_ROOT", None)
    monkeypatch.setattr(extract, "SETUP_SCRIPT", None)
    extract.current_python_fits.cache_clear()
    yield
    extract.current_python_fits.cache_clear()


class FakeSystem:
    """Stands in for ``extract._run``: answers venv, pip and the worker check as a machine would, and records them.

    Args:
        ensurepip: whether ``python -m venv`` can bootstrap pip (False: Debian's python without python3-venv).
        outer_pip: version of the current interpreter's pip ("" = no pip).
        pinned_ok / fallback_ok: whether pip installs the pinned file / the fallback set.
        imports_ok: whether the worker's imports work in the installed environment.
        current_fits: whether they work in the current interpreter.
    """

    def __init__(self, ensurepip=True, outer_pip="24.0", pinned_ok=True, fallback_ok=True, imports_ok=True,
                 current_fits=False):
        self.ensurepip, self.outer_pip = ensurepip, outer_pip
        self.pinned_ok, self.fallback_ok, self.imports_ok, self.current_fits = (pinned_ok, fallback_ok, imports_ok,
                                                                                 current_fits)
        self.calls: list[list[str]] = []
        self.installed: set[str] = set()

    def __call__(self, command, timeout=None):
        cmd = [str(c) for c in command]
        self.calls.append(cmd)
        if cmd[1:3] == ["-m", "venv"]:
            venv = Path(cmd[-1])
            (venv / "bin").mkdir(parents=True, exist_ok=True)
            (venv / "bin" / "python").write_text("#!/bin/sh\n")
            if "--without-pip" not in cmd and not self.ensurepip:
                return self._done(cmd, 1, "Error: Command '['python', '-m', 'ensurepip', '--upgrade', "
                                          "'--default-pip']' returned non-zero exit status 1.\n"
                                          "The virtual environment was not created successfully because "
                                          "ensurepip is not available.")
            return self._done(cmd, 0)
        if cmd[1:] == ["-I", "-m", "pip", "--version"]:
            return self._done(cmd, 0, f"pip {self.outer_pip} from /usr/lib (python 3.x)") if self.outer_pip \
                else self._done(cmd, 1, "No module named pip")
        if "install" in cmd:
            target = cmd[cmd.index("--python") + 1] if "--python" in cmd else cmd[0]
            ok = self.pinned_ok if "-r" in cmd else self.fallback_ok
            if ok:
                self.installed.add(target)
                return self._done(cmd, 0, "Successfully installed mediapipe-0.10.21")
            return self._done(cmd, 1, "Collecting mediapipe==0.10.21\n" + PIP_ERROR)
        if cmd[1:3] == ["-I", "-c"] and cmd[3] == extract._WORKER_CHECK:
            ok = self.current_fits if cmd[0] == sys.executable else cmd[0] in self.installed and self.imports_ok
            return self._done(cmd, 0 if ok else 1, "" if ok else "ModuleNotFoundError: No module named 'mediapipe'")
        raise AssertionError(f"unexpected set-up command {cmd}")

    @staticmethod
    def _done(cmd, code, output=""):
        return subprocess.CompletedProcess(cmd, code, stdout=output)

    def commands(self, word):
        return [c for c in self.calls if word in c]


@pytest.fixture
def fake(monkeypatch):
    system = FakeSystem()
    monkeypatch.setattr(extract, "_run", system)
    return system


def fake_python(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Resolution order
# ---------------------------------------------------------------------------------------------------------------
def test_env_var_comes_first(monkeypatch, tmp_path, fake):
    monkeypatch.setenv(extract.PYTHON_ENV_VAR, "/opt/mp/bin/python")
    monkeypatch.setattr(extract, "SETUP_SCRIPT", fake_python(tmp_path / "setup.sh", "exit 1"))
    assert extract.extract_python() == Path("/opt/mp/bin/python")
    assert fake.calls == []  # nothing checked or built


def test_checkout_uses_its_setup_script(monkeypatch, tmp_path, fake):
    script = fake_python(tmp_path / "setup.sh", 'echo "[setup] noise" >&2\necho /checkout/.venv-extract/bin/python')
    monkeypatch.setattr(extract, "SETUP_SCRIPT", script)
    assert extract.extract_python() == Path("/checkout/.venv-extract/bin/python")
    assert fake.calls == []  # neither the current interpreter nor the cache is consulted


def test_checkout_setup_failure_names_the_output_and_the_fix(monkeypatch, tmp_path, fake):
    monkeypatch.setattr(extract, "SETUP_SCRIPT", fake_python(tmp_path / "setup.sh", "echo 'pip: no network' >&2\n"
                                                                                   "exit 3"))
    with pytest.raises(extract.ExtractEnvironmentError, match="(?s)exit 3.*pip: no network.*extract --setup"):
        extract.extract_python()


def test_current_interpreter_when_mediapipe_works_there(fake):
    fake.current_fits = True
    assert extract.extract_python() == Path(sys.executable)
    assert fake.commands("venv") == [] and fake.commands("install") == []


def test_cache_environment_otherwise(fake, tmp_path):
    python = extract.extract_python()
    assert python == extract.cache_env_dir() / "bin" / "python"
    assert python.is_relative_to(tmp_path / "cache")
    assert fake.commands("venv") and fake.commands("install")


def test_current_interpreter_is_checked_once_per_process(fake):
    extract.current_python_fits()
    extract.current_python_fits()
    extract.extract_python()
    assert len([c for c in fake.calls if c[0] == sys.executable and extract._WORKER_CHECK in c]) == 1


# ---------------------------------------------------------------------------------------------------------------
# The check itself, on fake interpreters
# ---------------------------------------------------------------------------------------------------------------
def fake_mediapipe(root: Path, with_holistic: bool) -> Path:
    """A fake cv2 and mediapipe package (mediapipe.solutions.holistic, with or without Holistic)."""
    (root / "mediapipe" / "solutions").mkdir(parents=True)
    (root / "cv2.py").write_text("")
    (root / "mediapipe" / "__init__.py").write_text("from . import solutions\n")
    (root / "mediapipe" / "solutions" / "__init__.py").write_text("from . import holistic\n")
    (root / "mediapipe" / "solutions" / "holistic.py").write_text("class Holistic: pass\n" if with_holistic else "")
    return root


@pytest.mark.parametrize("with_holistic", [True, False])
def test_check_needs_holistic(tmp_path, with_holistic):
    site = fake_mediapipe(tmp_path / "site", with_holistic)
    # An interpreter whose site holds the fake packages (the script drops -I so that PYTHONPATH applies).
    python = fake_python(tmp_path / "python", f'shift\nPYTHONPATH={site} exec {sys.executable} "$@"')
    done = extract._python_fits(python)
    assert (done.returncode == 0) == with_holistic, done.stdout
    if not with_holistic:
        assert "Holistic" in done.stdout


def test_check_of_a_missing_or_failing_interpreter(tmp_path):
    assert extract._python_fits(tmp_path / "no-such-python").returncode != 0
    assert extract._python_fits(fake_python(tmp_path / "python", "exit 1")).returncode != 0
    assert extract._python_fits(fake_python(tmp_path / "ok", "exit 0")).returncode == 0


def test_check_uses_the_workers_isolated_flag(fake, monkeypatch, tmp_path):
    python = fake_python(tmp_path / "python", "exit 0")
    extract._python_fits(python)
    assert fake.calls[-1][:3] == [str(python), "-I", "-c"]
    monkeypatch.setattr(extract, "extract_python", lambda: python)
    assert extract._worker_command("batch")[:2] == [str(python), "-I"]


# ---------------------------------------------------------------------------------------------------------------
# The cache environment
# ---------------------------------------------------------------------------------------------------------------
def test_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ISLR_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert extract.cache_dir() == tmp_path / "own"
    monkeypatch.delenv("ISLR_CACHE")
    assert extract.cache_dir() == tmp_path / "xdg" / "islr"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert extract.cache_dir() == tmp_path / "home" / ".cache" / "islr"


def test_cache_env_name_hashes_the_requirements_and_the_python_version(tmp_path):
    name = extract.cache_env_dir().name
    assert re.fullmatch(rf"extract-py{sys.version_info[0]}\.{sys.version_info[1]}-[0-9a-f]{{12}}", name), name
    assert extract.cache_env_dir().parent == extract.cache_dir()
    other = tmp_path / "requirements.txt"
    other.write_bytes(extract.REQUIREMENTS.read_bytes())
    assert extract.cache_env_dir(other).name == name  # the bytes count, not the file's place
    other.write_bytes(extract.REQUIREMENTS.read_bytes() + b"numpy==1.26.3\n")
    assert extract.cache_env_dir(other).name != name
    assert extract.cache_env_dir(version=(3, 10)).name.startswith("extract-py3.10-")
    assert extract.cache_env_dir(version=(3, 10)).name[-12:] != name[-12:]


def test_created_once_then_stamped(fake, capsys):
    python = extract.cache_env_python()
    assert "islr: creating the MediaPipe environment in" in capsys.readouterr().err
    assert (python.parent.parent / extract._STAMP).is_file()
    # venv with its own pip, the pinned file, then the worker's check in the new environment.
    venv_cmd, install, check = fake.calls
    assert venv_cmd == [sys.executable, "-m", "venv", str(extract.cache_env_dir())]
    assert install[:4] == [str(python), "-I", "-m", "pip"] and install[-2:] == ["-r", str(extract.REQUIREMENTS)]
    assert check[:2] == [str(python), "-I"]
    n_calls = len(fake.calls)
    start = time.perf_counter()
    assert extract.cache_env_python() == python
    assert time.perf_counter() - start < 0.5
    assert len(fake.calls) == n_calls and capsys.readouterr().err == ""


@pytest.mark.parametrize("leftover", ["no stamp", "stale stamp", "no python"])
def test_half_made_environment_is_rebuilt(fake, leftover):
    venv = extract.cache_env_dir()
    (venv / "bin").mkdir(parents=True)
    (venv / "junk-of-an-interrupted-install").write_text("")
    if leftover != "no python":
        (venv / "bin" / "python").write_text("")
    if leftover != "no stamp":
        (venv / extract._STAMP).write_text("extract-py3.11-000000000000\n" if leftover == "stale stamp" else venv.name)
    python = extract.cache_env_python()
    assert not (venv / "junk-of-an-interrupted-install").exists()
    assert fake.commands("venv") and str(python) in fake.installed
    assert (venv / extract._STAMP).read_text().strip() == venv.name


def test_failed_build_is_not_reused(fake):
    fake.imports_ok = False
    with pytest.raises(extract.ExtractEnvironmentError, match="No module named 'mediapipe'"):
        extract.cache_env_python()
    assert not (extract.cache_env_dir() / extract._STAMP).exists()
    fake.imports_ok = True
    n_venvs = len(fake.commands("venv"))
    extract.cache_env_python()
    assert len(fake.commands("venv")) == n_venvs + 1  # built again from scratch


def test_without_ensurepip_the_outer_pip_installs_with_python_option(fake):
    fake.ensurepip = False  # Colab's Debian python: "ensurepip is not available"
    python = extract.cache_env_python()
    venvs = fake.commands("venv")
    assert "--without-pip" not in venvs[0] and "--without-pip" in venvs[1]
    install = fake.commands("install")[0]
    assert install[:6] == [sys.executable, "-I", "-m", "pip", "--python", str(python)]
    assert str(python) in fake.installed


@pytest.mark.parametrize("outer_pip", ["22.2", ""])
def test_without_ensurepip_and_a_pip_too_old_for_python_option(fake, outer_pip):
    fake.ensurepip, fake.outer_pip = False, outer_pip
    with pytest.raises(extract.ExtractEnvironmentError) as err:
        extract.cache_env_python()
    message = str(err.value)
    assert "ensurepip is not available" in message and "22.3" in message
    assert err.value.fix.endswith("-m pip install --upgrade pip") and message.endswith(err.value.fix)
    assert fake.commands("install") == []


def test_pinned_set_that_cannot_install_falls_back_to_mediapipe_and_numpy_1(fake):
    fake.pinned_ok = False  # e.g. Python 3.10: scipy 1.17 of the pins needs 3.11
    python = extract.cache_env_python()
    pinned, fallback = fake.commands("install")
    assert "-r" in pinned and "-r" not in fallback
    assert fallback[-2:] == ["mediapipe==0.10.21", "numpy<2"]
    assert (python.parent.parent / extract._STAMP).exists()


def test_error_names_pips_last_lines_and_the_one_command(fake):
    fake.pinned_ok = fake.fallback_ok = False
    with pytest.raises(RuntimeError) as err:
        extract.cache_env_python()
    assert isinstance(err.value, extract.ExtractEnvironmentError)
    message = str(err.value)
    assert PIP_ERROR in message and str(extract.cache_env_dir()) in message
    assert err.value.fix == extract.SETUP_COMMAND and err.value.fix.endswith("-m islr extract --setup")
    assert message.splitlines()[-1] == f"To fix it, run: {extract.SETUP_COMMAND}"
    assert not (extract.cache_env_dir() / extract._STAMP).exists()


# ---------------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------------
def run_main(argv):
    stdout, stderr = stdio.StringIO(), stdio.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = extract.main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def test_setup_prints_the_python_on_its_last_line(fake):
    code, out, err = run_main(["--setup"])
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(extract.cache_env_dir() / "bin" / "python")
    assert "creating the MediaPipe environment" in err
    code, out, err = run_main(["--setup"])  # checks the existing one, builds nothing
    assert code == 0 and out.strip().splitlines()[-1] == str(extract.cache_env_dir() / "bin" / "python")
    assert len(fake.commands("venv")) == 1 and err == ""


def test_setup_failure_is_exit_2_with_the_message(fake):
    fake.pinned_ok = fake.fallback_ok = False
    code, out, err = run_main(["--setup"])
    assert code == 2 and out == ""
    assert PIP_ERROR in err and "extract --setup" in err


def test_setup_checks_an_override_too(monkeypatch, tmp_path):
    monkeypatch.setenv(extract.PYTHON_ENV_VAR, str(fake_python(tmp_path / "python", "echo broken >&2; exit 1")))
    code, out, err = run_main(["--setup"])
    assert code == 2 and "broken" in err and f"unset {extract.PYTHON_ENV_VAR}" in err


def test_setup_takes_no_videos_and_videos_need_out(capsys):
    with pytest.raises(SystemExit) as exit_:
        extract.main(["--setup", str(SOUP)])
    assert exit_.value.code == 2 and "--setup takes no videos" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        extract.main([str(SOUP)])
    assert "required: --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        extract.main([])
    assert "required: VIDEO, --out" in capsys.readouterr().err


def test_help_describes_setup(capsys):
    with pytest.raises(SystemExit):
        extract.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--setup" in text and "print its python on the last line" in text
    assert "ISLR_CACHE" in text and "ISLR_EXTRACT_PYTHON" in text


# ---------------------------------------------------------------------------------------------------------------
# The requirements file is package data, one file for both environments
# ---------------------------------------------------------------------------------------------------------------
def test_requirements_are_package_data_and_the_only_copy():
    assert extract.REQUIREMENTS == paths.RESOURCES_DIR / "requirements-extract.txt"
    assert extract.REQUIREMENTS.is_file() and "mediapipe==0.10.21" in extract.REQUIREMENTS.read_text().split()
    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["islr"]
    assert any(fnmatch.fnmatch("resources/requirements-extract.txt", g) for g in globs)
    assert not (REPO / "requirements-extract.txt").exists()
    assert "src/islr/resources/requirements-extract.txt" in (REPO / "scripts" / "setup.sh").read_text()
    assert extract._fallback_requirements() == ["mediapipe==0.10.21", "numpy<2"]


# ---------------------------------------------------------------------------------------------------------------
# For real: an installed islr creates its environment and extracts a real video
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_installed_package_creates_its_environment_and_extracts_a_video(tmp_path):
    # The fixture made islr look installed (no checkout, no $ISLR_EXTRACT_PYTHON) with $ISLR_CACHE in tmp_path.
    # mediapipe cannot live in this environment (numpy 2), so the cache environment is created, for real.
    assert not extract.current_python_fits()
    xyz = extract.extract_video(SOUP)
    python = extract.extract_python()
    assert python == extract.cache_env_dir() / "bin" / "python" and python.is_relative_to(tmp_path / "cache")
    assert (extract.cache_env_dir() / extract._STAMP).is_file()
    assert xyz.dtype == np.float32 and xyz.shape == (41, landmarks.N_LANDMARKS, 3)
    assert extract.hand_rate(xyz) > 0.5
    assert np.isfinite(xyz[:, landmarks.PART_SLICE["pose"]]).all()
    start = time.perf_counter()
    assert extract.cache_env_python() == python  # from its stamp now
    assert time.perf_counter() - start < 0.5
