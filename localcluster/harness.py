"""A real, throw-away Kubernetes control plane: etcd, kube-apiserver and kube-scheduler.

The binaries come from ``localcluster/build.sh`` (built from Go modules at the pins of
``versions.env``). There is no kubelet and no kube-controller-manager: nodes are plain API
objects, pods get bound by the real scheduler but never run. See localcluster/README.md.

Usage::

    with ControlPlane() as cp:
        client = cp.client()
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

import httpx2
import yaml
from lightkube import Client
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import KubeConfig

from localcluster.pki import Pki, write_pki
from localcluster.upstream import pins

_READY_TIMEOUT_SECONDS = 120.0
_STOP_TIMEOUT_SECONDS = 10.0
_LOG_TAIL_LINES = 30
_TMP_PREFIX = "kubeflow-spot-cp-"
_OWNER_FILE = "owner.pid"  # PID of the Python process that owns a temporary directory
_PR_SET_PDEATHSIG = 1


_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CountingTransport(httpx2.BaseTransport):
    """Passes every request to a real HTTP transport and records its method and path.

    `before`, when set, runs just before each request is sent: a test uses it to change the
    cluster between the charm's read and its write (a race no other seam reaches).
    """

    def __init__(self, inner: httpx2.BaseTransport):
        self._inner = inner
        self.requests: list[tuple[str, str]] = []
        self.before: Callable[[httpx2.Request], None] | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Record the request, then send it."""
        self.requests.append((request.method, request.url.path))
        if self.before is not None:
            self.before(request)
        return self._inner.handle_request(request)

    @property
    def writes(self) -> list[tuple[str, str]]:
        """The requests that may change the cluster (anything but GET, HEAD, OPTIONS)."""
        return [r for r in self.requests if r[0] not in _READ_ONLY_METHODS]

    def close(self) -> None:
        """Close the real transport."""
        self._inner.close()


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (binaries missing, a component failed)."""


_ARGO_CONFIG_DIR = Path(__file__).parent / "go" / "argo-config"


def binaries_dir() -> Path:
    """Directory where build.sh puts the binaries for the pinned versions."""
    cache = Path(os.environ.get("KUBEFLOW_SPOT_CACHE", Path.home() / ".cache" / "kubeflow-spot"))
    return cache / "bin" / f"k8s-{pins()['K8S_VERSION']}_etcd-{pins()['ETCD_VERSION']}"


def argo_config_check(argo_minor: str) -> Path:
    """Return Argo's own ConfigMap loader built from the pinned release of an Argo 3.x minor.

    The name carries a digest of the checker's source and modfiles, as build.sh names it.
    """
    release = pins()[f"ARGO_WORKFLOWS_V{argo_minor.replace('.', '_')}"]
    source = _ARGO_CONFIG_DIR
    parts = (
        source / "main.go",
        source / f"argo-v{argo_minor}.mod",
        source / f"argo-v{argo_minor}.sum",
    )
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()[:12]
    path = binaries_dir() / f"argo-config-check-{release}-{digest}"
    if not path.is_file():
        raise ControlPlaneError(f"missing {path}; run `make argo-checkers`")
    return path


def kubectl() -> Path:
    """Return kubectl built from the control plane's own module graph (`make kubectl`)."""
    path = binaries_dir() / "kubectl"
    if not path.is_file():
        raise ControlPlaneError(
            f"missing {path}; run `make kubectl` (about 5 minutes cold on 2 cores)"
        )
    return path


def _require_binaries() -> Path:
    directory = binaries_dir()
    missing = [
        n for n in ("etcd", "kube-apiserver", "kube-scheduler") if not (directory / n).is_file()
    ]
    if missing:
        raise ControlPlaneError(
            f"missing {', '.join(missing)} in {directory}; run `make controlplane` "
            "(about 8 minutes cold on 2 cores; needs Go and the Go module proxy)"
        )
    return directory


def _free_port() -> int:
    """Return a loopback port that is free now (a tiny race with other processes is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _has_default_route() -> bool:
    """Tell whether an IPv4 default route exists (kube-apiserver needs one to pick its address)."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == "00000000" for line in lines if len(line.split()) > 1)


def _die_with_parent() -> None:
    """Run in the child before exec: get SIGKILL if the test process dies without cleaning up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _remove_orphaned_dirs() -> None:
    """Delete temporary directories left by control planes whose owner was SIGKILLed.

    The components died with their owner (see _die_with_parent) but nothing removed the files.
    Directories of live owners, e.g. a concurrent test run, are left alone.
    """
    for directory in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*"):
        try:
            owner = int((directory / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not made by this module, or being created right now
        if not _alive(owner):
            shutil.rmtree(directory, ignore_errors=True)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class _Component:
    """One child process, in its own process group, logging to a file."""

    name: str
    argv: Sequence[str]
    log: Path
    env: dict[str, str] | None = None
    """Variables added to this process's environment."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, *, append: bool = False) -> None:
        with self.log.open("ab" if append else "wb") as log:
            # Own session: stop() can signal the whole group, and Ctrl-C in the terminal
            # reaches only the Python process, which then shuts the components down in order.
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env={**os.environ, **self.env} if self.env else None,
            )

    def check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ControlPlaneError(f"{self.name} exited with status {self.process.returncode}")

    def kill(self) -> None:
        """SIGKILL the process group and reap it, as a machine that vanishes would."""
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)  # a paused component could not act on SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()

    def signal(self, signum: int) -> None:
        """Send a signal to the component's whole process group."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.process.pid, signum)


def _poll_ready(
    url: str, context: ssl.SSLContext | None, component: _Component, deadline: float
) -> None:
    """Poll ``url`` until it answers 200, failing early if the component exits."""
    while True:
        component.check_running()
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass  # not listening yet (URLError), or listening but not ready (HTTPError 500)
        if time.monotonic() > deadline:
            raise ControlPlaneError(
                f"{component.name} not ready at {url} in {_READY_TIMEOUT_SECONDS:.0f} s"
            )
        time.sleep(0.2)


class ControlPlane:
    """etcd + kube-apiserver + kube-scheduler on loopback ports, in a temporary directory.

    Attributes set by :meth:`start`: ``kubeconfig_path`` (admin kubeconfig, ``system:masters``),
    ``server`` (apiserver URL), ``startup_seconds`` (from start to every component ready), and
    with ``audit=True`` ``audit_log_path``: the API server's audit log, one JSON event per
    request (Metadata level, at ResponseComplete), to count requests by any client.
    """

    def __init__(self, *, audit: bool = False) -> None:
        self._bin = _require_binaries()
        self._components: list[_Component] = []
        self._tmp: Path | None = None
        self._audit = audit
        self.kubeconfig_path: Path | None = None
        self.audit_log_path: Path | None = None
        self.server = ""
        self.startup_seconds = 0.0
        self._ca_cert: Path | None = None

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every component and wait until each is ready; clean up everything on failure."""
        began = time.monotonic()
        _remove_orphaned_dirs()
        self._tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX))
        (self._tmp / _OWNER_FILE).write_text(str(os.getpid()))
        atexit.register(self.stop)
        _terminate_on_signals()
        try:
            self._start_all(write_pki(self._tmp), time.monotonic() + _READY_TIMEOUT_SECONDS)
        except BaseException:
            self.print_log_tails()
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the components (newest first) and delete the temporary directory. Idempotent."""
        for component in reversed(self._components):
            component.stop()
        self._components.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        atexit.unregister(self.stop)

    def client(self, field_manager: str | None = None) -> Client:
        """Return a lightkube client authenticated as the admin (bypasses RBAC)."""
        if self.kubeconfig_path is None:
            raise ControlPlaneError("the control plane is not started")
        # trust_env=False: no proxy or CA-bundle variable from the environment may touch loopback.
        return Client(
            config=KubeConfig.from_file(self.kubeconfig_path),
            field_manager=field_manager,
            trust_env=False,
        )

    def counting_client(
        self, field_manager: str | None = None, timeout: float = 10.0
    ) -> tuple[Client, CountingTransport]:
        """Return an admin client whose every request is recorded, and its recording transport.

        The transport is a real `httpx2.HTTPTransport` with the kubeconfig's TLS settings (a
        transport given to httpx replaces the one its `verify` would have built).
        """
        if self.kubeconfig_path is None:
            raise ControlPlaneError("the control plane is not started")
        config = KubeConfig.from_file(self.kubeconfig_path)
        single = config.get()
        assert single is not None
        assert single.user is not None
        tls = verify_cluster(single.cluster, single.user, single.abs_file, trust_env=False)
        transport = CountingTransport(httpx2.HTTPTransport(verify=tls))
        client = Client(
            config=config,
            field_manager=field_manager,
            trust_env=False,
            transport=transport,
            timeout=httpx2.Timeout(timeout),
        )
        return client, transport

    @contextlib.contextmanager
    def paused(self, name: str = "kube-apiserver") -> Iterator[None]:
        """Freeze one component (SIGSTOP) for the block, then let it go on (SIGCONT).

        A frozen API server still accepts TCP connections (the kernel does) but never answers,
        like one whose node hangs: clients wait for their read timeout, not a refused connection.
        """
        component = next(c for c in self._components if c.name == name)
        component.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            component.signal(signal.SIGCONT)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again with the same flags, port and etcd.

        Every watch it served ends; the new one rebuilds its watch cache from etcd, which keeps
        every object and resourceVersion. Returns once it answers /readyz again.
        """
        apiserver = next(c for c in self._components if c.name == "kube-apiserver")
        apiserver.stop()
        apiserver.start(append=True)
        assert self._ca_cert is not None
        context = ssl.create_default_context(cafile=str(self._ca_cert))
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        _poll_ready(f"{self.server}/readyz", context, apiserver, deadline)

    def _start_all(self, pki: Pki, deadline: float) -> None:
        etcd_url = self._start_etcd(deadline)
        apiserver_port = _free_port()
        self.server = f"https://127.0.0.1:{apiserver_port}"
        self.kubeconfig_path = self._write_kubeconfig(pki)
        self._start_apiserver(pki, apiserver_port, etcd_url, deadline)
        self._start_scheduler(deadline)

    def _launch(self, name: str, argv: list[str]) -> _Component:
        return self.launch(name, self._bin / name, argv)

    def launch(
        self, name: str, binary: Path, argv: list[str], env: dict[str, str] | None = None
    ) -> _Component:
        """Start another process that is stopped with the control plane (newest first).

        ``name`` names its log file in the temporary directory; it must be unique.
        """
        if self._tmp is None:
            raise ControlPlaneError("the control plane is not started")
        component = _Component(name, [str(binary), *argv], self._tmp / f"{name}.log", env)
        self._components.append(component)
        component.start()
        return component

    @property
    def work_dir(self) -> Path:
        """The temporary directory of this control plane (logs, kubeconfig, config files)."""
        if self._tmp is None:
            raise ControlPlaneError("the control plane is not started")
        return self._tmp

    def print_log_tails(self, lines: int = _LOG_TAIL_LINES) -> None:
        """Print the last lines of every component's log to stderr (for a failed test)."""
        for component in self._components:
            print(
                f"--- last lines of {component.log} ---\n{_tail(component.log, lines)}",
                file=sys.stderr,
            )

    def _start_etcd(self, deadline: float) -> str:
        assert self._tmp is not None
        client_url = f"http://127.0.0.1:{_free_port()}"
        peer_url = f"http://127.0.0.1:{_free_port()}"
        etcd = self._launch(
            "etcd",
            [
                "--name=default",
                f"--data-dir={self._tmp / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",  # data is thrown away; fsync only slows tests down
                "--log-level=warn",
            ],
        )
        _poll_ready(f"{client_url}/health", None, etcd, deadline)
        return client_url

    def _start_apiserver(self, pki: Pki, port: int, etcd_url: str, deadline: float) -> None:
        argv = [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={pki.sa_public_key}",
            f"--service-account-signing-key-file={pki.sa_private_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            # RBAC on so the charm's own Roles can be tested; the admin is system:masters anyway.
            "--authorization-mode=RBAC",
            # Both plugins rely on kube-controller-manager, which does not run here: one needs
            # the default ServiceAccount it creates, the other adds a not-ready taint only its
            # node-lifecycle controller removes.
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
        ]
        if self._audit:
            argv += self._audit_flags()
        if not _has_default_route():
            # Without a default route the apiserver cannot pick an address and aborts; loopback
            # works but makes it log errors about the `kubernetes` Service endpoints.
            argv.append("--advertise-address=127.0.0.1")
        apiserver = self._launch("kube-apiserver", argv)
        self._ca_cert = pki.ca_cert
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        _poll_ready(f"{self.server}/readyz", context, apiserver, deadline)

    def _audit_flags(self) -> list[str]:
        assert self._tmp is not None
        policy = self._tmp / "audit-policy.yaml"
        # One event per request, when its response is complete; no bodies (Metadata level).
        policy.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived", "ResponseStarted"],
                    "rules": [{"level": "Metadata"}],
                }
            )
        )
        self.audit_log_path = self._tmp / "audit.log"
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log_path}",
            "--audit-log-format=json",
            # Rotation would split the counts over files; 0 means lumberjack's default 100 MB.
            "--audit-log-maxsize=10000",
        ]

    def _start_scheduler(self, deadline: float) -> None:
        assert self.kubeconfig_path is not None
        port = _free_port()
        scheduler = self._launch(
            "kube-scheduler",
            [
                f"--kubeconfig={self.kubeconfig_path}",
                f"--authentication-kubeconfig={self.kubeconfig_path}",
                f"--authorization-kubeconfig={self.kubeconfig_path}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
            ],
        )
        # The scheduler serves /readyz with a self-signed certificate made in memory.
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        _poll_ready(f"https://127.0.0.1:{port}/readyz", insecure, scheduler, deadline)

    def _write_kubeconfig(self, pki: Pki) -> Path:
        assert self._tmp is not None

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(pki.admin_cert),
                        "client-key-data": b64(pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "local",
                    "context": {"cluster": "local", "user": "admin", "namespace": "default"},
                }
            ],
            "current-context": "local",
        }
        path = self._tmp / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _terminate_on_signals() -> None:
    """Make SIGTERM/SIGHUP unwind like Ctrl-C, so context managers, fixtures and atexit run.

    The default action would end Python at once and leave the temporary directory behind (the
    children still die with us, see _die_with_parent). Handlers set by someone else are kept.
    """
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            try:
                signal.signal(signum, _raise_keyboard_interrupt)
            except ValueError:
                return  # not the main thread: signal handlers cannot be installed here


def hold(plane: ControlPlane) -> None:
    """Print how to reach the running control plane, then block until Ctrl-C, SIGTERM or SIGHUP.

    The signal handlers that `ControlPlane.start` installs turn those signals into
    KeyboardInterrupt, so the caller's `with ControlPlane()` block still tears everything down.
    """
    print(f"export KUBECONFIG={plane.kubeconfig_path}")
    print("press Ctrl-C to stop", flush=True)
    threading.Event().wait()
