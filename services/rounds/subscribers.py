"""rounds' entry points on the bus: thin, each hands its message to a handler."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts.dispatch import MessageSent, SendMessage, SmsReceived
from contracts.feedback import FeedbackPublished
from contracts.membership import MemberBackgroundChanged, MemberPaused, MemberResumed
from contracts.panels import MemberPanelsChanged, PanelConfigured
from contracts.personal_data import PersonalData
from contracts.recruitment import MemberEnrolled, MemberErased, Outcome, PopulationChanged
from contracts.round_lifecycle import (
    ArchiveRound,
    ExtendRound,
    PublishResults,
    ResultsPublished,
    ReturnRound,
    ScheduleRound,
    SubmitRound,
)
from contracts.round_review import ApproveMethod, AskChanges, AskReview
from contracts.rounds import (
    AnswerTexts,
    ApproveRound,
    CloseRound,
    CreateRound,
    EditRound,
    EnterPaperAnswers,
    GetInvitation,
    GetMemberData,
    GetResults,
    GetRound,
    InvitationView,
    ListAnswerTexts,
    ListPolls,
    ListRounds,
    MemberForgotten,
    NoteOutreach,
    OpenRound,
    PollList,
    PreviewTarget,
    ResponseOutcome,
    RoundList,
    RoundOpened,
    RoundResults,
    RoundView,
    SaveDraft,
    SubmitPollAnswer,
    SubmitResponse,
    TagAnswerText,
    TargetPreview,
)
from contracts.rounds import RoundClosed as _RoundClosed
from contracts.topics import (
    AcceptTopic,
    DeclineTopic,
    GetTopic,
    ListTopics,
    PlanTopicRound,
    RequestTopic,
    TopicList,
    TopicView,
)
from infra.queries import answers
from infra.service import Runtime, subscriber
from services.rounds import (
    handlers,
    invitation_channels,
    lifecycle,
    paper,
    polls,
    population,
    review,
    sms,
    text_tags,
    topics,
)

PUBLISHES = (RoundOpened, _RoundClosed, ResultsPublished, MemberForgotten, SendMessage)
"""What this service publishes (through its outbox), for the AsyncAPI document."""


def build_router(rt: Runtime) -> NatsRouter:
    """Consumers and query responders of rounds, bound to this runtime."""
    router = NatsRouter()

    # Many at once: concurrent deliveries share one bulk write (see the handler).
    @subscriber(router, MemberEnrolled, "rounds_member_enrolled", batch_size=200, max_workers=32)
    async def on_member_enrolled(evt: MemberEnrolled) -> None:
        await handlers.member_enrolled(rt, evt)

    @subscriber(router, MemberPanelsChanged, "rounds_member_panels_changed")
    async def on_member_panels_changed(evt: MemberPanelsChanged) -> None:
        await handlers.member_panels_changed(rt, evt)

    @subscriber(router, PanelConfigured, "rounds_panel_configured")
    async def on_panel_configured(evt: PanelConfigured) -> None:
        await handlers.panel_configured(rt, evt)

    @subscriber(router, PopulationChanged, "rounds_population_changed")
    async def on_population_changed(evt: PopulationChanged) -> None:
        await population.population_changed(rt, evt)

    @subscriber(router, MemberErased, "rounds_member_erased")
    async def on_member_erased(evt: MemberErased) -> None:
        await handlers.member_erased(rt, evt)

    @subscriber(router, CreateRound, "rounds_create_round")
    async def on_create(cmd: CreateRound) -> None:
        await handlers.create_round(rt, cmd)

    @subscriber(router, ApproveRound, "rounds_approve_round")
    async def on_approve(cmd: ApproveRound) -> None:
        await handlers.approve_round(rt, cmd)

    @subscriber(router, EditRound, "rounds_edit_round")
    async def on_edit(cmd: EditRound) -> None:
        await lifecycle.edit_round(rt, cmd)

    @subscriber(router, SubmitRound, "rounds_submit_round")
    async def on_submit_round(cmd: SubmitRound) -> None:
        await lifecycle.submit_round(rt, cmd)

    @subscriber(router, ReturnRound, "rounds_return_round")
    async def on_return(cmd: ReturnRound) -> None:
        await lifecycle.return_round(rt, cmd)

    @subscriber(router, ScheduleRound, "rounds_schedule_round")
    async def on_schedule(cmd: ScheduleRound) -> None:
        await lifecycle.schedule_round(rt, cmd)

    @subscriber(router, ExtendRound, "rounds_extend_round")
    async def on_extend(cmd: ExtendRound) -> None:
        await lifecycle.extend_round(rt, cmd)

    @subscriber(router, PublishResults, "rounds_publish_results")
    async def on_publish_results(cmd: PublishResults) -> None:
        await lifecycle.publish_results(rt, cmd)

    @subscriber(router, ArchiveRound, "rounds_archive_round")
    async def on_archive(cmd: ArchiveRound) -> None:
        await lifecycle.archive_round(rt, cmd)

    @subscriber(router, OpenRound, "rounds_open_round")
    async def on_open(cmd: OpenRound) -> None:
        await handlers.open_round(rt, cmd)

    @subscriber(router, RoundOpened, "rounds_invite_panel", batch_size=1)
    async def on_opened(evt: RoundOpened) -> None:
        await handlers.invite_panel(rt, evt)

    @subscriber(router, NoteOutreach, "rounds_note_outreach")
    async def on_note_outreach(cmd: NoteOutreach) -> None:
        await handlers.note_outreach(rt, cmd)

    @subscriber(router, CloseRound, "rounds_close_round")
    async def on_close(cmd: CloseRound) -> None:
        await handlers.close_round(rt, cmd)

    # Many at once: the answer desk takes every submission waiting at a moment in one batch.
    @subscriber(router, SubmitResponse, "rounds_submit_response", batch_size=256, max_workers=256)
    async def on_submit(cmd: SubmitResponse) -> None:
        await handlers.submit_response(rt, cmd)

    @subscriber(router, FeedbackPublished, "rounds_notify_invitees", batch_size=1)
    async def on_feedback(evt: FeedbackPublished) -> None:
        await handlers.notify_invitees(rt, evt)

    @answers(router, ListRounds, "rounds")
    async def q_list(q: ListRounds) -> RoundList:
        return await handlers.list_rounds(rt, q)

    @answers(router, PreviewTarget, "rounds")
    async def q_preview(q: PreviewTarget) -> TargetPreview:
        return await handlers.preview_target(rt, q)

    @answers(router, GetRound, "rounds")
    async def q_round(q: GetRound) -> RoundView | None:
        return await handlers.get_round(rt, q)

    @answers(router, GetResults, "rounds")
    async def q_results(q: GetResults) -> RoundResults | None:
        return await handlers.get_results(rt, q)

    @subscriber(router, SaveDraft, "rounds_save_draft")
    async def on_draft(cmd: SaveDraft) -> None:
        await handlers.save_draft(rt, cmd)

    @subscriber(router, SmsReceived, "rounds_sms_received")
    async def on_sms(evt: SmsReceived) -> None:
        await sms.sms_received(rt, evt)

    @subscriber(router, EnterPaperAnswers, "rounds_enter_paper_answers")
    async def on_paper(cmd: EnterPaperAnswers) -> None:
        await paper.enter_paper_answers(rt, cmd)

    @subscriber(router, MessageSent, "rounds_message_sent", batch_size=100, max_workers=16)
    async def on_message_sent(evt: MessageSent) -> None:
        await invitation_channels.message_sent(rt, evt)

    @subscriber(router, TagAnswerText, "rounds_tag_answer_text")
    async def on_tag_text(cmd: TagAnswerText) -> None:
        await text_tags.tag_answer_text(rt, cmd)

    @subscriber(router, SubmitPollAnswer, "rounds_submit_poll_answer")
    async def on_poll_answer(cmd: SubmitPollAnswer) -> None:
        await polls.submit_poll_answer(rt, cmd)

    @answers(router, ListPolls, "rounds")
    async def q_polls(q: ListPolls) -> PollList:
        return await polls.list_polls(rt, q)

    @answers(router, ListAnswerTexts, "rounds")
    async def q_texts(q: ListAnswerTexts) -> AnswerTexts | None:
        return await handlers.list_answer_texts(rt, q)

    @answers(router, GetInvitation, "rounds", max_workers=256)
    async def q_invitation(q: GetInvitation) -> InvitationView | None:
        return await handlers.get_invitation(rt, q)

    @answers(router, GetMemberData, "rounds")
    async def q_member_data(q: GetMemberData) -> PersonalData:
        return await handlers.member_data(rt, q)

    @answers(router, ResponseOutcome, "rounds")
    async def q_outcome(q: ResponseOutcome) -> Outcome:
        return await handlers.response_outcome(rt, q)

    @subscriber(router, MemberBackgroundChanged, "rounds_member_background_changed")
    async def on_background_changed(evt: MemberBackgroundChanged) -> None:
        await handlers.member_background_changed(rt, evt)

    @subscriber(router, MemberPaused, "rounds_member_paused")
    async def on_paused(evt: MemberPaused) -> None:
        await handlers.member_paused(rt, evt)

    @subscriber(router, MemberResumed, "rounds_member_resumed")
    async def on_resumed(evt: MemberResumed) -> None:
        await handlers.member_resumed(rt, evt)

    # The methodology review before political approval (``review``).
    @subscriber(router, AskReview, "rounds_ask_review")
    async def on_ask_review(cmd: AskReview) -> None:
        await review.ask_review(rt, cmd)

    @subscriber(router, ApproveMethod, "rounds_approve_method")
    async def on_approve_method(cmd: ApproveMethod) -> None:
        await review.approve_method(rt, cmd)

    @subscriber(router, AskChanges, "rounds_ask_changes")
    async def on_ask_changes(cmd: AskChanges) -> None:
        await review.ask_changes(rt, cmd)

    # The topic backlog (``topics``).
    @subscriber(router, RequestTopic, "rounds_request_topic")
    async def on_request_topic(cmd: RequestTopic) -> None:
        await topics.request_topic(rt, cmd)

    @subscriber(router, AcceptTopic, "rounds_accept_topic")
    async def on_accept_topic(cmd: AcceptTopic) -> None:
        await topics.accept_topic(rt, cmd)

    @subscriber(router, DeclineTopic, "rounds_decline_topic")
    async def on_decline_topic(cmd: DeclineTopic) -> None:
        await topics.decline_topic(rt, cmd)

    @subscriber(router, PlanTopicRound, "rounds_plan_topic_round")
    async def on_plan_topic_round(cmd: PlanTopicRound) -> None:
        await topics.plan_topic_round(rt, cmd)

    @answers(router, ListTopics, "rounds")
    async def q_topics(q: ListTopics) -> TopicList:
        return await topics.list_topics(rt, q)

    @answers(router, GetTopic, "rounds")
    async def q_topic(q: GetTopic) -> TopicView | None:
        return await topics.get_topic(rt, q)

    return router
