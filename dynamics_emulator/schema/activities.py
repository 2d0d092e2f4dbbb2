"""The standard task activity and the system-job tables BulkDelete writes.

task: docs/dataverse-webapi.md §Tasks; asyncoperation and bulkdeleteoperation:
§Bulk delete. Only the columns those sections name (plus the usual audit/owner columns).
"""

from __future__ import annotations

from dynamics_emulator.schema.model import (
    Entity,
    a,
    entity,
    lookup,
    memo,
    opts,
    owner_attrs,
    ro,
    s,
    state_attrs,
    system_attrs,
)

# Tables a task can be regarding in this emulator (the real list is much longer).
TASK_REGARDING = ("account", "contact", "lead", "campaign", "list")
BULK_DELETE_OPERATION_TYPE = 13

# asyncoperation / bulkdeleteoperation share states and status reasons.
_JOB_STATES = (
    [(0, "Ready", "Bereit", 0), (1, "Suspended", "Angehalten", 10),
     (2, "Locked", "Gesperrt", 20), (3, "Completed", "Abgeschlossen", 30)],
    [(0, "Waiting For Resources", "Warten auf Ressourcen", 0),
     (10, "Waiting", "Warten", 1), (20, "In Progress", "In Bearbeitung", 2),
     (21, "Pausing", "Wird angehalten", 2), (22, "Canceling", "Wird abgebrochen", 2),
     (30, "Succeeded", "Erfolgreich", 3), (31, "Failed", "Fehler", 3),
     (32, "Canceled", "Abgebrochen", 3)],
)


def task() -> Entity:
    states = state_attrs(
        [(0, "Open", "Offen", 2), (1, "Completed", "Abgeschlossen", 5),
         (2, "Canceled", "Abgebrochen", 6)],
        [(2, "Not Started", "Nicht gestartet", 0), (3, "In Progress", "In Bearbeitung", 0),
         (4, "Waiting on someone else", "Wartet auf andere Person", 0),
         (7, "Deferred", "Zurückgestellt", 0), (5, "Completed", "Abgeschlossen", 1),
         (6, "Canceled", "Abgebrochen", 2)],
    )
    attrs = [
        s("subject", 200, "Subject", "Betreff", required="ApplicationRequired"),
        memo("description", 2000, "Description", "Beschreibung"),
        a("regardingobjectid", "Lookup", "Regarding", "Bezug", targets=TASK_REGARDING),
        a("scheduledstart", "DateTime", "Start Date", "Startdatum", date_behavior="UserLocal"),
        a("scheduledend", "DateTime", "Due Date", "Fälligkeitsdatum",
          date_behavior="UserLocal"),
        a("actualstart", "DateTime", "Actual Start", "Tatsächlicher Beginn",
          date_behavior="UserLocal"),
        a("actualend", "DateTime", "Actual End", "Tatsächliches Ende",
          date_behavior="UserLocal"),
        a("actualdurationminutes", "Integer", "Duration", "Dauer"),
        a("percentcomplete", "Integer", "Percent Complete", "Prozent abgeschlossen"),
        a("prioritycode", "Picklist", "Priority", "Priorität",
          options=opts((0, "Low", "Niedrig"), (1, "Normal", "Normal"), (2, "High", "Hoch"))),
        s("category", 250, "Category", "Kategorie"),
        s("subcategory", 250, "Sub-Category", "Unterkategorie"),
        ro("activitytypecode", "EntityName", "Activity Type", "Aktivitätstyp"),
        *states, *owner_attrs(), *system_attrs(),
    ]
    return entity("task", "tasks", 4212, "Task", "Aufgabe", "Task", "activityid", "subject",
                  attrs, is_activity=True)


def async_operation() -> Entity:
    attrs = [
        ro("name", "String", "System Job Name", "Name des Systemauftrags", max_length=500),
        ro("operationtype", "Picklist", "System Job Type", "Systemauftragstyp",
           options=opts((BULK_DELETE_OPERATION_TYPE, "Bulk Delete", "Massenlöschung"))),
        ro("messagename", "String", "Message Name", "Meldungsname", max_length=160),
        ro("startedon", "DateTime", "Started On", "Begonnen am", date_behavior="UserLocal"),
        ro("completedon", "DateTime", "Completed On", "Abgeschlossen am",
           date_behavior="UserLocal"),
        ro("postponeuntil", "DateTime", "Postpone Until", "Zurückstellen bis",
           date_behavior="UserLocal"),
        ro("recurrencepattern", "String", "Recurrence Pattern", "Serienmuster", max_length=256),
        ro("message", "Memo", "Message", "Meldung", max_length=1073741823),
        ro("friendlymessage", "Memo", "Friendly message", "Meldung", max_length=1073741823),
        *state_attrs(*_JOB_STATES), *owner_attrs(), *system_attrs(),
    ]
    return entity("asyncoperation", "asyncoperations", 4700, "System Job", "Systemauftrag",
                  "AsyncOperation", "asyncoperationid", "name", attrs)


def bulk_delete_operation() -> Entity:
    attrs = [
        ro("name", "String", "Name", "Name", max_length=256),
        lookup("asyncoperationid", "asyncoperation", "System Job", "Systemauftrag",
               create=False, update=False),
        ro("successcount", "Integer", "Success Count", "Anzahl erfolgreicher Vorgänge"),
        ro("failurecount", "Integer", "Failure Count", "Anzahl fehlerhafter Vorgänge"),
        ro("isrecurring", "Boolean", "Is Recurring", "Ist wiederkehrend"),
        ro("nextrun", "DateTime", "Next Run", "Nächste Ausführung", date_behavior="UserLocal"),
        ro("orderedquerysetxml", "Memo", "Query", "Abfrage", max_length=1073741823),
        *state_attrs(*_JOB_STATES), *owner_attrs(), *system_attrs(),
    ]
    return entity("bulkdeleteoperation", "bulkdeleteoperations", 4424, "Bulk Delete Operation",
                  "Massenlöschvorgang", "BulkDeleteOperation", "bulkdeleteoperationid", "name",
                  attrs)
