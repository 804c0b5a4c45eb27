"""What drf-spectacular does to the OpenAPI schema after generating it (``POSTPROCESSING_HOOKS``
in the settings).

``close_response_objects``: the objects the API answers with list every property they may
have (``additionalProperties: false``), so a field a response carries but the schema does not
declare fails schema validation (tests/api/test_schemathesis.py) instead of passing unseen.
Objects that are also sent in requests stay open: the API ignores unknown fields there.
"""

from collections.abc import Iterable
from typing import Any

COMPONENT_REF = "#/components/schemas/"
OPERATION_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def _referenced(node: Any, found: set[str]) -> None:
    """Add the names of the components ``node`` refers to (at any depth) to ``found``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENT_REF):
            found.add(ref.removeprefix(COMPONENT_REF))
        for value in node.values():
            _referenced(value, found)
    elif isinstance(node, list):
        for item in node:
            _referenced(item, found)


def reachable_components(roots: Iterable[Any], components: dict[str, Any]) -> set[str]:
    """The components ``roots`` refer to, directly or through other components."""
    found: set[str] = set()
    for root in roots:
        _referenced(root, found)
    pending = list(found)
    while pending:
        more: set[str] = set()
        _referenced(components.get(pending.pop(), {}), more)
        pending.extend(more - found)
        found |= more
    return found


def close_object(schema: Any) -> None:
    """``additionalProperties: false`` on ``schema`` and the inline objects within it, where it
    is an object with declared properties and says nothing of others (a free-form object, or
    one that says what else it may hold, keeps what it says)."""
    if not isinstance(schema, dict):
        return
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
    ):
        schema["additionalProperties"] = False
    for value in schema.get("properties", {}).values():
        close_object(value)
    for key in ("allOf", "oneOf", "anyOf"):
        for value in schema.get(key, []):
            close_object(value)
    close_object(schema.get("items"))


def operations(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in result.get("paths", {}).values()
        for method, operation in item.items()
        if method in OPERATION_METHODS
    ]


def close_response_objects(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Close every object that appears in responses only (see the module's docstring)."""
    components = result.get("components", {}).get("schemas", {})
    ops = operations(result)
    sent = reachable_components(
        [op.get("requestBody", {}) for op in ops] + [op.get("parameters", []) for op in ops],
        components,
    )
    answered = reachable_components([op.get("responses", {}) for op in ops], components)
    for name in sorted(answered - sent):
        close_object(components[name])
    for op in ops:
        for response in op.get("responses", {}).values():
            for media in response.get("content", {}).values():
                close_object(media.get("schema"))
    return result
