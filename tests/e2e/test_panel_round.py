"""Steps 1-6 of a panel round through the portal's HTTP API, reading the mails it sends: the
steering group approves the round, its schedule opens it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from devstack.stack import LocalStack

T = "gnosjo"


def poll(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def mails_to(system: LocalStack, address: str) -> list[dict[str, Any]]:
    listing = httpx.get(f"{system.devtools_url}/dev/mail", params={"to": address}).json()
    return [httpx.get(f"{system.devtools_url}/dev/mail/{m['id']}").json() for m in listing["items"]]


def panelists(system: LocalStack) -> int:
    """Members in rounds' panel replica, from its metrics."""
    text = httpx.get(f"{system.service_url('rounds')}/metrics").text
    found = re.search(r"^radslag_panelists (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else -1


def link_token(text: str, path: str) -> str:
    match = re.search(rf"/t/{T}/{path}/([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def staff_client(system: LocalStack, username: str, tenant: str) -> httpx.Client:
    password, _ = system.credentials()[username]
    client = httpx.Client(base_url=system.portal_url, timeout=10)
    reply = client.post(
        f"/api/t/{tenant}/session", json={"username": username, "password": password}
    )
    assert reply.status_code == 200, reply.text
    client.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
    return client


def approve_and_schedule(system: LocalStack, staff: httpx.Client, round_id: str) -> None:
    """Staff submit the drafted round, the steering group approves it (and may not schedule
    it), staff schedule it to open at once: its timer opens it."""
    url = f"/api/t/{T}/rounds/{round_id}"
    assert staff.post(f"{url}/submit").status_code == 202
    assert staff.post(f"{url}/approve").status_code == 403  # the steering group's
    politician = staff_client(system, f"{T}-styrgrupp", T)
    poll(lambda: politician.get(url).json()["state"] == "submitted", "round submitted")
    assert politician.post(f"{url}/schedule").status_code == 403
    assert politician.post(f"{url}/approve").status_code == 202
    poll(lambda: staff.get(url).json()["state"] == "approved", "round approved")
    assert staff.post(f"{url}/schedule", json={"reminder_days": [3]}).status_code == 202


def test_a_panel_round_end_to_end(system: LocalStack) -> None:
    public = httpx.Client(base_url=system.portal_url, timeout=10)
    assert public.get("/health/ready").status_code == 200

    # 1. A resident signs up; the double opt-in mail's link confirms the membership.
    email = "ny.invanare@example.se"
    reply = public.post(
        f"/api/t/{T}/members",
        json={
            "email": email,
            "birth_year": 1985,
            "gender": "female",
            "district": "Hillerstorp",
            "consent": True,
        },
    )
    assert reply.status_code == 202, reply.text
    opt_in = poll(lambda: mails_to(system, email), "opt-in mail")[0]
    token = link_token(opt_in["text"], "join/confirm")
    reply = public.post(f"/api/t/{T}/members/confirm", json={"token": token})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "done"
    assert (
        public.post(f"/api/t/{T}/members/confirm", json={"token": token}).json()["status"]
        == "refused"
    )

    # The new member must be in rounds' panel before the round opens (a confirmation that
    # crosses the opening joins from the next round on).
    poll(lambda: panelists(system) == 3 * 12 + 1, "the new member in rounds' panel")

    # 2. Staff sign in, create a round with a purpose and two questions; it is approved and
    # scheduled.
    staff = staff_client(system, f"{T}-staff", T)
    reply = staff.post(
        f"/api/t/{T}/rounds",
        json={
            "title": "Kvällsbussar",
            "purpose": "Underlag för trafikplanen 2027.",
            "questions": [
                {
                    "key": "bus",
                    "kind": "single_choice",
                    "text": "Ska bussen gå senare?",
                    "options": ["Ja", "Nej", "Vet inte"],
                },
                {"key": "why", "kind": "free_text", "text": "Varför?"},
            ],
        },
    )
    assert reply.status_code == 202, reply.text
    round_id = reply.json()["round_id"]

    def state_is(expected: str) -> bool:
        got = staff.get(f"/api/t/{T}/rounds/{round_id}")
        return got.status_code == 200 and got.json()["state"] == expected

    poll(lambda: state_is("draft"), "round drafted")
    approve_and_schedule(system, staff, round_id)
    poll(lambda: state_is("open"), "round opened by its schedule")
    view = staff.get(f"/api/t/{T}/rounds/{round_id}").json()
    assert [(s["step"], s["by"]) for s in view["history"]] == [
        ("created", f"{T}-staff"),
        ("submitted", f"{T}-staff"),
        ("approved", f"{T}-styrgrupp"),
        ("scheduled", f"{T}-staff"),
        ("opened", ""),
    ]
    assert [(r["days"], r["state"]) for r in view["reminders"]] == [(3, "waiting")]

    # Staff of another council get 404 for this round, in their council and in this one.
    other = staff_client(system, "kinda-staff", "kinda")
    assert other.get(f"/api/t/kinda/rounds/{round_id}").status_code == 404
    assert other.get(f"/api/t/{T}/rounds/{round_id}").status_code in (401, 403, 404)

    # 3. The new member (and the 12 demo members) get an invitation with a personal link.
    invitation = poll(
        lambda: [m for m in mails_to(system, email) if "/a/" in m["text"]], "invitation"
    )[0]
    answer_token = link_token(invitation["text"], "a")
    assert len(answer_token) >= 22  # ≥ 128 random bits

    # 4. The resident answers once; a second submission is refused.
    view = public.get(f"/api/t/{T}/invitations/{answer_token}")
    assert view.status_code == 200
    assert view.json()["status"] == "open"
    answers = {"answers": {"bus": "Ja", "why": "Jag jobbar kväll."}}
    assert (
        public.post(f"/api/t/{T}/invitations/{answer_token}/response", json=answers).status_code
        == 200
    )
    assert (
        public.post(f"/api/t/{T}/invitations/{answer_token}/response", json=answers).status_code
        == 409
    )
    assert public.get(f"/api/t/{T}/invitations/{'x' * 43}").status_code == 404
    poll(
        lambda: staff.get(f"/api/t/{T}/rounds/{round_id}").json()["responded"] == 1,
        "response rate updated",
    )

    # 5. Staff close the round and read the results.
    assert staff.post(f"/api/t/{T}/rounds/{round_id}/close").status_code == 202
    poll(lambda: state_is("closed"), "round closed")

    def results() -> dict[str, Any] | None:
        got = staff.get(f"/api/t/{T}/rounds/{round_id}/results").json()
        return got if got["questions"][0]["answered"] == 1 else None

    res = poll(results, "results")
    bus = res["questions"][0]
    assert [(o["option"], o["count"]) for o in bus["options"]] == [
        ("Ja", 1),
        ("Nej", 0),
        ("Vet inte", 0),
    ]
    assert all(cell["respondents"] is None for cell in bus["by_gender"])  # 1 < 5: suppressed
    # Written answers page apart from the figures.
    texts = staff.get(f"/api/t/{T}/rounds/{round_id}/questions/{res['questions'][1]['key']}/texts")
    assert [t["text"] for t in texts.json()["texts"]] == ["Jag jobbar kväll."]

    # 6. Staff publish the results, then the feedback: it reaches everyone invited and the
    # public results page.
    assert public.get(f"/api/t/{T}/published").json()["rounds"] == []
    assert staff.post(f"/api/t/{T}/rounds/{round_id}/publish").status_code == 202
    poll(lambda: state_is("published"), "results published")
    text = "Kvällsturerna förlängs från mars."
    assert (
        staff.post(f"/api/t/{T}/rounds/{round_id}/feedback", json={"text": text}).status_code == 202
    )
    poll(lambda: [m for m in mails_to(system, email) if text in m["text"]], "feedback mail")
    published = poll(
        lambda: [r for r in public.get(f"/api/t/{T}/published").json()["rounds"] if r["feedback"]],
        "published feedback",
    )
    assert published[0]["feedback"] == text
    page = public.get(f"/t/{T}/results")
    assert page.status_code == 200
    assert text in page.text
