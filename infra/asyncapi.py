"""AsyncAPI 3.0 documents generated from the services' own routers and contracts.

``python -m infra.asyncapi docs/asyncapi`` writes one JSON file per service; a test fails when
the files in the repository differ from what the code generates.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from contracts.subjects import subject_pattern
from infra.service import Service

SERVICES = ("recruitment", "rounds", "dispatch", "feedback")


def document(service: Service, publishes: tuple[type[Any], ...]) -> dict[str, Any]:
    """The AsyncAPI document of one service: what it consumes, answers and publishes."""
    broker = NatsBroker(description=f"Rådslag {service.name} service")
    broker.include_router(service.build_router(service.runtime))
    for message in publishes:
        # Documentation only: services publish through their outbox, not these objects.
        broker.publisher(
            subject_pattern(message),
            schema=message,
            title=f"{message.name}:publish",
            description=(message.__doc__ or "").strip().split("\n")[0],
        )
    spec = AsyncAPI(broker, title=f"radslag-{service.name}", version="1.0.0")
    result: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return result


def generate() -> dict[str, dict[str, Any]]:
    """Every service's document, by service name."""
    docs = {}
    for name in SERVICES:
        app = importlib.import_module(f"services.{name}.app")
        subscribers = importlib.import_module(f"services.{name}.subscribers")
        docs[name] = document(app.create_service(), subscribers.PUBLISHES)
    return docs


def render(doc: dict[str, Any]) -> str:
    """Stable text for the repository."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "docs/asyncapi")
    target.mkdir(parents=True, exist_ok=True)
    for name, doc in generate().items():
        (target / f"{name}.json").write_text(render(doc))
        print(f"wrote {target / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
