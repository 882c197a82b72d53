"""recruitment's entry points on the bus: thin, each hands its message to a handler."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts.dispatch import ContactForgotten, SendMessage
from contracts.personal_data import PersonalData
from contracts.recruitment import (
    ConfirmByCode,
    ConfirmMembership,
    ContactRecorded,
    EnrolMember,
    EraseMember,
    ErasureView,
    GetErasure,
    GetImport,
    GetMemberData,
    GetPanelHistory,
    GetRepresentativeness,
    GetSignUp,
    ImportMember,
    ImportMembers,
    ImportView,
    LeavePanel,
    ListTenants,
    MemberEnrolled,
    MemberErased,
    MembershipOutcome,
    Outcome,
    PanelHistory,
    RegisterTenant,
    Representativeness,
    SetPopulation,
    SignUpView,
    TenantList,
)
from contracts.rounds import MemberForgotten
from infra.queries import answers
from infra.service import Runtime, subscriber
from services.recruitment import counts, erasure, handlers, sms_codes

PUBLISHES = (ContactRecorded, MemberEnrolled, MemberErased, SendMessage)
"""What this service publishes (through its outbox), for the AsyncAPI document."""


def build_router(rt: Runtime) -> NatsRouter:
    """Consumers and query responders of recruitment, bound to this runtime."""
    router = NatsRouter()

    @subscriber(router, SetPopulation, "recruitment_set_population")
    async def on_population(cmd: SetPopulation) -> None:
        await handlers.set_population(rt, cmd)

    @answers(router, GetPanelHistory, "recruitment")
    async def q_history(q: GetPanelHistory) -> PanelHistory:
        return PanelHistory(months=tuple(await counts.history(rt, q.tenant, q.months)))

    @answers(router, GetRepresentativeness, "recruitment")
    async def q_representativeness(q: GetRepresentativeness) -> Representativeness | None:
        return await handlers.get_representativeness(rt, q)

    @subscriber(router, LeavePanel, "recruitment_leave_panel")
    async def on_leave(cmd: LeavePanel) -> None:
        await erasure.leave_panel(rt, cmd)

    @subscriber(router, EraseMember, "recruitment_erase_member")
    async def on_erase(cmd: EraseMember) -> None:
        await erasure.erase_member(rt, cmd)

    @subscriber(router, MemberForgotten, "recruitment_member_forgotten")
    async def on_rounds_forgot(evt: MemberForgotten) -> None:
        await erasure.forgotten(rt, evt.tenant, evt.member_id, "rounds")

    @subscriber(router, ContactForgotten, "recruitment_contact_forgotten")
    async def on_dispatch_forgot(evt: ContactForgotten) -> None:
        await erasure.forgotten(rt, evt.tenant, evt.member_id, "dispatch")

    @answers(router, GetMemberData, "recruitment")
    async def q_member_data(q: GetMemberData) -> PersonalData | None:
        return await erasure.member_data(rt, q)

    @answers(router, GetErasure, "recruitment")
    async def q_erasure(q: GetErasure) -> ErasureView | None:
        return await erasure.get_erasure(rt, q)

    @subscriber(router, RegisterTenant, "recruitment_register_tenant")
    async def on_register_tenant(cmd: RegisterTenant) -> None:
        await handlers.register_tenant(rt, cmd)

    @subscriber(router, EnrolMember, "recruitment_enrol_member")
    async def on_enrol_member(cmd: EnrolMember) -> None:
        if cmd.email:
            await handlers.enrol_member(rt, cmd)
        else:  # by mobile number only: confirmed by a code sent by SMS
            await sms_codes.enrol_by_phone(rt, cmd)

    @subscriber(router, ImportMember, "recruitment_import_member")
    async def on_import_member(cmd: ImportMember) -> None:
        await handlers.import_member(rt, cmd)

    # A command carries up to 1000 members: pull few at a time, and let a second batch be
    # checked and built while the first one is written.
    @subscriber(router, ImportMembers, "recruitment_import_members", batch_size=4, max_workers=2)
    async def on_import_members(cmd: ImportMembers) -> None:
        await handlers.import_members(rt, cmd)

    @subscriber(router, ConfirmMembership, "recruitment_confirm_membership")
    async def on_confirm(cmd: ConfirmMembership) -> None:
        await handlers.confirm_membership(rt, cmd)

    @answers(router, ListTenants, "recruitment")
    async def on_list_tenants(q: ListTenants) -> TenantList:
        return await handlers.list_tenants(rt, q)

    @answers(router, GetSignUp, "recruitment")
    async def on_sign_up(q: GetSignUp) -> SignUpView | None:
        return await handlers.get_sign_up(rt, q)

    @answers(router, MembershipOutcome, "recruitment")
    async def on_outcome(q: MembershipOutcome) -> Outcome:
        return await handlers.membership_outcome(rt, q)

    @answers(router, GetImport, "recruitment")
    async def on_get_import(q: GetImport) -> ImportView | None:
        return await handlers.get_import(rt, q)

    @subscriber(router, ConfirmByCode, "recruitment_confirm_by_code")
    async def on_confirm_by_code(cmd: ConfirmByCode) -> None:
        await sms_codes.confirm_by_code(rt, cmd)

    return router
