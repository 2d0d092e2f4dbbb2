"""The syncjobs app's models: background runs (``jobs``), what the sync engine remembers
between runs (``sync``) and what the lists step remembers (``lists``)."""

from syncjobs.models.alerts import Incident, IncidentKind
from syncjobs.models.jobs import JobKind, JobLogLine, JobRun, JobStatus, Trigger
from syncjobs.models.lists import (
    CrmList,
    ListLink,
    ListLinkState,
    ListMemberSnapshot,
)
from syncjobs.models.privacy import ErasurePropagation, PropagationState
from syncjobs.models.sync import (
    AttemptOutcome,
    CampaignExport,
    IssueState,
    LinkOrigin,
    LinkState,
    ReactionExport,
    ReactionExportState,
    RecordLink,
    SyncCursor,
    SyncIssue,
    SyncIssueAttempt,
    SyncStatus,
)

__all__ = [
    "AttemptOutcome", "CampaignExport", "CrmList", "ErasurePropagation", "Incident",
    "IncidentKind", "IssueState", "JobKind", "JobLogLine", "JobRun", "JobStatus", "LinkOrigin",
    "LinkState", "ListLink", "ListLinkState", "ListMemberSnapshot", "PropagationState",
    "ReactionExport", "ReactionExportState", "RecordLink", "SyncCursor", "SyncIssue",
    "SyncIssueAttempt", "SyncStatus", "Trigger",
]
