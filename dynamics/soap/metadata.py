"""Metadata and privileges from Organization Service answers the WSDL subset leaves untyped.

RetrieveEntity's EntityMetadata and RetrieveUserPrivileges' RolePrivilege arrive as raw XML
(zeep returns the elements of types the shipped contracts do not model); they are read
here by local name, which is unique within these contracts.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from dynamics.metadata import AttributeInfo, OptionInfo


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _child(element: Any, name: str) -> Any:
    return next((c for c in element if _local(c) == name), None)


def _text(element: Any, name: str) -> str:
    found = _child(element, name) if element is not None else None
    return (found.text or "") if found is not None else ""


def _labels(element: Any) -> dict[int, str]:
    """LocalizedLabels of a Label element: {language code: text}."""
    out: dict[int, str] = {}
    if element is None:
        return out
    for label in element.iter():
        if _local(label) == "LocalizedLabel":
            code = _text(label, "LanguageCode")
            if code.isdigit():
                out[int(code)] = _text(label, "Label")
    return out


def _elements(value: Any) -> list[Any]:
    if hasattr(value, "_value_1"):  # a type declared with xs:any content
        value = value._value_1
    if isinstance(value, list):
        return [v for v in value if isinstance(v, etree._Element)]
    return [value] if isinstance(value, etree._Element) else []


def attributes_of(entity_metadata: Any) -> list[AttributeInfo]:
    """AttributeInfo for each AttributeMetadata of a RetrieveEntity answer."""
    out = []
    for element in _elements(entity_metadata):
        holder = element if _local(element) == "Attributes" else None
        if holder is None:
            continue
        for attr in holder:
            options = []
            option_set = _child(attr, "OptionSet")
            if option_set is not None:
                for option in option_set.iter():
                    if _local(option) in ("OptionMetadata", "StateOptionMetadata",
                                          "StatusOptionMetadata") and _text(option, "Value"):
                        options.append(OptionInfo(int(_text(option, "Value")),
                                                  _labels(_child(option, "Label"))))
            targets_el = _child(attr, "Targets")
            max_length = _text(attr, "MaxLength")
            type_name = _child(attr, "AttributeTypeName")
            out.append(AttributeInfo(
                logical_name=_text(attr, "LogicalName"),
                attribute_type=_text(attr, "AttributeType"),
                type_name=_text(type_name, "Value") if type_name is not None else "",
                labels=_labels(_child(attr, "DisplayName")),
                valid_for_update=_text(attr, "IsValidForUpdate") == "true",
                valid_for_create=_text(attr, "IsValidForCreate") == "true",
                required_level=_text(_child(attr, "RequiredLevel"), "Value") or "None",
                max_length=int(max_length) if max_length.isdigit() else None,
                targets=[t.text or "" for t in targets_el] if targets_el is not None else [],
                date_time_behavior=_text(_child(attr, "DateTimeBehavior"), "Value") or None,
                date_time_format=_text(attr, "Format") or None,
                options=options))
    return out


def role_privileges(value: Any) -> list[tuple[str, str]]:
    """(privilege id, depth) of each RolePrivilege of a RetrieveUserPrivileges answer."""
    out = []
    for element in _elements(value):
        for item in element.iter():
            if _local(item) == "RolePrivilege":
                out.append((_text(item, "PrivilegeId").lower(), _text(item, "Depth")))
    if not out:  # the array itself may be the list of RolePrivilege elements
        out = [(_text(e, "PrivilegeId").lower(), _text(e, "Depth"))
               for e in _elements(value) if _local(e) == "RolePrivilege"]
    return out
