"""A real IMAP server for the bounce tests: Debian's Dovecot, started in a temporary folder.

It runs in the foreground as an unprivileged user (the one running the tests, or ``nobody``
when that is root), listens for implicit TLS on a free port of 127.0.0.1 with a self-signed
certificate, and keeps one user's mail in a Maildir under its folder. Nothing of the
system's Dovecot setup is read or changed: its config is written here. Installed by
.ci/setup.d/bounces.sh.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from smtp_servers import free_port, self_signed

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

_CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{folder}/server.crt
ssl_key = <{folder}/server.key
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={folder}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def available() -> bool:
    """Whether Dovecot is installed."""
    return Path(DOVECOT).exists()


class Dovecot:
    """A running Dovecot with one user; ``ca_file`` is the certificate clients should trust."""

    def __init__(self, user: str = "bounces", password: str = "bounce-secret") -> None:
        self.user, self.password, self.port = user, password, free_port()
        # Not under pytest's tmp_path: its root is closed to every user but the one running.
        self.folder = Path(tempfile.mkdtemp(prefix="bulletin-dovecot-"))
        self.folder.chmod(0o755)
        runs_as = "nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(pwd.getpwnam(runs_as).pw_gid).gr_name
        for sub in ("run", "state", "home"):
            (self.folder / sub).mkdir()
        _, self.ca_file = self_signed(self.folder)
        (self.folder / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
        config = self.folder / "dovecot.conf"
        config.write_text(
            _CONFIG.format(folder=self.folder, user=runs_as, group=group, port=self.port)
        )
        if os.getuid() == 0:
            shutil.chown(self.folder, runs_as, group)
            for path in self.folder.rglob("*"):
                shutil.chown(path, runs_as, group)
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            user=runs_as if os.getuid() == 0 else None,
            group=group if os.getuid() == 0 else None,
        )
        self._wait_until_listening()

    def _wait_until_listening(self, seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot stopped: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on {self.port} in {seconds} s: {self.log()}")

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s) and remove its folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)
