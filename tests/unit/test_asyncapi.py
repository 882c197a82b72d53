"""The AsyncAPI documents in the repository match what the code generates."""

from __future__ import annotations

from pathlib import Path

from infra.asyncapi import generate, render

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


def test_asyncapi_documents_are_current() -> None:
    for name, doc in generate().items():
        path = DOCS / f"{name}.json"
        assert path.exists(), f"{path} missing: run 'make asyncapi'"
        assert path.read_text() == render(doc), f"{path} is stale: run 'make asyncapi'"


def test_every_consumed_command_is_documented_with_its_schema() -> None:
    rounds = generate()["rounds"]
    assert "rounds.*.cmd.open_round:OnOpen" in rounds["channels"]
    schemas = rounds["components"]["schemas"]
    assert "OpenRound" in schemas
    assert schemas["OpenRound"]["properties"]["round_id"]["description"] == "The round."
