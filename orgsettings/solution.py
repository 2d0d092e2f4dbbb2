"""What the connector needs in a CRM, as `docs/crm-solution.md` defines it (C9, C15).

The integration check compares a CRM against these tables; the sync engine relies on them.
"""

from __future__ import annotations

MAILWORX_CHANNEL = 100000000  # campaignactivity.channeltypecode "mailworx campaign"
ROLE_USER = "mailworx User"
ROLE_ADMINISTRATOR = "mailworx Administrator"
ROLES = (ROLE_USER, ROLE_ADMINISTRATOR)

# entity → attributes the connector reads or writes there.
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "contact": ("emailaddress1", "donotbulkemail", "statecode", "statuscode", "modifiedon",
                "mwx_subscriberid"),
    "account": ("emailaddress1", "donotbulkemail", "statecode", "statuscode", "modifiedon",
                "mwx_subscriberid"),
    "lead": ("emailaddress1", "donotbulkemail", "statecode", "statuscode", "modifiedon",
             "mwx_subscriberid"),
    "list": ("listname", "createdfromcode", "mwx_syncwithmailworx", "mwx_mailworxgroupid",
             "mwx_lastsyncon"),
    "campaign": ("name", "mwx_opens", "mwx_clicks", "mwx_bounces", "mwx_openrate",
                 "mwx_clickrate", "mwx_figuresmode", "mwx_figuresupdatedon"),
    "campaignactivity": ("subject", "channeltypecode", "mwx_distributionrequested",
                         "mwx_takenoveron", "mwx_mailworxcampaignid"),
    "mwx_emailreaction": ("subject", "regardingobjectid", "mwx_campaignid", "mwx_reactionkey",
                          "mwx_emailaddress", "mwx_opens", "mwx_clicks", "mwx_bounces",
                          "mwx_bouncetype", "mwx_firstoccurredon", "mwx_lastoccurredon",
                          "mwx_clickedurls"),
}

# The privileges of the "mailworx User" role: the least the connector's account needs.
REQUIRED_PRIVILEGES: tuple[str, ...] = tuple(
    [f"prv{verb}{entity}" for entity in ("Contact", "Account", "Lead")
     for verb in ("Create", "Read", "Write", "Append", "AppendTo")]
    + [f"prv{verb}List" for verb in ("Read", "Write", "Append", "AppendTo")]
    + ["prvCreateListMember", "prvReadListMember"]
    + [f"prv{verb}{entity}" for entity in ("Campaign", "CampaignActivity")
       for verb in ("Read", "Write")]
    + [f"prv{verb}mwx_emailreaction" for verb in ("Create", "Read", "Write", "Append")]
    + [f"prvRead{entity}" for entity in ("User", "Team", "BusinessUnit", "Role")]
)

# Tables whose changes a sync reads; without change tracking it falls back to modifiedon.
TRACKED_TABLES = ("contact", "account", "lead", "list", "listmember")
BULK_TABLES = ("contact", "account", "lead", "mwx_emailreaction")
