"""schemathesis over the portal's OpenAPI document: no input gives a server error.

Every operation gets generated requests (a bounded, reproducible number), half of them with
the path's council and round replaced by real ones, all signed in as staff with the session's
CSRF token, so the generated bodies reach the handlers and not only the 404s and 401s.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from services.portal.accounts import create_account
from services.portal.settings import PortalSettings
from tests.portal.conftest import PASSWORD, api_login, client_for, running
from tests.portal.fakes import FakeGateway, round_view

ROUND = "0b3c8a9e-5a1f-4a57-9a0e-6c3d1f7e2b10"
EXAMPLES = 25
"""Generated requests per operation (each also sent once with real ids)."""


def _cases(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    cases: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def collect(case: Any) -> None:
            cases.append(case)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            collect()
    return cases


def _request(case: Any, real_ids: bool) -> dict[str, Any]:
    path_parameters = dict(case.path_parameters or {})
    if real_ids:
        path_parameters.update(
            {k: v for k, v in (("tenant", "gnosjo"), ("round_id", ROUND)) if k in path_parameters}
        )
    path = case.path
    for name, value in path_parameters.items():
        path = path.replace("{" + name + "}", str(value))
    request: dict[str, Any] = {"params": case.query or None}
    if case.body is not None and not isinstance(case.body, schemathesis.core.NotSet):
        request["json"] = case.body
    return {"method": case.method, "url": path, **request}


async def test_no_generated_request_gets_a_server_error(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    generous = settings.model_copy(update={"portal_rate_limit": 100_000})
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="closed")
    async with running(generous, gateway) as application, client_for(application) as client:
        await create_account(application.state.portal.db, "anna", PASSWORD, "gnosjo", "staff")
        csrf = await api_login(client, "gnosjo", "anna")
        failures: list[str] = []
        statuses: Counter[int] = Counter()
        cases = _cases(application)
        for case in cases:
            for real_ids in (False, True):
                request = _request(case, real_ids)
                response = await client.request(**request, headers={"X-CSRF-Token": csrf})
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{request} -> {response.status_code} {response.text[:200]}")
                if request["method"].upper() == "DELETE" or response.status_code == 401:
                    csrf = await api_login(client, "gnosjo", "anna")  # signed out: again
        assert failures == []
        # The generated requests reached the handlers, not only the refusals.
        assert statuses[200] + statuses[202] > 0
        print(f"{len(cases)} cases, statuses {dict(sorted(statuses.items()))}")
