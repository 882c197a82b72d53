"""``python -m devstack up``: the whole local system in the foreground; Ctrl-C stops it.

``python -m devstack deadletters list|replay …``: ``infra.deadletter`` against the local
stack, logged in as its ``ops`` user (the password is in the data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from devstack.stack import DEMO_COUNCILS, LocalStack
from infra import deadletter
from infra.natsauth import OPS


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "deadletters"])
    parser.add_argument("--data-dir", type=Path, default=Path("var"))
    args, rest = parser.parse_known_args(argv)

    stack = LocalStack(args.data_dir)
    if args.command == "deadletters":
        # The local stack's seal keys open the dead letters' bodies (for listing and replay).
        os.environ.setdefault("SEAL_KEYS", stack.seal_keys)
        return deadletter.main(rest or ["list"], stack.login(OPS))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("Starting Rådslag (data in", stack.data_dir, ")…", flush=True)
    stack.start()
    try:
        if asyncio.run(stack.seed()):
            print("Seeded demo councils and about 200 members.", flush=True)
        elif stack.with_portal:
            asyncio.run(stack.seed_accounts())
        print(f"\nPortal:        {stack.portal_url}/")
        for tenant, name in DEMO_COUNCILS.items():
            print(f"  {name:<14} {stack.portal_url}/t/{tenant}/   staff: /t/{tenant}/staff/")
        print(f"Region admin:  {stack.portal_url}/region/")
        print(f"Mail and SMS:  {stack.portal_url}/dev/")
        print("\nAccounts (username / password):")
        for username, (password, council) in stack.credentials().items():
            role = stack.role_of(username, council).replace("_", " ")
            print(f"  {username:<16} {password:<20} {council or ''} {role}")
        print(f"\nLogs in {stack.logs}. Press Ctrl-C to stop.", flush=True)
        while not stopping:
            for server in stack.servers:
                if server.proc.poll() is not None:
                    print(f"{server.name} exited ({server.proc.returncode}); stopping.")
                    return 1
            time.sleep(0.5)
    finally:
        print("\nStopping…", flush=True)
        stack.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
