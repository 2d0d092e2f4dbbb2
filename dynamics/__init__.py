"""Dataverse (Dynamics 365 / CRM) Web API client. Plain Python: no Django here."""

from dynamics.accounting import RequestLog, RequestRecord, RequestTotals
from dynamics.batch import BatchOperation, OperationResult, Transaction
from dynamics.capabilities import Capabilities
from dynamics.changes import ChangeSet
from dynamics.client import DataverseClient, ProbeResult
from dynamics.clock import Clock, FakeClock, SystemClock
from dynamics.connection import AppUser, Connection, Deployment
from dynamics.metadata import AttributeInfo, OptionInfo
from dynamics.outbound import OutboundPolicy
from dynamics.security import Principal, Privilege, WhoAmI

__all__ = [
    "AppUser", "AttributeInfo", "BatchOperation", "Capabilities", "ChangeSet", "Clock",
    "Connection", "DataverseClient", "Deployment", "FakeClock", "OperationResult", "OptionInfo",
    "OutboundPolicy", "Principal", "Privilege", "ProbeResult", "RequestLog", "RequestRecord",
    "RequestTotals", "SystemClock", "Transaction", "WhoAmI",
]
