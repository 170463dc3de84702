"""``kiosk doctor`` (issue 8): each check on real simulated devices, files and processes where this
machine has them, and through seams (clock, timedatectl, disk usage) where it cannot have them."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.relay.lcus_frames import switch_frame
from kiosk.config import DeviceConfig, WebConfig, load_config
from kiosk.doctor import (
    Row,
    Status,
    check_clock,
    check_disk,
    check_ledger,
    check_secret,
    check_time_sync,
    check_timezone,
    render,
    run_doctor,
    shown_url,
)
from kiosk.doctor_devices import (
    camera_frames,
    check_camera,
    check_device,
    check_devices,
    check_pcscd,
    permitted,
    present,
)
from kiosk.ledger import open_ledger

from .service_support import SECRET, NotifyListener, make_rig, start_service, stop_service, wait_until

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ENV = {"KIOSK_SITE_SECRET": SECRET}


def synced(_argv: Any) -> subprocess.CompletedProcess[str]:
    """timedatectl as on a synchronised kiosk."""
    return subprocess.CompletedProcess([], 0, "NTPSynchronized=yes\nNTP=yes\n", "")


def rows_by_check(text: str) -> dict[str, tuple[str, str]]:
    """The printed table as check -> (result, detail)."""
    found = {}
    for line in text.splitlines()[1:]:
        parts = line.split(maxsplit=1)
        if not line.startswith(" ") and len(parts) == 2 and "  " in line:
            check, rest = line[:line.index("  ")], line[line.index("  "):].strip()
            result, _, detail = rest.partition(" ")
            found[check] = (result, detail.strip())
    return found


# -- the whole run ----------------------------------------------------------------------------


def test_a_healthy_kiosk_passes_with_exit_0(tmp_path: Path) -> None:
    """GIVEN every simulated device answering and a migrated ledger THEN every row passes and exit is 0."""
    rig = make_rig(tmp_path)
    try:
        open_ledger(load_config(rig.config, env=ENV).ledger_url).close()       # as a first start would
        out = io.StringIO()
        code = run_doctor(rig.config, ENV, out=out, now=NOW, run=synced)
    finally:
        rig.stop()
    table = rows_by_check(out.getvalue())
    assert code == 0, out.getvalue()
    for role in ("idcard", "scanner", "gate"):
        assert table[f"{role} present"][0] == "ok"
        assert table[f"{role} answers"][0] == "ok"
        assert table[f"{role} permitted"][0] == ("warn" if os.geteuid() == 0 else "ok")
    assert table["ledger"] == ("ok", f"sqlite:///{tmp_path}/ledger.db: reachable, schema up to date")
    assert table["pcscd"][0] == table["camera"][0] == "-"
    assert table["camera"][1] == "not configured"
    assert table["time sync"] == ("ok", "synchronised (NTP)")
    assert out.getvalue().rstrip().endswith("no problems found")


def test_a_missing_scanner_fails_with_its_fix_and_exit_1(tmp_path: Path) -> None:
    """GIVEN the scanner unplugged THEN its row fails with a fix naming the udev rules, and exit is 1."""
    rig = make_rig(tmp_path, plug=("idcard", "gate"))
    try:
        out = io.StringIO()
        code = run_doctor(rig.config, ENV, out=out, now=NOW, run=synced)
    finally:
        rig.stop()
    text = out.getvalue()
    assert code == 1
    assert rows_by_check(text)["scanner present"] == ("FAIL", f"{rig.links}/scanner does not exist")
    assert "fix: plug the scanner device in" in text and "99-kiosk.rules" in text
    assert rows_by_check(text)["scanner answers"] == ("-", "not checked: absent")
    assert text.rstrip().endswith("1 problem found")


def test_an_invalid_config_fails_and_still_checks_the_clock(tmp_path: Path) -> None:
    """A config with a bad key fails by name; device and ledger rows are skipped; time rows still run."""
    path = tmp_path / "kiosk.toml"
    path.write_text('[kiosk]\nid = 1\nsite = "baktu"\n', encoding="utf-8")
    out = io.StringIO()
    assert run_doctor(path, ENV, out=out, now=NOW, run=synced) == 1
    table = rows_by_check(out.getvalue())
    assert table["config"][0] == "FAIL" and "kiosk.id: expected str, got 1" in table["config"][1]
    assert table["devices, ledger"][0] == "-"
    assert table["clock"][0] == "ok" and table["time zone"][0] == "ok"


def test_the_command_line_form_prints_the_table_and_exits_1(tmp_path: Path) -> None:
    """``run_doctor(path, os.environ)`` as the CLI calls it, in a process of its own."""
    result = subprocess.run([sys.executable, "-c", "import os, sys; from kiosk.doctor import run_doctor; "
                             "sys.exit(run_doctor(sys.argv[1], os.environ))", str(tmp_path / "absent.toml")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "KIOSK_SITE_SECRET": SECRET})
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("CHECK ")
    assert "absent.toml: cannot read" in result.stdout and "fix: give the kiosk's config with --config" in result.stdout
    assert "Traceback" not in result.stderr


# -- devices -------------------------------------------------------------------------------------


def test_a_device_that_does_not_answer_fails_with_a_fix(tmp_path: Path) -> None:
    """A port that opens but never answers (a pty nobody serves) fails 'answers' for the SAM-V reader."""
    master, slave = os.openpty()
    try:
        rows = check_device("idcard", DeviceConfig("idcard", "samv", os.ttyname(slave), {}), WebConfig())
    finally:
        os.close(master)
        os.close(slave)
    assert [r.status for r in rows] == [Status.OK, Status.WARN if os.geteuid() == 0 else Status.OK, Status.FAIL]
    assert "does not answer" in rows[2].fix and "baudrate" in rows[2].fix


def test_a_device_the_running_kiosk_holds_is_asked_about_not_opened(tmp_path: Path) -> None:
    """GIVEN kiosk serve holding every port THEN the doctor reports the service's view of each device
    and sends the relay board nothing (a second open would switch its relays off under the service)."""
    rig = make_rig(tmp_path)
    listener = NotifyListener()
    proc = start_service(rig, listener)
    try:
        listener.wait_for(lambda n: n.fields.get("READY") == "1", "READY=1")
        # the service's own all-off at open may still be on its way through the pty
        wait_until(lambda: rig.gate.received.endswith(switch_frame(1, False)), "the service's all-off at open")
        before = len(rig.gate.received)
        rows = check_devices(load_config(rig.config, env=ENV))
        sent = bytes(rig.gate.received[before:])
    finally:
        stop_service(proc)
        listener.close()
        rig.stop()
    answers = {r.check: r for r in rows if r.check.endswith(" answers")}
    for role in ("idcard", "scanner", "gate"):
        assert answers[f"{role} answers"].status is Status.OK
        assert f"in use by PID {proc.pid}" in answers[f"{role} answers"].detail
        assert "reports it connected" in answers[f"{role} answers"].detail
    assert sent == b""


def test_present_follows_links_and_globs(tmp_path: Path) -> None:
    """A udev-style link shows its target, a dangling one fails, and a glob (HID scanner URLs) is
    present when it matches a node."""
    (tmp_path / "event-kbd-1").touch()
    (tmp_path / "event-kbd-2").touch()
    (tmp_path / "gate").symlink_to(tmp_path / "ttyUSB0")
    (tmp_path / "idcard").symlink_to(tmp_path / "event-kbd-1")
    assert present("idcard", str(tmp_path / "idcard")).detail == f"{tmp_path}/idcard -> {tmp_path}/event-kbd-1"
    gone = present("gate", str(tmp_path / "gate"))
    assert gone.status is Status.FAIL and gone.detail == f"{tmp_path}/gate points at a missing {tmp_path}/ttyUSB0"
    found = present("scanner", str(tmp_path / "event-kbd-*"))
    assert found.status is Status.OK and found.detail.endswith(f"{tmp_path}/event-kbd-1, {tmp_path}/event-kbd-2")
    assert present("scanner", str(tmp_path / "nothing-*")).status is Status.FAIL


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_permission_is_checked_for_the_user_running_the_doctor(tmp_path: Path) -> None:
    """As an unprivileged user a root-only port fails 'permitted', naming its group; made 0666 it passes."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        os.chmod(path, 0o600)
        denied = _as_nobody(lambda: permitted("gate", path))
        os.chmod(path, 0o666)
        allowed = _as_nobody(lambda: permitted("gate", path))
    finally:
        os.close(master)
        os.close(slave)
    assert denied.status is Status.FAIL and "nobody may not read and write it" in denied.detail
    assert "usermod -aG root kiosk" in denied.fix and "SupplementaryGroups=root" in denied.fix
    assert allowed.status is Status.OK


def _as_nobody(check: Any) -> Row:
    """Run ``check`` in a forked child that dropped to user nobody; its Row comes back."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:                                       # the child: never returns
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            row = check()
            os.write(write_fd, "\0".join([row.status.name, row.detail, row.fix]).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        status, detail, fix = pipe.read().decode().split("\0")
    os.waitpid(pid, 0)
    return Row("", Status[status], detail, fix)


# -- pcscd and camera ------------------------------------------------------------------------------


def test_pcscd_is_not_checked_without_a_pcsc_device() -> None:
    """No pcsc: URL in the config: the row says so clearly and passes."""
    row = check_pcscd([DeviceConfig("idcard", "samv", "/dev/kiosk/idcard")])
    assert (row.status, row.detail) == (Status.SKIP, "not checked: no PC/SC device configured (no pcsc: URL)")


def test_pcscd_lists_the_configured_reader(pcscd: Any) -> None:
    """The real pcscd (private, with vpcd readers) lists the reader the URL names; another name fails."""
    found = check_pcscd([DeviceConfig("idcard", "emrtd", "pcsc:Kiosk Test Reader 00 00")])
    absent = check_pcscd([DeviceConfig("idcard", "emrtd", "pcsc:OMNIKEY")])
    assert found.status is Status.OK and "Kiosk Test Reader 00 00" in found.detail
    assert absent.status is Status.FAIL and "no reader for pcsc:OMNIKEY" in absent.detail
    assert "pcsc_scan" in absent.fix


def test_pcscd_not_running_fails_with_the_fix() -> None:
    """With no PC/SC service at the socket, pyscard's error becomes a failed row naming the package."""
    code = ("from kiosk.config import DeviceConfig; from kiosk.doctor_devices import check_pcscd; "
            "r = check_pcscd([DeviceConfig('idcard', 'emrtd', 'pcsc:')]); print(r.status.name); print(r.fix)")
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60).stdout.splitlines()
    assert out[0] == "FAIL" and "apt install pcscd" in out[1]


def test_camera_frames_are_counted_from_a_video_source(tmp_path: Path) -> None:
    """Frames are read through OpenCV (a file stands in for /dev/video*); a missing camera fails."""
    import cv2
    import numpy as np

    video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), i * 20, dtype=np.uint8))
    writer.release()
    assert camera_frames(str(video), 5, 3.0) == 5
    assert check_camera([DeviceConfig("scanner", "camera", str(video))]).status is Status.OK
    gone = check_camera([DeviceConfig("scanner", "camera", str(tmp_path / "unplugged.avi"))])
    assert gone.status is Status.FAIL and "0 of 5 frames" in gone.detail
    assert check_camera([DeviceConfig("scanner", "serial-scanner", "/dev/kiosk/scanner")]).detail == "not configured"


# -- ledger, disk, secret --------------------------------------------------------------------------


def test_ledger_missing_is_a_warning_and_is_not_created(tmp_path: Path) -> None:
    """The doctor never creates an empty ledger: that could hide a lost one."""
    row = check_ledger(f"sqlite:///{tmp_path}/ledger.db")
    assert row.status is Status.WARN and "does not exist yet" in row.detail
    assert not (tmp_path / "ledger.db").exists()


def test_ledger_from_newer_software_fails(tmp_path: Path) -> None:
    """A ledger migrated by a newer kiosk is refused, with the upgrade/rollback fix."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    open_ledger(url).close()
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute("PRAGMA user_version = 999")
    conn.close()
    row = check_ledger(url)
    assert row.status is Status.FAIL and "newer" in row.detail and "roll back" in row.fix


def test_ledger_urls_never_show_a_password() -> None:
    """A PostgreSQL URL is shown without its password."""
    assert shown_url("postgresql://kiosk:s3cret@db.lan:5432/kiosk") == "postgresql://kiosk:****@db.lan:5432/kiosk"
    row = check_ledger("postgresql://kiosk:s3cret@127.0.0.1:1/kiosk")
    assert row.status is Status.FAIL and "s3cret" not in row.detail


@pytest.mark.parametrize(("free_mib", "status"), [(100, Status.FAIL), (600, Status.WARN), (10_000, Status.OK)])
def test_disk_space_of_the_ledger_folder(tmp_path: Path, free_mib: int, status: Status) -> None:
    """Under 256 MiB free fails, under 1 GiB warns, measured where the ledger lives."""
    seen: list[str] = []

    def usage(path: str) -> tuple[int, int, int]:
        seen.append(path)
        return 50 * 2**30, 0, free_mib * 2**20

    assert check_disk(f"sqlite:///{tmp_path}/sub/ledger.db", usage).status is status
    assert seen == [str(tmp_path)]                # the nearest folder that exists
    assert check_disk("postgresql://db/kiosk", usage).status is Status.SKIP


def test_secret_from_the_environment_or_the_service_env_file(tmp_path: Path) -> None:
    """The secret is checked from the environment, else from kiosk.env; unreadable is a warning."""
    env_file = tmp_path / "kiosk.env"
    assert check_secret({"KIOSK_SITE_SECRET": "short"}, env_file).status is Status.FAIL
    assert check_secret({}, env_file).status is Status.WARN
    env_file.write_text("# comment\nKIOSK_SITE_SECRET=a-long-enough-secret-value\n")
    assert check_secret({}, env_file) == Row("site secret", Status.OK,
                                             f"KIOSK_SITE_SECRET set in {env_file} (26 characters)")


# -- time ---------------------------------------------------------------------------------------------


def test_clock_year_must_be_plausible() -> None:
    """1970 (a dead RTC battery) fails; today passes."""
    assert check_clock(datetime(1970, 1, 1, tzinfo=UTC)).status is Status.FAIL
    assert check_clock(NOW).status is Status.OK


def test_time_zone_must_resolve() -> None:
    """Asia/Shanghai resolves to UTC+8; an unknown zone fails with the tzdata fix."""
    assert check_timezone("Asia/Shanghai").status is Status.OK
    row = check_timezone("Mars/Olympus_Mons")
    assert row.status is Status.FAIL and "tzdata" in row.fix


@pytest.mark.parametrize(("result", "status"), [
    (subprocess.CompletedProcess([], 0, "NTPSynchronized=yes\nNTP=yes\n", ""), Status.OK),
    (subprocess.CompletedProcess([], 0, "NTPSynchronized=no\nNTP=yes\n", ""), Status.FAIL),
    (subprocess.CompletedProcess([], 1, "", "Failed to connect to bus: Host is down"), Status.WARN),
])
def test_time_sync_from_timedatectl(result: subprocess.CompletedProcess[str], status: Status) -> None:
    """Synchronised passes, not synchronised fails, no answer from timedated is 'unknown'."""
    row = check_time_sync(lambda _argv: result)
    assert row.status is status
    if status is Status.WARN:
        assert row.detail == "unknown: timedatectl: Failed to connect to bus: Host is down"


def test_time_sync_unknown_when_timedatectl_cannot_run() -> None:
    """A missing binary is 'unknown', not a crash."""
    def missing(_argv: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("timedatectl")

    assert check_time_sync(missing).status is Status.WARN


def test_render_puts_a_fix_under_each_failure() -> None:
    """The table: aligned columns, the fix indented under its row, the count of problems last."""
    text = render([Row("clock", Status.OK, "fine"), Row("disk", Status.FAIL, "full", "clean up")])
    assert text.splitlines() == ["CHECK  RESULT  DETAIL", "clock  ok      fine", "disk   FAIL    full",
                                 "               fix: clean up", "1 problem found"]
