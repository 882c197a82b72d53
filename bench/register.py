"""Benchmark: import a population-register extract through the portal and draw a stratified
sample from it.

Runs the whole local stack (portal included) on free ports in a temporary directory, writes a
synthetic extract of N rows to disk (four districts, ages 16-95, about 1 % bad rows, a tenth
with an e-mail address), signs in as the council's staff and does what the portal's pages do:
creates a campaign, PUTs the file to ``/api/t/<council>/campaigns/<id>/register`` (streamed
from disk), waits until recruitment has every batch, draws the sample and waits until it is
drawn. Then it prints the letters of the sample as one PDF.

    python -m bench.register [--rows 1000000] [--sample 10000] [--json results.json]

Figures (printed, and written by ``--json``): ``import_seconds`` (PUT started → last batch
imported), ``import_rows_per_s``, ``upload_seconds`` (until the portal had sent every batch),
``draw_seconds`` (draw asked → drawn), ``letters_seconds`` and ``letters_per_s`` (the PDF),
``peak_rss_mib`` of every process (after the draw, and
``peak_rss_mib_with_letters`` after the PDF), and two baselines measured in the same run on the same
file and store: ``baseline_csv_rows_per_s`` (reading the file with Python's csv module, the
floor of any import) and ``baseline_row_documents_per_s`` (inserting one document per row,
the naive storage the register parts replace).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.invitations import peak_rss_mib, wait_for
from devstack.stack import DISTRICTS, LocalStack, Ports
from infra.store import connect, database

TENANT = "kinda"
CHUNK = 1024 * 1024


def write_extract(path: Path, rows: int, seed: int = 2027) -> int:
    """A synthetic extract of ``rows`` people; returns its size in bytes."""
    rng = random.Random(seed)  # synthetic data, reproducible on purpose
    districts = DISTRICTS[TENANT]
    year = datetime.now(UTC).year
    first = ("Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Åsa", "Björn", "Elin", "Örjan")
    last = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Öberg")
    with path.open("w", encoding="utf-8", newline="") as fp:
        out = csv.writer(fp)
        out.writerow(
            ["name", "address", "postcode", "town", "birth_year", "gender", "district", "email"]
        )
        for n in range(rows):
            birth = year - rng.randint(16, 95)
            bad = rng.random() < 0.01
            out.writerow(
                [
                    f"{rng.choice(first)} {rng.choice(last)}",
                    f"Storgatan {n % 997 + 1}{'' if n < 997 else f' lgh {n // 997}'}",
                    f"590 {n % 100:02d}",
                    "Kisa",
                    "19x0" if bad else str(birth),
                    rng.choice(("K", "M")),
                    rng.choice(districts),
                    f"person{n}@example.se" if rng.random() < 0.1 else "",
                ]
            )
    return path.stat().st_size


def baseline_csv(path: Path) -> float:
    """Rows per second Python's csv module reads from the file (nothing else done)."""
    t0 = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as fp:
        count = sum(1 for _ in csv.reader(fp)) - 1
    return count / (time.perf_counter() - t0)


async def baseline_documents(mongodb_url: str, rows: int = 50_000) -> float:
    """Documents per second the store inserts when each register row is its own document,
    in batches of 2000 (the storage a campaign's parts replace)."""
    client = connect(mongodb_url)
    try:
        db = database(client, "bench_baseline")
        t0 = time.perf_counter()
        for start in range(0, rows, 2000):
            await db.rows.insert_many(
                [
                    {
                        "_id": f"c:{n}",
                        "campaign": "c",
                        "name": "Anna Andersson",
                        "address": f"Storgatan {n}",
                        "birth_year": 1970,
                        "gender": "female",
                        "district": "Kisa",
                    }
                    for n in range(start, start + 2000)
                ]
            )
        rate = rows / (time.perf_counter() - t0)
        await client.drop_database("bench_baseline")
        return rate
    finally:
        await client.close()


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK):
            yield chunk


async def run(rows: int, sample: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radslag-bench-register-") as tmp:
        extract = Path(tmp) / "extract.csv"
        size = write_extract(extract, rows)
        stack = LocalStack(Path(tmp) / "stack", Ports.free())
        stack.start()
        try:
            await stack.seed(members_per_council=200)
            result = await measure(stack, extract, rows, sample)
            result["file_mib"] = size / 1024 / 1024
            result["baseline_csv_rows_per_s"] = baseline_csv(extract)
            result["baseline_row_documents_per_s"] = await baseline_documents(stack.mongodb_url)
            return result
        finally:
            stack.stop()
            for line in stack.bus_refusals():
                print(f"the bus refused a client: {line}", file=sys.stderr)


async def measure(stack: LocalStack, extract: Path, rows: int, sample: int) -> dict[str, Any]:
    password, _ = stack.credentials()[f"{TENANT}-staff"]
    async with httpx.AsyncClient(base_url=stack.portal_url, timeout=600) as http:
        session = await http.post(
            f"/api/t/{TENANT}/session", json={"username": f"{TENANT}-staff", "password": password}
        )
        session.raise_for_status()
        headers = {"X-CSRF-Token": session.json()["csrf_token"]}
        closes = (date.today() + timedelta(days=60)).isoformat()
        created = await http.post(
            f"/api/t/{TENANT}/campaigns",
            json={"title": "Benchmark", "closes_on": closes},
            headers=headers,
        )
        created.raise_for_status()
        campaign = f"/api/t/{TENANT}/campaigns/{created.json()['campaign_id']}"

        async def view() -> dict[str, Any]:
            response = await http.get(campaign)
            response.raise_for_status()
            found: dict[str, Any] = response.json()
            return found

        t0 = time.perf_counter()
        sent = await http.put(
            f"{campaign}/register",
            content=file_chunks(extract),
            headers={**headers, "content-type": "text/csv"},
        )
        sent.raise_for_status()
        uploaded = time.perf_counter() - t0

        async def imported() -> bool:
            v = await view()
            return v["batches_expected"] is not None and v["batches_done"] >= v["batches_expected"]

        await wait_for(imported, 1800, "every batch imported", 0.25)
        import_seconds = time.perf_counter() - t0
        after_import = await view()

        t1 = time.perf_counter()
        draw = await http.post(
            f"{campaign}/draw", json={"size": sample, "seed": 2027}, headers=headers
        )
        draw.raise_for_status()

        async def drawn() -> bool:
            return (await view())["state"] == "drawn"

        await wait_for(drawn, 600, "the sample drawn", 0.1)
        draw_seconds = time.perf_counter() - t1
        after_draw = await view()
        memory = {s.name: peak_rss_mib(s.proc.pid) for s in stack.servers}

        t2 = time.perf_counter()
        pdf = await http.get(f"{campaign}/letters.pdf")
        pdf.raise_for_status()
        letters_seconds = time.perf_counter() - t2
    return {
        "rows": rows,
        "sample": sample,
        "batches": sent.json()["batches"],
        "upload_seconds": uploaded,
        "import_seconds": import_seconds,
        "import_rows_per_s": rows / import_seconds,
        "draw_seconds": draw_seconds,
        "import_and_draw_seconds": import_seconds + draw_seconds,
        "eligible": after_import["eligible"],
        "rejected": after_import["rejected"],
        "excluded": after_import["excluded"],
        "invited": after_draw["invited"],
        "letters_seconds": letters_seconds,
        "letters_per_s": after_draw["invited"] / letters_seconds,
        "letters_pdf_mib": len(pdf.content) / 1024 / 1024,
        "peak_rss_mib": memory,
        "peak_rss_mib_with_letters": {s.name: peak_rss_mib(s.proc.pid) for s in stack.servers},
    }


def report(result: dict[str, Any]) -> None:
    def row(label: str, value: float, fmt: str = "10.1f") -> None:
        print(f"  {label:<48} {value:{fmt}}")

    print(
        f"\nRegister extract of {result['rows']} rows ({result['file_mib']:.0f} MiB), "
        f"sample of {result['sample']} (local stack, one machine)"
    )
    row("seconds until the portal had sent every batch", result["upload_seconds"])
    row("seconds until recruitment had every batch", result["import_seconds"])
    row("rows/s imported", result["import_rows_per_s"], "10.0f")
    row("seconds to draw the sample", result["draw_seconds"])
    row("seconds import + draw (goal: under 60)", result["import_and_draw_seconds"])
    row("rows eligible", result["eligible"], "10.0f")
    row("rows refused", result["rejected"], "10.0f")
    row("people invited", result["invited"], "10.0f")
    row("seconds to print the letters (one PDF)", result["letters_seconds"])
    row("letters/s", result["letters_per_s"], "10.0f")
    print("  peak memory per process (MiB), import and draw / with the letters:")
    for name, mib in result["peak_rss_mib"].items():
        print(f"    {name:<36} {mib:10.1f} {result['peak_rss_mib_with_letters'][name]:10.1f}")
    print("Baselines, same run:")
    row("csv module alone, rows/s", result["baseline_csv_rows_per_s"], "10.0f")
    row("one store document per row, rows/s", result["baseline_row_documents_per_s"], "10.0f")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.register", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.rows, args.sample))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
