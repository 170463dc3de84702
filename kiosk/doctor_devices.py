"""``kiosk doctor``'s hardware checks: each configured device, pcscd and its readers, camera frames.

A device is opened with its production driver (``drivers.registry.create_device``) and read once,
unless another process (the running kiosk) holds it: opening the relay board a second time would
switch its relays off under the service, and two readers of one SAM-V port corrupt each other's
frames.  The running kiosk is then asked for the device's health over its HTTP API instead.
Like the composition root, this module reaches for hardware libraries (pyscard, OpenCV), and
only inside the checks that need them.
"""

from __future__ import annotations

import glob
import grp
import json
import os
import pwd
import stat
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from drivers.errors import DeviceGone, DeviceTimeout, DriverError, OptionError
from drivers.registry import create_device

from .config import DeviceConfig, KioskConfig, WebConfig
from .doctor import Row, Status, fail, ok

READ_TIMEOUT_S = 1.0
CAMERA_FRAMES, CAMERA_TIMEOUT_S = 5, 3.0
PCSC_SCHEME = "pcsc:"
DEVICE_CLASSES = {"dialout": "char-ttyUSB", "input": "char-input", "video": "char-video4linux"}
"""The DeviceAllow= class (/proc/devices name) of the nodes each device group usually owns."""

Health = Callable[[WebConfig], "dict[str, Any] | None"]


def device_path(url: str) -> str | None:
    """The device file (or glob of files) behind a URL: a path or ``spy://`` + path; else None."""
    if url.startswith("spy://"):
        url = url[len("spy://"):].split("?", 1)[0]
    return url if url.startswith("/") else None


def device_files(path: str) -> list[str]:
    """The files a device path names: itself, or every match of a glob (the HID scanner's URLs)."""
    return sorted(glob.glob(path)) if glob.has_magic(path) else [path]


def holders(path: str) -> list[int]:
    """Other processes with ``path``'s device open (those whose /proc/PID/fd this user may read)."""
    target = os.path.realpath(path)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
        except OSError:          # gone meanwhile, or not ours to look at
            continue
    return found


def service_health(web: WebConfig) -> dict[str, Any] | None:
    """The running kiosk's device health (GET /api/v1/health), None when it does not answer."""
    host = "127.0.0.1" if web.host in ("0.0.0.0", "::", "") else web.host
    try:
        with urllib.request.urlopen(f"http://{host}:{web.port}/api/v1/health", timeout=2) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    return answer


def check_devices(cfg: KioskConfig, *, health: Health = service_health,
                  read_timeout: float = READ_TIMEOUT_S) -> list[Row]:
    """Present, permitted and answering, for every configured device."""
    rows: list[Row] = []
    for role, device in cfg.devices.items():
        rows += check_device(role, device, cfg.web, health=health, read_timeout=read_timeout)
    return rows


def check_device(role: str, device: DeviceConfig, web: WebConfig, *, health: Health = service_health,
                 read_timeout: float = READ_TIMEOUT_S) -> list[Row]:
    """The three rows of one device."""
    path = device_path(device.url)
    if path is None:
        note = f"{device.url} is not a device file"
        return [Row(f"{role} present", Status.SKIP, note), Row(f"{role} permitted", Status.SKIP, note),
                answers(role, device, read_timeout)]
    rows = [present(role, path)]
    if rows[0].status is Status.FAIL:
        return rows + [Row(f"{role} permitted", Status.SKIP, "not checked: absent"),
                       Row(f"{role} answers", Status.SKIP, "not checked: absent")]
    files = device_files(path)
    verdicts = [permitted(role, f) for f in files]
    rows.append(next((v for v in verdicts if v.status is Status.FAIL), verdicts[0]))
    held = sorted({pid for f in files for pid in holders(f)})
    rows.append(answers(role, device, read_timeout) if not held else held_answers(role, held, web, health))
    return rows


def present(role: str, path: str) -> Row:
    """The device file (usually a /dev/kiosk link made by udev) exists."""
    check = f"{role} present"
    if glob.has_magic(path):
        found = device_files(path)
        if found:
            return ok(check, f"{path} matches {', '.join(found)}")
        return fail(check, f"nothing matches {path}", f"plug the {role} device in; `ls -l {os.path.dirname(path)}`")
    if os.path.exists(path):
        real = os.path.realpath(path)
        return ok(check, path if real == path else f"{path} -> {real}")
    dangling = os.path.islink(path)
    return fail(check, f"{path} {'points at a missing ' + os.readlink(path) if dangling else 'does not exist'}",
                f"plug the {role} device in and check `ls -l /dev/kiosk/`; if it is plugged in, match "
                "/etc/udev/rules.d/99-kiosk.rules to `udevadm info -q property -n /dev/ttyUSB0`, then "
                "`udevadm control --reload && udevadm trigger`")


def permitted(role: str, path: str) -> Row:
    """This user may read and write the device (os.access: real uid and groups)."""
    check = f"{role} permitted"
    st = os.stat(path)
    group = _group_name(st.st_gid)
    mode = f"{stat.filemode(st.st_mode)} {_user_name(st.st_uid)}:{group}"
    if os.geteuid() == 0:
        return Row(check, Status.WARN, f"{mode}; running as root, so not the service's permissions",
                   "run `sudo -u kiosk kiosk doctor` to check them")
    if os.access(path, os.R_OK | os.W_OK):
        return ok(check, f"{mode}, read+write for {_user_name(os.getuid())}")
    allow = DEVICE_CLASSES.get(group, "the device's class")
    return fail(check, f"{mode}: {_user_name(os.getuid())} may not read and write it",
                f"`usermod -aG {group} kiosk`; unless kiosk.service has it, a drop-in (systemctl edit kiosk) "
                f"with SupplementaryGroups={group} and DeviceAllow={allow} rw; or fix GROUP= in 99-kiosk.rules")


def answers(role: str, device: DeviceConfig, read_timeout: float) -> Row:
    """Open the device with its production driver, read once, close it (a relay ends off)."""
    check = f"{role} answers"
    try:
        dev = create_device(role, device.driver, device.url, device.options)
    except (DriverError, ValueError) as exc:
        return fail(check, f"driver {device.driver}: {exc}", "fix the device's options in the config")
    started = time.monotonic()
    try:
        dev.open()
        reading = dev.read(read_timeout)
    except DriverError as exc:
        return fail(check, f"driver {device.driver}: {exc}", _fix_for(exc, role))
    except Exception as exc:  # a driver bug must not end the doctor: the other rows still matter
        return fail(check, f"driver {device.driver} failed unexpectedly: {type(exc).__name__}: {exc}",
                    "a driver bug: report it with this line and `journalctl -u kiosk`")
    finally:
        dev.close()
    took = time.monotonic() - started
    seen = f"read: {type(reading).__name__}" if reading is not None else "read: nothing to report"
    return ok(check, f"driver {device.driver} opened it and read once in {took:.2f} s ({seen})")


def held_answers(role: str, pids: list[int], web: WebConfig, health: Health) -> Row:
    """A device the running kiosk holds: its health as the kiosk sees it."""
    check = f"{role} answers"
    who = ", ".join(f"{pid} ({_command(pid)})" for pid in pids)
    answer = health(web)
    if answer is None or role not in answer:
        return Row(check, Status.WARN, f"in use by PID {who}; not opened, and the kiosk's HTTP API did not answer",
                   "`systemctl stop kiosk` and run the doctor again to test the device itself")
    state = answer[role].get("state", "unknown")
    detail = f"in use by PID {who}; the running kiosk reports it {state}"
    if state in ("connected", "error"):
        return ok(check, detail)
    return fail(check, detail, "see `systemctl status kiosk` (STATUS= names the error) and `journalctl -u kiosk`")


def _fix_for(exc: DriverError, role: str) -> str:
    if isinstance(exc, DeviceTimeout):
        return f"the port opens but the {role} device does not answer: power, cable, and the baudrate option"
    if isinstance(exc, OptionError):
        return "fix the device's url or options in the config"
    if isinstance(exc, DeviceGone):
        return f"check the {role} device's cable and power; `journalctl -k` shows USB disconnects"
    return f"the {role} device answers wrongly: is it the device model the driver expects?"


def check_pcscd(devices: Iterable[DeviceConfig], list_readers: Callable[[], list[str]] | None = None) -> Row:
    """pcscd answers and lists a reader for every configured PC/SC device (``pcsc:`` URLs)."""
    wanted = [d for d in devices if d.url.startswith(PCSC_SCHEME)]
    if not wanted:
        return Row("pcscd", Status.SKIP, "not checked: no PC/SC device configured (no pcsc: URL)")
    try:
        readers = (list_readers or _pcsc_readers)()
    except Exception as exc:  # pyscard raises its own tree (EstablishContextException, …)
        return fail("pcscd", f"PC/SC service not reachable: {exc}",
                    "apt install pcscd libccid; systemctl enable --now pcscd.socket")
    missing = [d.url for d in wanted if not any(d.url[len(PCSC_SCHEME):] in r for r in readers)]
    listed = ", ".join(readers) or "none"
    if missing:
        return fail("pcscd", f"no reader for {', '.join(missing)} (readers: {listed})",
                    "plug the reader in; `pcsc_scan` (pcsc-tools) shows what pcscd sees; match the name in the URL")
    return ok("pcscd", f"readers: {listed}")


def _pcsc_readers() -> list[str]:
    from smartcard.System import readers

    return [str(r) for r in readers()]


def check_camera(devices: Iterable[DeviceConfig], frames: int = CAMERA_FRAMES,
                 timeout_s: float = CAMERA_TIMEOUT_S) -> Row:
    """Frames arrive from every configured camera (a driver whose name says camera)."""
    cameras = [d for d in devices if "camera" in d.driver]
    if not cameras:
        return Row("camera", Status.SKIP, "not configured")
    for cam in cameras:
        got = camera_frames(cam.url, frames, timeout_s)
        if got < frames:
            return fail("camera", f"{cam.role}: {got} of {frames} frames from {cam.url} in {timeout_s:.0f} s",
                        "check the camera's cable and /dev/kiosk/camera (group video); try `ffplay` on it")
    return ok("camera", f"{frames} frames each from {', '.join(c.url for c in cameras)}")


def camera_frames(url: str, frames: int, timeout_s: float) -> int:
    """How many frames OpenCV reads from ``url`` (a device path or a file), up to ``frames``."""
    import cv2

    cap = cv2.VideoCapture(url)
    got = 0
    try:
        deadline = time.monotonic() + timeout_s
        while cap.isOpened() and got < frames and time.monotonic() < deadline:
            good, _frame = cap.read()
            if not good:
                break
            got += 1
    finally:
        cap.release()
    return got


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
