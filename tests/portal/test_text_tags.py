"""Staff tag written answers on the texts page and through the API; the steering group reads
the tags but cannot change them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts.rounds import ListAnswerTexts, TagAnswerText
from tests.portal.conftest import api_login, check_page, text_of
from tests.portal.fakes import FakeGateway
from tests.portal.test_results_kinds import _results
from tests.portal.test_round_life_cycle import _signed_in, politician  # noqa: F401
from tests.portal.test_staff import ROUND, login

pytestmark = pytest.mark.usefixtures("accounts")

URL = f"/t/gnosjo/staff/rounds/{ROUND}/texts/why"
REF = f"{3:032x}"


async def test_staff_tag_a_written_answer_and_list_answers_by_tag(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    csrf = await login(client, "gnosjo", "anna")
    page = await client.get(URL)
    assert 'name="tags"' in page.text
    saved = await client.post(
        f"{URL}/tags",
        data={
            "csrf_token": csrf,
            "ref": REF,
            "tags": " Lighting , safety,, lighting ",
            "search": "",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{URL}?tagged={REF}#t-{REF}"
    [command] = gateway.sent(TagAnswerText)
    assert (command.question, command.ref, command.tagged_by) == ("why", REF, "anna")
    assert command.tags == ("Lighting", "safety")
    shown = await client.get(saved.headers["location"])
    check_page(shown.text)
    text = text_of(shown.text)
    assert "Taggarna är sparade" in text
    assert "Lighting (1)" in text
    assert "safety (1)" in text
    assert 'value="Lighting, safety"' in shown.text
    narrowed = await client.get(URL, params={"tag": "safety"})
    assert text_of(narrowed.text).count("Svar ") == 1
    assert gateway.asked(ListAnswerTexts)[-1].tag == "safety"
    assert "Endast svar taggade ”safety”" in text_of(narrowed.text)


async def test_bad_tags_are_refused_with_a_reason(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    csrf = await login(client, "gnosjo", "anna")
    many = ",".join(f"t{n}" for n in range(11))
    too_many = await client.post(f"{URL}/tags", data={"csrf_token": csrf, "ref": REF, "tags": many})
    assert too_many.status_code == 303
    assert "problem=too_many" in too_many.headers["location"]
    page = await client.get(too_many.headers["location"])
    assert "Högst 10 taggar på ett svar" in text_of(page.text)
    long = await client.post(f"{URL}/tags", data={"csrf_token": csrf, "ref": REF, "tags": "x" * 41})
    assert "problem=too_long" in long.headers["location"]
    assert gateway.sent(TagAnswerText) == []
    bad_ref = await client.post(f"{URL}/tags", data={"csrf_token": csrf, "ref": "resp-1"})
    assert bad_ref.status_code == 400
    no_csrf = await client.post(f"{URL}/tags", data={"ref": REF, "tags": "a"})
    assert no_csrf.status_code == 403
    other = await client.post(
        "/t/gnosjo/staff/rounds/nope/texts/why/tags", data={"csrf_token": csrf, "ref": REF}
    )
    assert other.status_code == 404


async def test_the_api_tags_answers_and_filters_by_tag(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    csrf = await api_login(client, "gnosjo", "anna")
    headers = {"X-CSRF-Token": csrf}
    url = f"/api/t/gnosjo/rounds/{ROUND}/questions/why/texts"
    put = await client.put(f"{url}/{REF}/tags", json={"tags": ["cost"]}, headers=headers)
    assert put.status_code == 202, put.text
    assert put.json()["status"] == "done"
    page = (await client.get(url, params={"tag": "cost"}, headers=headers)).json()
    assert [(t["ref"], t["tags"]) for t in page["texts"]] == [(REF, ["cost"])]
    assert page["tags"] == [{"tag": "cost", "count": 1}]
    bad = await client.put(f"{url}/{REF}/tags", json={"tags": ["x" * 41]}, headers=headers)
    assert bad.status_code == 400
    assert (
        await client.put(f"{url}/nope/tags", json={"tags": []}, headers=headers)
    ).status_code == 422


async def test_the_steering_group_reads_tags_but_cannot_tag(
    politician: httpx.AsyncClient,  # noqa: F811
    gateway: FakeGateway,
    monkeypatch: Any,
) -> None:
    _results(gateway, monkeypatch)
    gateway.text_tags[("gnosjo", ROUND, "why", REF)] = ("cost",)
    csrf = await _signed_in(politician, "stig", f"/t/gnosjo/staff/rounds/{ROUND}/results")
    page = await politician.get(URL)
    assert page.status_code == 200
    assert 'name="tags"' not in page.text
    assert "Taggar: cost" in text_of(page.text)
    refused = await politician.post(
        f"{URL}/tags", data={"csrf_token": csrf, "ref": REF, "tags": "x"}
    )
    assert refused.status_code == 403
    assert gateway.sent(TagAnswerText) == []
