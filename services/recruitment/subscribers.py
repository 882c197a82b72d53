"""recruitment's entry points on the bus: thin, each hands its message to a handler."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts.campaigns import (
    CampaignList,
    CampaignView,
    CloseCampaign,
    CreateCampaign,
    DrawSample,
    FinishRegister,
    GetCampaign,
    GetInvitationCode,
    GetLetters,
    GetRegisterRejections,
    ImportRegister,
    InvitedView,
    Letters,
    ListCampaigns,
    ListOpenCampaigns,
    OpenCampaignList,
    RedeemInvitation,
    RegisterRejections,
    StartOpenCampaign,
)
from contracts.dispatch import ContactForgotten, SendMessage
from contracts.membership import (
    ChangeMyDetails,
    ChangeMyEmail,
    ChangeMyPhone,
    CloseMemberSession,
    ConfirmEmailChange,
    ConfirmPhoneChange,
    EraseMyMembership,
    GetMyMembership,
    MemberBackgroundChanged,
    MemberList,
    MemberPaused,
    MemberResumed,
    MyMembership,
    OpenMemberSession,
    OpenMemberSessionByCode,
    PauseMembership,
    RequestSignIn,
    RequestSignInCode,
    ResumeMembership,
    SearchMembers,
)
from contracts.panels import (
    ChangeMyPanels,
    ConfigurePanel,
    GetMyPanels,
    GetPanel,
    ListPanels,
    MemberPanelsChanged,
    MyPanels,
    PanelConfigured,
    PanelList,
    PanelView,
    RenewMembership,
)
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
    GetRepresentativenessHistory,
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
    PopulationChanged,
    RegisterTenant,
    Representativeness,
    RepresentativenessHistory,
    SetPopulation,
    SignUpView,
    TenantList,
)
from contracts.rounds import MemberForgotten
from infra.queries import answers
from infra.service import Runtime, subscriber
from services.recruitment import (
    campaigns,
    counts,
    erasure,
    handlers,
    imports,
    index_history,
    member_panels,
    member_search,
    open_campaigns,
    panels,
    phone_change,
    rotation,
    self_service,
    sign_in_codes,
    sms_codes,
)

PUBLISHES = (
    ContactRecorded,
    MemberEnrolled,
    MemberErased,
    SendMessage,
    MemberBackgroundChanged,
    MemberPaused,
    MemberResumed,
    PanelConfigured,
    MemberPanelsChanged,
    PopulationChanged,
)
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
        await imports.import_member(rt, cmd)

    # A command carries up to 1000 members: pull few at a time, and let a second batch be
    # checked and built while the first one is written.
    @subscriber(router, ImportMembers, "recruitment_import_members", batch_size=4, max_workers=2)
    async def on_import_members(cmd: ImportMembers) -> None:
        await imports.import_members(rt, cmd)

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
        return await imports.get_import(rt, q)

    @answers(router, SearchMembers, "recruitment")
    async def q_search_members(q: SearchMembers) -> MemberList:
        return await member_search.search_members(rt, q)

    @subscriber(router, ConfigurePanel, "recruitment_configure_panel")
    async def on_configure_panel(cmd: ConfigurePanel) -> None:
        await panels.configure_panel(rt, cmd)

    @subscriber(router, RenewMembership, "recruitment_renew_membership")
    async def on_renew(cmd: RenewMembership) -> None:
        await rotation.renew(rt, cmd)

    @subscriber(router, StartOpenCampaign, "recruitment_start_open_campaign")
    async def on_start_open_campaign(cmd: StartOpenCampaign) -> None:
        await open_campaigns.start(rt, cmd)

    @answers(router, ListOpenCampaigns, "recruitment")
    async def q_open_campaigns(q: ListOpenCampaigns) -> OpenCampaignList:
        return await open_campaigns.list_open(rt, q)

    @answers(router, GetRepresentativenessHistory, "recruitment")
    async def q_index_history(q: GetRepresentativenessHistory) -> RepresentativenessHistory:
        return await index_history.history(rt, q)

    @answers(router, GetPanel, "recruitment")
    async def q_panel(q: GetPanel) -> PanelView | None:
        return await panels.get_panel(rt, q)

    @answers(router, ListPanels, "recruitment")
    async def q_panels(q: ListPanels) -> PanelList:
        return await panels.list_panels(rt, q)

    @answers(router, GetMyPanels, "recruitment")
    async def q_my_panels(q: GetMyPanels) -> MyPanels | None:
        return await member_panels.get_my_panels(rt, q)

    @subscriber(router, ChangeMyPanels, "recruitment_change_my_panels")
    async def on_change_my_panels(cmd: ChangeMyPanels) -> None:
        await member_panels.change_my_panels(rt, cmd)

    # -- invited recruitment (campaigns) -----------------------------------------------------

    @subscriber(router, CreateCampaign, "recruitment_create_campaign")
    async def on_create_campaign(cmd: CreateCampaign) -> None:
        await campaigns.create_campaign(rt, cmd)

    # A batch carries up to 2000 people: pull few at a time, two in hand at once (one is
    # checked while the other is written).
    @subscriber(router, ImportRegister, "recruitment_import_register", batch_size=4, max_workers=2)
    async def on_import_register(cmd: ImportRegister) -> None:
        await campaigns.import_register(rt, cmd)

    @subscriber(router, FinishRegister, "recruitment_finish_register")
    async def on_finish_register(cmd: FinishRegister) -> None:
        await campaigns.finish_register(rt, cmd)

    @subscriber(router, DrawSample, "recruitment_draw_sample", batch_size=1)
    async def on_draw_sample(cmd: DrawSample) -> None:
        await campaigns.draw_sample(rt, cmd)

    @subscriber(router, CloseCampaign, "recruitment_close_campaign")
    async def on_close_campaign(cmd: CloseCampaign) -> None:
        await campaigns.close_campaign(rt, cmd)

    @subscriber(router, RedeemInvitation, "recruitment_redeem_invitation")
    async def on_redeem(cmd: RedeemInvitation) -> None:
        await campaigns.redeem_invitation(rt, cmd)

    @answers(router, GetCampaign, "recruitment")
    async def q_campaign(q: GetCampaign) -> CampaignView | None:
        return await campaigns.get_campaign(rt, q)

    @answers(router, ListCampaigns, "recruitment")
    async def q_campaigns(q: ListCampaigns) -> CampaignList:
        return await campaigns.list_campaigns(rt, q)

    @answers(router, GetRegisterRejections, "recruitment")
    async def q_rejections(q: GetRegisterRejections) -> RegisterRejections | None:
        return await campaigns.get_register_rejections(rt, q)

    @answers(router, GetLetters, "recruitment")
    async def q_letters(q: GetLetters) -> Letters | None:
        return await campaigns.get_letters(rt, q)

    @answers(router, GetInvitationCode, "recruitment")
    async def q_invitation_code(q: GetInvitationCode) -> InvitedView | None:
        return await campaigns.get_invitation_code(rt, q)

    _add_self_service(router, rt)

    @subscriber(router, ConfirmByCode, "recruitment_confirm_by_code")
    async def on_confirm_by_code(cmd: ConfirmByCode) -> None:
        await sms_codes.confirm_by_code(rt, cmd)

    return router


def _add_self_service(router: NatsRouter, rt: Runtime) -> None:
    """Member self-service: sign-in (by link or SMS code), the member's own details, the
    pause, erasure."""

    @subscriber(router, RequestSignIn, "recruitment_request_sign_in")
    async def on_request_sign_in(cmd: RequestSignIn) -> None:
        await self_service.request_sign_in(rt, cmd)

    @subscriber(router, OpenMemberSession, "recruitment_open_member_session")
    async def on_open_session(cmd: OpenMemberSession) -> None:
        await self_service.open_member_session(rt, cmd)

    @subscriber(router, RequestSignInCode, "recruitment_request_sign_in_code")
    async def on_request_sign_in_code(cmd: RequestSignInCode) -> None:
        await sign_in_codes.request_sign_in_code(rt, cmd)

    @subscriber(router, OpenMemberSessionByCode, "recruitment_open_member_session_by_code")
    async def on_open_session_by_code(cmd: OpenMemberSessionByCode) -> None:
        await sign_in_codes.open_member_session_by_code(rt, cmd)

    @subscriber(router, CloseMemberSession, "recruitment_close_member_session")
    async def on_close_session(cmd: CloseMemberSession) -> None:
        await self_service.close_member_session(rt, cmd)

    @answers(router, GetMyMembership, "recruitment")
    async def q_my_membership(q: GetMyMembership) -> MyMembership | None:
        return await self_service.get_my_membership(rt, q)

    @subscriber(router, ChangeMyDetails, "recruitment_change_my_details")
    async def on_change_details(cmd: ChangeMyDetails) -> None:
        await self_service.change_my_details(rt, cmd)

    @subscriber(router, ChangeMyPhone, "recruitment_change_my_phone")
    async def on_change_phone(cmd: ChangeMyPhone) -> None:
        await phone_change.change_my_phone(rt, cmd)

    @subscriber(router, ConfirmPhoneChange, "recruitment_confirm_phone_change")
    async def on_confirm_phone(cmd: ConfirmPhoneChange) -> None:
        await phone_change.confirm_phone_change(rt, cmd)

    @subscriber(router, ChangeMyEmail, "recruitment_change_my_email")
    async def on_change_email(cmd: ChangeMyEmail) -> None:
        await self_service.change_my_email(rt, cmd)

    @subscriber(router, ConfirmEmailChange, "recruitment_confirm_email_change")
    async def on_confirm_email(cmd: ConfirmEmailChange) -> None:
        await self_service.confirm_email_change(rt, cmd)

    @subscriber(router, PauseMembership, "recruitment_pause_membership")
    async def on_pause(cmd: PauseMembership) -> None:
        await self_service.pause_membership(rt, cmd)

    @subscriber(router, ResumeMembership, "recruitment_resume_membership")
    async def on_resume(cmd: ResumeMembership) -> None:
        await self_service.resume_membership(rt, cmd)

    @subscriber(router, EraseMyMembership, "recruitment_erase_my_membership")
    async def on_erase_mine(cmd: EraseMyMembership) -> None:
        await self_service.erase_my_membership(rt, cmd)
