"""Real DICOM servers and clients for the network tests: Orthanc (with its DICOMweb
plugin), dcmtk's storescu, and ``dosecalc listen`` as a subprocess.

Every server started here listens on the loopback interface only.  Orthanc 1.10 has no
bind-address option (it binds 0.0.0.0), so it runs with a tiny LD_PRELOAD shim, compiled
here, that turns a bind to the wildcard address into a bind to 127.0.0.1 (or ::1).
Orthanc gets its own configuration, free ports and a throw-away storage folder; the
system's Orthanc service is never used.  Without Orthanc, its DICOMweb plugin, dcmtk or a
C compiler the tests that need them skip with a one-line reason.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ORTHANC_PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc/plugins")
USER, PASSWORD = "dosecalc", "test-only-password"

_SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* bind() to the wildcard address becomes a bind to the loopback address */
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind) real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in a;
        memcpy(&a, addr, sizeof a);
        if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
        }
    }
    if (addr && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a;
        memcpy(&a, addr, sizeof a);
        if (memcmp(&a.sin6_addr, &in6addr_any, sizeof a.sin6_addr) == 0) {
            a.sin6_addr = in6addr_loopback;
            return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
        }
    }
    return real_bind(fd, addr, len);
}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_orthanc() -> str | None:
    """Why Orthanc with DICOMweb cannot run here, or None."""
    if shutil.which("Orthanc") is None:
        return "Orthanc is not installed (Debian package orthanc)"
    if _dicomweb_plugin() is None:
        return "Orthanc's DICOMweb plugin is not installed (Debian package orthanc-dicomweb)"
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        return "no C compiler to build the loopback-only bind shim for Orthanc"
    return None


def dcmtk_storescu() -> str | None:
    """dcmtk's storescu: the first *executable binary* of that name on PATH (pynetdicom
    installs a Python script with the same name into the virtual environment)."""
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
        p = Path(d) / "storescu"
        try:
            if p.is_file() and os.access(p, os.X_OK) and p.open("rb").read(4) == b"\x7fELF":
                return str(p)
        except OSError:
            continue
    return None


def missing_dcmtk() -> str | None:
    return None if dcmtk_storescu() else "dcmtk's storescu is not installed (Debian package dcmtk)"


def _dicomweb_plugin() -> str | None:
    for d in ORTHANC_PLUGIN_DIRS:
        p = Path(d) / "libOrthancDicomWeb.so"
        if p.exists():
            return str(p)
    return None


def _shim(folder: Path) -> Path:
    src = folder / "loopback_bind.c"
    lib = folder / "loopback_bind.so"
    src.write_text(_SHIM_C)
    cc = shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(src), "-ldl"], check=True,
                   capture_output=True)
    return lib


def wait_port(port: int, timeout_s: float = 30.0, proc=None) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before opening port {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


class Orthanc:
    """An Orthanc of our own: loopback only, free ports, storage in ``folder``, one user."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.http_port, self.dicom_port = free_port(), free_port()
        self.aet = "ORTHANC"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth_header(self) -> str:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return f"Authorization: Basic {token}"

    def start(self) -> "Orthanc":
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "dosecalc-tests", "StorageDirectory": str(self.folder / "db"),
            "IndexDirectory": str(self.folder / "db"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": self.aet, "DicomServerEnabled": True,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD}, "Plugins": [_dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "StorageCompression": False, "SaveJobs": False, "HttpThreadsCount": 4,
        }
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(config, indent=1))
        env = dict(os.environ, LD_PRELOAD=str(_shim(self.folder)))
        self._log = open(self.folder / "orthanc.log", "wb")
        self.proc = subprocess.Popen(["Orthanc", str(cfg)], stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.folder, start_new_session=True)
        wait_port(self.http_port, proc=self.proc)
        t0 = time.monotonic()
        while True:  # the port opens before the plugins are ready
            try:
                if self.get("/dicom-web/studies").status_code == 200:
                    break
            except Exception:
                pass
            if time.monotonic() - t0 > 30:
                raise TimeoutError("Orthanc's DICOMweb root does not answer")
            time.sleep(0.2)
        return self

    def _auth(self):
        return (USER, PASSWORD)

    def get(self, path: str):
        import requests

        return requests.get(self.url + path, auth=self._auth(), timeout=30)

    def upload(self, files) -> int:
        """POST every file to /instances; returns how many were stored."""
        import requests

        n = 0
        with requests.Session() as s:
            s.auth = self._auth()
            for f in files:
                r = s.post(self.url + "/instances", data=Path(f).read_bytes(),
                           headers={"Content-Type": "application/dicom"}, timeout=60)
                r.raise_for_status()
                n += 1
        return n

    def listening_addresses(self) -> set[str]:
        """Local addresses of the sockets the Orthanc process listens on (from /proc)."""
        return _listening_addresses(self.proc.pid, {self.http_port, self.dicom_port})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


def _listening_addresses(pid: int, ports: set[int]) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            addr, port = local.split(":")
            if int(port, 16) in ports:
                found.add(addr)
    return found


class Listener:
    """``dosecalc listen`` as a subprocess on a free loopback port."""

    def __init__(self, out: Path, *args: str, protocol: str = "hcc-oligoprogression", quiet_s: float = 30):
        self.out = Path(out)
        self.port = free_port()
        self.args = ["--port", str(self.port), "--bind", "127.0.0.1", "--protocol", protocol,
                     "--out", str(self.out), "--quiet", str(quiet_s), *args]
        self.proc = None

    def start(self) -> "Listener":
        self._err = open(self.out.parent / f"{self.out.name}.stderr", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "dosecalc", "listen", *self.args],
                                     stdout=subprocess.DEVNULL, stderr=self._err)
        wait_port(self.port, timeout_s=60, proc=self.proc)
        return self

    def log(self) -> str:
        try:
            return (self.out / "listen.log").read_text()
        except OSError:
            return ""

    def wait_log(self, text: str, count: int = 1, timeout_s: float = 120) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            log = self.log()
            if log.count(text) >= count:
                return log
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} x{count} not in the node's log after {timeout_s} s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        return self.proc.returncode


def storescu(port: int, *files_or_dirs, aet: str = "TPS", called: str = "DOSECALC") -> subprocess.CompletedProcess:
    """dcmtk's storescu: send files (folders scanned) to 127.0.0.1:port."""
    return subprocess.run([dcmtk_storescu(), "-aet", aet, "-aec", called, "+sd", "-nh",
                           "127.0.0.1", str(port), *map(str, files_or_dirs)],
                          capture_output=True, text=True, timeout=120)
