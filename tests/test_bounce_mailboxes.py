"""The mailboxes bounces are read from besides a Maildir: an mbox file and standard input
(an MTA's pipe), and what becomes of the mail understood (moved, or deleted). IMAP has
tests/test_bounces_imap.py."""

from __future__ import annotations

import io
import mailbox
from pathlib import Path

from click.testing import CliRunner

import bounce_mail
from builders import (
    DAY,
    Clock,
    bounce_token,
    make_deployment,
    make_item,
    save_items,
    statuses,
    subscribe,
)
from bulletin import pipeline
from bulletin.cli import main
from bulletin.config import Config

BOUNCES = "bounces@news.example.org"


def test_mail_on_standard_input_is_read_as_one_message(tmp_path: Path) -> None:
    config = make_deployment(tmp_path, delivery={"bounce_address": BOUNCES})
    subscribe(config, ["ann@example.net"])
    save_items(config, [make_item("a")])
    ctx = pipeline.RunContext(config)
    pipeline.send_day(ctx, DAY, clock=Clock())
    # An MTA's pipe gives the recipient apart: the message itself went to the plain address.
    verp = f"bounces+{bounce_token(config, 'ann@example.net')}@news.example.org"
    data = bounce_mail.postfix_dsn(b"Subject: x\n\n", BOUNCES, "ann@example.net")
    stdin = io.BytesIO(data)
    (report,) = pipeline.ingest_bounces(ctx, "-", stdin=stdin, recipient=verp, clock=Clock())
    assert [(h.kind, h.address) for h in report.handled] == [("hard", "ann@example.net")]
    assert statuses(config) == {"ann@example.net": "bounced"}


def sent_to_ann(tmp_path: Path, **bounces: str) -> tuple[Config, bytes, bytes]:
    """A deployment whose digest went to ann, her 5.1.1 bounce and a message not understood."""
    config = make_deployment(
        tmp_path, delivery={"bounce_address": BOUNCES, "bounces": dict(bounces)}
    )
    subscribe(config, ["ann@example.net"])
    save_items(config, [make_item("a")])
    pipeline.send_day(pipeline.RunContext(config), DAY, clock=Clock())
    verp = f"bounces+{bounce_token(config, 'ann@example.net')}@news.example.org"
    bounce = bounce_mail.postfix_dsn(b"Subject: x\n\n", verp, "ann@example.net")
    return config, bounce, b"From: a@example.com\nSubject: Hello\n\nIs this the newsroom?\n"


def test_an_mbox_keeps_what_was_not_understood_and_moves_the_rest_beside_it(
    tmp_path: Path,
) -> None:
    config, bounce, other = sent_to_ann(tmp_path)
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path)
    box.add(other)
    box.add(bounce)
    box.close()
    (report,) = pipeline.ingest_bounces(pipeline.RunContext(config), str(path), clock=Clock())
    assert [(h.name, h.kind) for h in report.handled] == [
        (f"{path} message 1", "unknown"),
        (f"{path} message 2", "hard"),
    ]
    left, done = mailbox.mbox(path), mailbox.mbox(tmp_path / "bounces.mbox.bulletin-done")
    assert [m["Subject"] for m in left] == ["Hello"]
    assert [m["Subject"] for m in done] == ["Undelivered Mail Returned to Sender"]
    assert statuses(config) == {"ann@example.net": "bounced"}


def test_mail_understood_can_be_deleted_instead(tmp_path: Path) -> None:
    config, bounce, other = sent_to_ann(tmp_path, processed="delete", mailbox="mail")
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(bounce)
    kept = box.add(other)
    (report,) = pipeline.ingest_bounces(pipeline.RunContext(config), clock=Clock())
    assert sorted(h.kind for h in report.handled) == ["hard", "unknown"]
    assert list(mailbox.Maildir(tmp_path / "mail").keys()) == [kept]
    assert not (tmp_path / "mail" / ".bulletin-done").exists()


def test_the_ingest_command_reads_standard_input_and_says_what_it_did(tmp_path: Path) -> None:
    config, bounce, other = sent_to_ann(tmp_path)
    base = ["-c", str(config.root / "config.yaml"), "bounces", "ingest", "-"]
    read = CliRunner().invoke(main, base, input=bounce)
    assert read.exit_code == 0, read.output
    assert (
        "hard       standard input: ann@example.net: marked bounced and suppressed" in read.stdout
    )
    assert "1 read (1 hard); 1 understood" in read.stdout
    left = CliRunner().invoke(main, base, input=other)
    assert left.exit_code == 1
    assert "left       standard input: not a bounce, complaint or autoreply" in left.stdout
    nothing = CliRunner().invoke(
        main, ["-c", str(config.root / "config.yaml"), "bounces", "ingest"]
    )
    assert nothing.exit_code == 1 and "no bounce mailbox to read" in nothing.output


def test_run_once_reads_the_bounce_mailbox_and_says_so(tmp_path: Path) -> None:
    config, bounce, other = sent_to_ann(tmp_path, mailbox="mail")
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(bounce)
    box.add(other)
    ran = CliRunner().invoke(main, ["-c", str(config.root / "config.yaml"), "run", "--once"])
    assert f"  bounces    2 read from {tmp_path / 'mail'}; 1 not understood, left" in ran.stdout
    assert statuses(config) == {"ann@example.net": "bounced"}
