"""Every message class by owner, for stream set-up and the AsyncAPI documents."""

from __future__ import annotations

from contracts import (
    campaigns,
    contacts,
    dispatch,
    feedback,
    membership,
    panels,
    recruitment,
    rounds,
)
from contracts.envelope import Envelope

OWNERS = ("recruitment", "rounds", "dispatch", "feedback")

MESSAGES: tuple[type[Envelope], ...] = (
    recruitment.RegisterTenant,
    recruitment.EnrolMember,
    recruitment.ImportMember,
    recruitment.ImportMembers,
    recruitment.ConfirmMembership,
    recruitment.ContactRecorded,
    recruitment.MemberEnrolled,
    recruitment.LeavePanel,
    recruitment.EraseMember,
    recruitment.MemberErased,
    recruitment.GetErasure,
    recruitment.GetMemberData,
    recruitment.SetPopulation,
    recruitment.GetRepresentativeness,
    recruitment.GetPanelHistory,
    recruitment.GetRepresentativenessHistory,
    recruitment.ListTenants,
    recruitment.MembershipOutcome,
    recruitment.GetSignUp,
    recruitment.GetImport,
    panels.ConfigurePanel,
    panels.PanelConfigured,
    panels.GetPanel,
    panels.RenewMembership,
    campaigns.CreateCampaign,
    campaigns.ImportRegister,
    campaigns.FinishRegister,
    campaigns.DrawSample,
    campaigns.CloseCampaign,
    campaigns.RedeemInvitation,
    campaigns.GetCampaign,
    campaigns.ListCampaigns,
    campaigns.GetRegisterRejections,
    campaigns.GetLetters,
    campaigns.GetInvitationCode,
    campaigns.StartOpenCampaign,
    campaigns.ListOpenCampaigns,
    rounds.CreateRound,
    rounds.ApproveRound,
    rounds.OpenRound,
    rounds.CloseRound,
    rounds.NoteOutreach,
    rounds.SubmitResponse,
    rounds.RoundOpened,
    rounds.RoundClosed,
    rounds.MemberForgotten,
    rounds.ListRounds,
    rounds.GetRound,
    rounds.GetResults,
    rounds.GetInvitation,
    rounds.ResponseOutcome,
    rounds.GetMemberData,
    dispatch.SendMessage,
    dispatch.MessageSent,
    dispatch.ContactForgotten,
    dispatch.GetMemberData,
    feedback.PublishFeedback,
    feedback.FeedbackPublished,
    feedback.ListPublished,
    membership.RequestSignIn,
    membership.OpenMemberSession,
    membership.RequestSignInCode,
    membership.OpenMemberSessionByCode,
    membership.CloseMemberSession,
    membership.GetMyMembership,
    membership.ChangeMyDetails,
    membership.ChangeMyEmail,
    membership.ConfirmEmailChange,
    membership.PauseMembership,
    membership.ResumeMembership,
    membership.EraseMyMembership,
    membership.MemberBackgroundChanged,
    membership.MemberPaused,
    membership.MemberResumed,
    contacts.ListInvalidContacts,
)


def by_subject_name(owner: str, kind: str, name: str) -> type[Envelope] | None:
    """The message class for a subject's owner, kind and name tokens."""
    for cls in MESSAGES:
        if (cls.owner, cls.kind, cls.name) == (owner, kind, name):
            return cls
    return None
