"""The whole local system as processes: infrastructure, fakes, the five services, demo data.

``make up`` runs it in the foreground on the fixed ports below with data under ``var/``;
the end-to-end test and the benchmark run it on free ports in a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contracts.recruitment import MAX_IMPORT_ROWS, ImportMembers, MemberRow, RegisterTenant
from devstack.processes import (
    Server,
    bus_refusals,
    free_port,
    start_nats,
    start_store,
    wait_for_port,
)
from infra.bus import ensure_streams, publish
from infra.natsauth import OPS, USERS, BusLogin, new_password
from infra.sealing import new_key

BACKEND = ("recruitment", "rounds", "dispatch", "feedback")
STEERING_SUFFIX = "-styrgrupp"
"""Demo accounts of a council's political steering group end so (role ``steering_group``)."""
ANALYST_SUFFIX = "-analys"
"""Demo accounts of a council's analyst, who reviews rounds' method, end so (role ``analyst``)."""
MAP_VIEWS = {"gnosjo": "57.36,13.74,11", "kinda": "57.99,15.63,11", "ale": "57.93,12.07,11"}
"""The demo councils' map views (centre and zoom) for map questions."""
DEMO_COUNCILS = {"gnosjo": "Gnosjö kommun", "kinda": "Kinda kommun", "ale": "Ale kommun"}
DISTRICTS = {
    "gnosjo": ("Gnosjö centrum", "Hillerstorp", "Kulltorp", "Åsenhöga"),
    "kinda": ("Kisa", "Rimforsa", "Horn", "Hycklinge"),
    "ale": ("Nödinge", "Älvängen", "Surte", "Skepplanda"),
}
SMS_USER = "radslag"
# Letters and digits only: demo secrets travel on command lines and are copied by hand,
# so none may start with "-" (a parser takes that for an option). 16 of 62 ≈ 95 bits.
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 16


def new_secret() -> str:
    """A fresh demo secret: random letters and digits, never starting with ``-``."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))


@dataclass
class Ports:
    """Where each part listens; 0 means pick a free port."""

    nats: int = 4222
    store: int = 27017
    smtp: int = 1025
    devtools: int = 8025
    portal: int = 8000
    services: dict[str, int] = field(
        default_factory=lambda: {
            "recruitment": 8101,
            "rounds": 8102,
            "dispatch": 8103,
            "feedback": 8104,
        }
    )

    @classmethod
    def free(cls) -> Ports:
        """Every port free right now (for tests and benchmarks)."""
        return cls(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            {name: free_port() for name in BACKEND},
        )


class LocalStack:
    """Starts and stops every process of the local system, each by its PID."""

    def __init__(self, data_dir: Path, ports: Ports | None = None, *, portal: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.ports = ports or Ports()
        self.with_portal = portal
        self.servers: list[Server] = []
        self.sms_password = ""
        self.logs = self.data_dir / "logs"

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.portal}"

    @property
    def devtools_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.devtools}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.ports.nats}"

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.ports.store}/?directConnection=true"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports.services[name]}"

    def login(self, user: str = OPS) -> BusLogin:
        """How ``user`` (a service, the portal or ops) connects to this stack's NATS."""
        return BusLogin(self.nats_url, user, self.nats_passwords()[user])

    def nats_passwords(self) -> dict[str, str]:
        """Every NATS user's password, made once per data directory (in secrets.json)."""
        return {user: self._secret(f"nats_{user}", new_password) for user in USERS}

    def _env(self, nats_user: str | None = None) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("NATS_USER", "NATS_PASSWORD")
        }
        if nats_user is not None:
            # Each process logs in as its own user; the others get no NATS password at all.
            env["NATS_USER"] = nats_user
            env["NATS_PASSWORD"] = self.nats_passwords()[nats_user]
        return {
            **env,
            "NATS_URL": self.nats_url,
            "MONGODB_URL": self.mongodb_url,
            "PORTAL_URL": self.portal_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.ports.smtp),
            "DEVTOOLS_URL": self.devtools_url,
            # dispatch's SMS provider: the simulator in devtools, 46elks-shaped.
            "SMS_URL": self.devtools_url,
            "SMS_USER": SMS_USER,
            "SMS_PASSWORD": self._secret("sms_password"),
            "SMS_INBOUND_SECRET": self._secret("sms_inbound_secret"),
            # Map questions: the portal's own plain grid tiles, so the map works with no
            # third-party host (a region names its tile server in PORTAL_MAP_TILES).
            "PORTAL_MAP_TILES": "/tiles/{z}/{x}/{y}.png",
            "PORTAL_MAP_LOCAL_TILES": "true",
            "PORTAL_MAP_VIEWS": ";".join(f"{t}={v}" for t, v in MAP_VIEWS.items()),
            "PORTAL_MAP_ATTRIBUTION": "Rutnät utan kartdata (lokal stack)",
            "SERVICE_HEALTH_URLS": ",".join(f"{n}={self.service_url(n)}" for n in BACKEND),
            # Seals personal links in outboxes and queues, and dead letters (infra.sealing).
            "SEAL_KEYS": self.seal_keys,
        }

    @property
    def seal_keys(self) -> str:
        """The installation's seal keys, made once per data directory."""
        return self._secret("seal_keys", new_key)

    def _spawn(self, name: str, args: list[str], port: int) -> Server:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        env = self._env(name if name in USERS else None)
        proc = subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        server = Server(name, proc, port, f"http://127.0.0.1:{port}")
        self.servers.append(server)
        return server

    def _secret(self, name: str, make: Callable[[], str] = new_secret) -> str:
        # Demo secrets are made once per data directory and kept there, readable by the
        # owner only (they include the NATS passwords).
        path = self.data_dir / "secrets.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        if name not in data:
            data[name] = make()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(json.dumps(data, indent=2))
        return str(data[name])

    def start(self) -> None:
        """Start everything and wait until each part answers; stops what started on failure."""
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self.servers.append(
                start_nats(
                    self.data_dir / "nats",
                    self.ports.nats,
                    self.logs / "nats.log",
                    passwords=self.nats_passwords(),
                )
            )
            self.servers.append(start_store(self.data_dir / "store", self.ports.store))
            self.sms_password = self._secret("sms_password")
            tools = self._spawn("devtools", self._devtools_args(), self.ports.devtools)
            wait_for_port(self.ports.devtools, proc=tools.proc)
            for name in BACKEND:
                self._spawn(
                    name,
                    ["-m", f"services.{name}", "--port", str(self.ports.services[name])],
                    self.ports.services[name],
                )
            if self.with_portal:
                self._spawn(
                    "portal",
                    ["-m", "services.portal", "--port", str(self.ports.portal)],
                    self.ports.portal,
                )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _devtools_args(self) -> list[str]:
        # "--option=value", never "--option value": a value starting with "-" (such as a
        # secret stored by an older version under var/) would otherwise be read as an option.
        options = {
            "--data-dir": str(self.data_dir / "devtools"),
            "--smtp-port": str(self.ports.smtp),
            "--http-port": str(self.ports.devtools),
            "--sms-user": SMS_USER,
            "--sms-password": self.sms_password,
            # Replies to the demo's SMS go to dispatch's inbound webhook, as the provider's do.
            "--sms-inbound-url": f"{self.service_url('dispatch')}/sms/inbound/"
            + self._secret("sms_inbound_secret"),
        }
        return ["-m", "devstack.devtools", *(f"{name}={value}" for name, value in options.items())]

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = [s for s in self.servers if s.name in (*BACKEND, "portal")]
        with httpx.Client(timeout=2.0) as client:
            while pending and time.monotonic() < deadline:
                for server in list(pending):
                    if server.proc.poll() is not None:
                        raise RuntimeError(
                            f"{server.name} exited with {server.proc.returncode}; "
                            f"see {self.logs / (server.name + '.log')}"
                        )
                    try:
                        if client.get(f"{server.url}/health/ready").status_code == 200:
                            pending.remove(server)
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not ready after {timeout}s: {[s.name for s in pending]}")

    def stop(self) -> None:
        """Stop every process, newest first, each by its PID."""
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

    def bus_refusals(self) -> list[str]:
        """What nats-server refused a client in this data directory (none in normal use)."""
        return bus_refusals(self.logs / "nats.log")

    # --- demo data --------------------------------------------------------------------

    def credentials(self) -> dict[str, tuple[str, str | None]]:
        """username → (password, council or None for the region admin): the region admin, and
        per council a staff account, a steering-group account (``<council>-styrgrupp``) and an
        analyst (``<council>-analys``), who reviews a round's method."""
        accounts: dict[str, tuple[str, str | None]] = {
            "region": (self._secret("password_region"), None)
        }
        for tenant in DEMO_COUNCILS:
            accounts[f"{tenant}-staff"] = (self._secret(f"password_{tenant}"), tenant)
            steering = self._secret(f"password_{tenant}_styrgrupp")
            accounts[f"{tenant}{STEERING_SUFFIX}"] = (steering, tenant)
            analyst = self._secret(f"password_{tenant}_analys")
            accounts[f"{tenant}{ANALYST_SUFFIX}"] = (analyst, tenant)
        return accounts

    @staticmethod
    def role_of(username: str, council: str | None) -> str:
        """The role of a demo account (see ``credentials``)."""
        if council is None:
            return "region_admin"
        if username.endswith(ANALYST_SUFFIX):
            return "analyst"
        return "steering_group" if username.endswith(STEERING_SUFFIX) else "staff"

    async def seed(self, members_per_council: int = 67) -> bool:
        """First start only: councils, staff accounts and confirmed demo members."""
        marker = self.data_dir / "seeded"
        if marker.exists():
            return False
        rng = random.Random(2007)  # noqa: S311 - demo data, reproducible on purpose
        nc = await self.login(OPS).connect()
        try:
            js = nc.jetstream()
            await ensure_streams(js)
            for tenant, name in DEMO_COUNCILS.items():
                await publish(
                    js,
                    RegisterTenant(tenant=tenant, display_name=name, districts=DISTRICTS[tenant]),
                )
            await asyncio.sleep(0.5)  # let the councils exist before their members arrive
            for tenant in DEMO_COUNCILS:
                rows = [
                    MemberRow(
                        member_id=str(uuid.uuid4()),
                        email=f"invanare{n + 1}@{tenant}.example",
                        birth_year=rng.randint(1940, 2008),
                        gender=rng.choice(
                            ("female", "female", "male", "male", "other", "undisclosed")
                        ),
                        district=rng.choice(DISTRICTS[tenant]),
                    )
                    for n in range(members_per_council)
                ]
                # Bulk import: one command per thousand members instead of one per member.
                for start in range(0, len(rows), MAX_IMPORT_ROWS):
                    await publish(
                        js,
                        ImportMembers(
                            tenant=tenant,
                            import_id=f"demo-{tenant}",
                            batch_no=start // MAX_IMPORT_ROWS + 1,
                            first_row=start + 1,
                            consent_version="2026-1",
                            source="demo",
                            rows=tuple(rows[start : start + MAX_IMPORT_ROWS]),
                        ),
                    )
        finally:
            await nc.close()
        if self.with_portal:
            await self.seed_accounts()
        marker.write_text("seeded\n")
        return True

    async def seed_accounts(self) -> None:
        """Make the demo accounts that do not exist yet (a data directory seeded before an
        account was added to the demo gets it at its next start; the others stay as they are)."""
        from infra.store import connect, database
        from services.portal.accounts import create_account

        client = connect(self.mongodb_url)
        try:
            db = database(client, "portal")
            for username, (password, tenant) in self.credentials().items():
                if await db.accounts.find_one({"_id": username}, {"_id": 1}) is None:
                    role = self.role_of(username, tenant)
                    await create_account(db, username, password, tenant, role)
        finally:
            await client.close()
