"""The matcher's image (matching_cluster/Dockerfile) and its lock file, read statically.

No container engine runs here, so the Dockerfile is parsed: two stages from the same
slim Python, nothing but the venv in the final one, a numeric non-root user, the
matcher's entry point. The lock pins every runtime dependency of pyproject.toml with ==
and hashes, within pyproject's ranges. (tests/integration/matching/test_matcher_pod.py
runs that entry point with the pod's environment.) hadolint is not used: it is a Haskell
binary that no package registry here ships.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from chalicelib.settings import PROJECT_ROOT, Settings

DOCKERFILE = PROJECT_ROOT / "matching_cluster" / "Dockerfile"
LOCK = PROJECT_ROOT / "matching_cluster" / "requirements.lock"
VENV = "/opt/venv"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages, each with its (INSTRUCTION, arguments) in order; ARG
    defaults declared before the first FROM are substituted into the FROM lines."""
    logical = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in filter(None, (raw.strip() for raw in logical.splitlines())):
        instruction, _, arguments = line.partition(" ")
        instruction, arguments = instruction.upper(), " ".join(arguments.split())
        if instruction == "ARG" and not stages:
            key, _, default = arguments.partition("=")
            global_args[key] = default
        elif instruction == "FROM":
            base, _, alias = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)],
                                    arguments).partition(" AS ")
            stages.append(Stage(base.strip(), alias.strip()))
        else:
            stages[-1].instructions.append((instruction, arguments))
    return stages


def image_entrypoint() -> list[str]:
    """The final stage's ENTRYPOINT (exec form)."""
    (entrypoint,) = dockerfile_stages()[-1].arguments("ENTRYPOINT")
    command: list[str] = json.loads(entrypoint)
    return command


def image_user() -> int:
    (user,) = dockerfile_stages()[-1].arguments("USER")
    return int(user.partition(":")[0])


def locked_packages() -> dict[str, tuple[Requirement, list[str]]]:
    """Each locked package by canonical name: its requirement and its hashes."""
    text = re.sub(r"\\\n", " ", LOCK.read_text())
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *hashes = line.split(" --hash=")
        parsed = Requirement(requirement.strip())
        entries[canonicalize_name(parsed.name)] = (parsed, [h.strip() for h in hashes])
    return entries


def runtime_requirements() -> list[Requirement]:
    """pyproject.toml's [project.dependencies], and what their extras add."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    direct = [Requirement(spec) for spec in project["dependencies"]]
    return direct + [added for r in direct for added in extras_requirements(r)]


def extras_requirements(requirement: Requirement) -> list[Requirement]:
    """What ``requirement``'s extras (psycopg[binary,pool]) add, from installed metadata."""
    added = []
    for spec in importlib.metadata.requires(requirement.name) or []:
        dependency = Requirement(spec)
        marker = dependency.marker
        if marker and "extra" in str(marker) and any(
                marker.evaluate({"extra": extra}) for extra in requirement.extras):
            added.append(dependency)
    return added


def pinned_version(requirement: Requirement) -> Version:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not pinned with =="
    return Version(specifier.version)


def test_two_stages_from_the_same_slim_python() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert re.fullmatch(r"python:3\.11[\w.]*-slim(-\w+)?(@sha256:[0-9a-f]{64})?", final.base)
    # The venv's interpreter path must exist in the final image.
    assert builder.base == final.base
    assert any(f"--from={builder.name}" in args for args in final.arguments("COPY"))


def test_final_stage_holds_the_venv_and_no_build_tools() -> None:
    final = dockerfile_stages()[-1]
    assert final.arguments("COPY") == [f"--from=builder {VENV} {VENV}"]
    assert final.arguments("RUN") == [], "the final stage installs nothing"
    assert final.arguments("ADD") == []
    everything = " ".join(args for _, args in final.instructions)
    for tool in ("gcc", "build-essential", "apt-get", "make"):
        assert tool not in everything


def test_runs_as_a_numeric_non_root_user() -> None:
    (user,) = dockerfile_stages()[-1].arguments("USER")
    assert re.fullmatch(r"\d+(:\d+)?", user), "numeric, so runAsNonRoot can be verified"
    assert image_user() != 0
    assert all(int(part) != 0 for part in user.split(":"))


def test_entry_point_is_the_matcher_service_from_the_venv() -> None:
    final = dockerfile_stages()[-1]
    interpreter, flag, module = image_entrypoint()
    assert (interpreter, flag) == ("python", "-m")
    assert importlib.util.find_spec(f"{module}.__main__") is not None
    env = " ".join(final.arguments("ENV"))
    assert f"PATH={VENV}/bin:" in env, "`python` must be the venv's"
    assert "PYTHONUNBUFFERED=1" in env, "log lines reach the pod's log as they happen"
    assert final.arguments("STOPSIGNAL") == ["SIGTERM"]
    health_port = Settings.model_fields["matcher_health_port"].default
    assert final.arguments("EXPOSE") == [str(health_port)]


def test_dependencies_install_from_the_lock_by_hash_then_the_project_without_deps() -> None:
    builder = dockerfile_stages()[0]
    pairs = [args.split() for args in builder.arguments("COPY")]
    copies = {pair[1]: pair[0] for pair in pairs if len(pair) == 2}
    runs = builder.arguments("RUN")
    lock_install = next(r for r in runs if "--require-hashes" in r)
    (target,) = re.findall(r"-r (\S+)", lock_install)
    assert copies[target] == str(LOCK.relative_to(PROJECT_ROOT))
    assert "--only-binary=:all:" in lock_install, "nothing compiles, so no compilers"
    assert any(re.search(r"pip install --no-deps .* \.$", r) for r in runs)
    assert runs.index(lock_install) < next(i for i, r in enumerate(runs) if "--no-deps" in r)


def test_build_context_holds_what_the_image_copies() -> None:
    """.dockerignore sends only what it re-includes; every COPY from the context is in it."""
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    sources = [part for stage in dockerfile_stages() for args in stage.arguments("COPY")
               if not args.startswith("--from") for part in args.split()[:-1]]
    assert sources
    assert all(Path(source).parts[0] in included for source in sources), sources


def test_lock_file_says_how_to_regenerate_it() -> None:
    first = LOCK.read_text().splitlines()[0]
    assert first.startswith("# ")
    assert "pip-compile" in first
    assert "--generate-hashes" in first


def test_every_locked_package_is_pinned_with_hashes() -> None:
    """pip --require-hashes refuses a lock with any entry unpinned or without a hash."""
    for name, (requirement, hashes) in locked_packages().items():
        pinned_version(requirement)
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=str)
def test_lock_pins_each_runtime_dependency_within_its_range(requirement: Requirement) -> None:
    locked = locked_packages()
    name = canonicalize_name(requirement.name)
    assert name in locked, f"{requirement} is missing from {LOCK.name}"
    pinned = pinned_version(locked[name][0])
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"{name}=={pinned} is outside pyproject.toml's {requirement.specifier}")


def test_builder_builds_the_compiled_order_book_from_pinned_tools_into_the_venv() -> None:
    """The matcher's default book is compiled in the builder (Rust of a pinned image,
    maturin pinned, crates from Cargo.lock) and installed into the venv it hands over."""
    builder = dockerfile_stages()[0]
    runs = " ".join(builder.arguments("RUN"))
    assert "maturin build --release --locked -m matching_cluster/engine_rs/Cargo.toml" in runs
    assert "/opt/venv/bin/pip install --no-deps /tmp/wheels/matching_cluster_engine_rs-" in runs
    assert re.search(r"maturin==\d+\.\d+\.\d+", runs)
    toolchains = [args.split()[0] for args in builder.arguments("COPY")
                  if args.startswith("--from=rust:")]
    assert toolchains
    for source in toolchains:
        assert re.fullmatch(r"--from=rust:\d+\.\d+\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?",
                            source)
