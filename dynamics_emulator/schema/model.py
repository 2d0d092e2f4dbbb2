"""Schema dataclasses plus compact constructors used by the entity modules."""

from __future__ import annotations

from dataclasses import dataclass, field

# AttributeType values whose storage is a GUID column plus a target-type column.
LOOKUP_KINDS = frozenset({"Lookup", "Customer", "Owner"})
TYPE_NAMES = {
    "String": "StringType", "Memo": "MemoType", "Integer": "IntegerType",
    "Decimal": "DecimalType", "Money": "MoneyType", "DateTime": "DateTimeType",
    "Boolean": "BooleanType", "Picklist": "PicklistType", "Virtual": "MultiSelectPicklistType",
    "Lookup": "LookupType", "Customer": "CustomerType", "Owner": "OwnerType",
    "State": "StateType", "Status": "StatusType", "Uniqueidentifier": "UniqueidentifierType",
    "BigInt": "BigIntType", "EntityName": "EntityNameType", "Double": "DoubleType",
}


@dataclass(frozen=True)
class Option:
    value: int
    en: str
    de: str
    state: int | None = None  # status options name the state they belong to
    default_status: int | None = None  # state options name their default status


@dataclass(frozen=True)
class Attr:
    name: str
    kind: str  # AttributeType (MultiSelect choices are "Virtual", as in the real metadata)
    en: str
    de: str
    max_length: int | None = None
    required: str = "None"
    create: bool = True
    update: bool = True
    read: bool = True
    options: tuple[Option, ...] = ()
    targets: tuple[str, ...] = ()
    date_behavior: str | None = None
    custom: bool = False
    true_label: tuple[str, str] = ("Yes", "Ja")
    false_label: tuple[str, str] = ("No", "Nein")
    # Navigation property when it is not the logical name (solution tables often keep the
    # schema name's case: msdynmkt_purposeid → msdynmkt_purposeId).
    nav: str | None = None

    @property
    def is_lookup(self) -> bool:
        return self.kind in LOOKUP_KINDS

    @property
    def is_multi(self) -> bool:
        return self.kind == "Virtual"

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.kind]

    def option(self, value: int) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class NavProp:
    """Single-valued navigation property of a lookup: `<nav>@odata.bind`, `$expand=<nav>`."""

    name: str
    attr: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class ManyToMany:
    """Collection navigation over an intersect table (listmember, systemuserroles, …)."""

    name: str
    table: str
    self_col: str
    other_col: str
    other: str
    other_type_col: str | None = None  # listmember.entityid is polymorphic


@dataclass
class Entity:
    name: str
    set_name: str
    primary_id: str
    primary_name: str
    otc: int
    en: str
    de: str
    schema_name: str
    attrs: dict[str, Attr] = field(default_factory=dict)
    is_activity: bool = False
    change_tracking: bool = True
    custom: bool = False
    ownership: str = "UserOwned"
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    many: dict[str, ManyToMany] = field(default_factory=dict)

    def attr(self, name: str) -> Attr | None:
        return self.attrs.get(name)

    def nav_props(self) -> dict[str, NavProp]:
        navs: dict[str, NavProp] = {}
        for a in self.attrs.values():
            if not a.is_lookup or a.name == self.primary_id:
                continue
            if a.name == "regardingobjectid":
                for t in a.targets:
                    nav = f"regardingobjectid_{t}_{self.name}"
                    navs[nav] = NavProp(nav, a.name, (t,))
            elif a.kind == "Customer":
                for t in a.targets:
                    navs[f"{a.name}_{t}"] = NavProp(f"{a.name}_{t}", a.name, (t,))
            else:
                name = a.nav or a.name
                navs[name] = NavProp(name, a.name, a.targets)
        return navs


def s(name: str, length: int, en: str, de: str, **kw: object) -> Attr:
    return Attr(name, "String", en, de, max_length=length, **kw)  # type: ignore[arg-type]


def memo(name: str, length: int, en: str, de: str, **kw: object) -> Attr:
    return Attr(name, "Memo", en, de, max_length=length, **kw)  # type: ignore[arg-type]


def a(name: str, kind: str, en: str, de: str, **kw: object) -> Attr:
    return Attr(name, kind, en, de, **kw)  # type: ignore[arg-type]


def ro(name: str, kind: str, en: str, de: str, **kw: object) -> Attr:
    """Read-only system column."""
    return Attr(name, kind, en, de, create=False, update=False, **kw)  # type: ignore[arg-type]


def opts(*items: tuple[int, str, str]) -> tuple[Option, ...]:
    return tuple(Option(v, en, de) for v, en, de in items)


def lookup(name: str, target: str, en: str, de: str, **kw: object) -> Attr:
    return Attr(name, "Lookup", en, de, targets=(target,), **kw)  # type: ignore[arg-type]


def state_attrs(states: list[tuple[int, str, str, int]],
                statuses: list[tuple[int, str, str, int]]) -> list[Attr]:
    """statecode/statuscode pair; states are (value, en, de, default status)."""
    st = tuple(Option(v, en, de, default_status=d) for v, en, de, d in states)
    su = tuple(Option(v, en, de, state=sv) for v, en, de, sv in statuses)
    return [
        Attr("statecode", "State", "Status", "Status", options=st, create=True,
             required="SystemRequired"),
        Attr("statuscode", "Status", "Status Reason", "Statusgrund", options=su),
    ]


ACTIVE_INACTIVE = state_attrs(
    [(0, "Active", "Aktiv", 1), (1, "Inactive", "Inaktiv", 2)],
    [(1, "Active", "Aktiv", 0), (2, "Inactive", "Inaktiv", 1)],
)


def system_attrs() -> list[Attr]:
    """Columns every table carries: audit stamps, row version, owner."""
    return [
        ro("createdon", "DateTime", "Created On", "Erstellt am", date_behavior="UserLocal"),
        ro("modifiedon", "DateTime", "Modified On", "Geändert am", date_behavior="UserLocal"),
        ro("createdby", "Lookup", "Created By", "Erstellt von", targets=("systemuser",)),
        ro("modifiedby", "Lookup", "Modified By", "Geändert von", targets=("systemuser",)),
        ro("versionnumber", "BigInt", "Version Number", "Versionsnummer"),
        a("overriddencreatedon", "DateTime", "Record Created On", "Datensatz erstellt am",
          update=False, date_behavior="UserLocal"),
    ]


def owner_attrs() -> list[Attr]:
    return [
        a("ownerid", "Owner", "Owner", "Besitzer", targets=("systemuser", "team"),
          required="SystemRequired"),
        ro("owningbusinessunit", "Lookup", "Owning Business Unit", "Besitzende Unternehmenseinheit",
           targets=("businessunit",)),
    ]


def entity(name: str, set_name: str, otc: int, en: str, de: str, schema_name: str,
           primary_id: str, primary_name: str, attrs: list[Attr], **kw: object) -> Entity:
    ent = Entity(name, set_name, primary_id, primary_name, otc, en, de, schema_name, **kw)  # type: ignore[arg-type]
    pk = Attr(primary_id, "Uniqueidentifier", en, de, update=False)
    for at in [pk, *attrs]:
        ent.attrs[at.name] = at
    return ent
