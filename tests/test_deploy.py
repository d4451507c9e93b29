"""deploy/: the systemd units pass `systemd-analyze verify`, the commands they and the
Dockerfile run exist with those options, and the image runs as a non-root user with volumes
for var/ and feeds/ and a health check."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from builders import BULLETIN
from bulletin.cli import main
from bulletin.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("bulletin.service", "bulletin-once.service", "bulletin-once.timer")
INSTALLED = "/opt/bulletin/bin/bulletin"


def unit_commands() -> list[list[str]]:
    """The bulletin command lines of the units' Exec lines, without the program."""
    found = []
    for name in UNITS:
        for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
            if re.match(r"Exec(Start|StartPre)=", line):
                words = shlex.split(line.split("=", 1)[1])
                assert words[0] == INSTALLED, line
                found.append(words[1:])
    return found


def dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def json_array(instruction: str) -> list[str]:
    match = re.search(
        rf"^{instruction}\s+(?:--\S+\s+|\\\n\s*)*(?:CMD\s+)?(\[.*\])", dockerfile(), re.M
    )
    assert match, instruction
    return [word.strip(' "') for word in match.group(1).strip("[]").split(",")]


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:  # the issue allows it; .ci/setup.d/schedule.sh installs it for CI
        warnings.warn("SKIPPED: systemd-analyze is missing", stacklevel=1)
        pytest.skip("systemd-analyze is missing: run .ci/setup.d/schedule.sh as root")
    # verify checks that ExecStart's program exists: point it at this checkout's bulletin.
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED, BULLETIN), encoding="utf-8")
    result = subprocess.run(
        [tool, "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Unknown keys and bad values are only warnings (exit 0): none may name our files.
    ours = [
        line for line in result.stderr.splitlines() if str(tmp_path) in line or "bulletin" in line
    ]
    assert result.returncode == 0 and ours == [], result.stderr


@pytest.mark.parametrize("command", unit_commands(), ids=" ".join)
def test_each_command_the_units_run_exists_with_its_options(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output


def test_the_image_runs_bulletin_serve_as_a_user_with_volumes_and_a_health_check() -> None:
    text = dockerfile()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases and all(re.fullmatch(r"python:3\.\d+-slim", base) for base in bases)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert json_array("VOLUME") == ["/srv/bulletin/var", "/srv/bulletin/feeds"]
    assert json_array("ENTRYPOINT") == ["bulletin"]
    for command in (json_array("CMD"), json_array("HEALTHCHECK")[1:]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
    assert json_array("HEALTHCHECK")[:3] == ["bulletin", "status", "--health"]
    for source in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which is missing"


def test_the_compose_file_runs_two_serve_on_one_postgresql_behind_the_web_endpoint() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    serving = [s for s in services.values() if s.get("command", [])[:1] == ["serve"]]
    assert len(serving) == 2 and "postgres" in services and "web" in services
    for service in serving:
        result = CliRunner().invoke(main, [*service["command"], "--help"])
        assert result.exit_code == 0, result.output
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        # The password reaches bulletin through the environment, never config.yaml.
        assert "BULLETIN_DB_PASSWORD" in service["environment"]
        mounts = [volume.split(":")[:2] for volume in service["volumes"]]
        assert ["feeds", "/srv/bulletin/feeds"] in mounts  # one feeds/ the leader writes
    web = services["web"]
    assert "feeds:/usr/share/nginx/html:ro" in web["volumes"]
    assert "proxy_pass http://bulletin" in compose["configs"]["web"]["content"]
    # The store section its header asks for is one bulletin accepts.
    header = (DEPLOY / "compose.yaml").read_text(encoding="utf-8").split("\nname:")[0]
    url = re.search(r"url: (\S+)", header)
    assert url is not None
    config = parse_config(f"store:\n  url: {url.group(1)}\n", "compose.yaml", ROOT)
    assert config.store.url == url.group(1)
