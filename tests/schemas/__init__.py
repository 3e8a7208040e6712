"""Validators for the export tests: the official schemas copied here, and in-toto's rules.

SARIF 2.1.0 (draft-04) and OpenLineage 2-0-2 (draft 2020-12) are checked with
`jsonschema` against the copies in this folder only: every `$ref` resolves in a
local `referencing.Registry`, and nothing is fetched. Formats are checked too:
`uri`, `uri-reference` and `date-time` by the strict RFC 3986 / RFC 3339
checks below (jsonschema skips them unless optional packages are installed),
`uuid` by jsonschema's own check.

in-toto has no official JSON schema; `intoto_problems` checks the documented
rules of the Statement v1, ResourceDescriptor, DigestSet and SLSA provenance v1
predicate, citing each:

- https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
- https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md
- https://github.com/in-toto/attestation/blob/main/spec/v1/digest_set.md
- https://github.com/in-toto/attestation/blob/main/spec/v1/field_types.md (TypeURI, Timestamp)
- https://slsa.dev/spec/v1.0/provenance (buildDefinition, runDetails)
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent

# RFC 3986 appendix A, as regular expressions.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_HOST = rf"(?:\[[0-9A-Fa-f:.vV]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"
_AUTHORITY = rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?{_HOST}(?::[0-9]*)?"
_SEGMENT = rf"{_PCHAR}*"
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = rf"/(?:{_PCHAR}+(?:/{_SEGMENT})*)?"
_PATH_ROOTLESS = rf"{_PCHAR}+(?:/{_SEGMENT})*"
_PATH_NOSCHEME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})+(?:/{_SEGMENT})*"
_TAIL = rf"(?:\?{_QUERY})?(?:#{_QUERY})?"
_URI = (
    rf"[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS}|){_TAIL}"
)
_RELATIVE_REF = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME}|){_TAIL}"
URI = re.compile(_URI)
URI_REFERENCE = re.compile(rf"(?:{_URI}|{_RELATIVE_REF})")
# RFC 3339 §5.6 date-time (ASCII digits only).
DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def is_uri(value: object) -> bool:
    return not isinstance(value, str) or URI.fullmatch(value) is not None


def is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or URI_REFERENCE.fullmatch(value) is not None


def is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = DATE_TIME.fullmatch(value)
    if match is None:
        return False
    try:
        datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}")
    except ValueError:
        return False
    return True


def format_checker() -> FormatChecker:
    """jsonschema's format checker with strict `uri`, `uri-reference` and `date-time`."""
    checker = FormatChecker()
    checker.checks("uri")(is_uri)
    checker.checks("uri-reference")(is_uri_reference)
    checker.checks("date-time")(is_date_time)
    return checker


def _load(*parts: str) -> Any:
    return json.loads((SCHEMAS.joinpath(*parts)).read_text(encoding="utf-8"))


@cache
def sarif_validator() -> Draft4Validator:
    """The OASIS SARIF 2.1.0 schema (errata01, draft-04)."""
    schema = _load("sarif", "sarif-schema-2.1.0.json")
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=format_checker())


_OPENLINEAGE_FILES = (
    ("openlineage", "OpenLineage.json"),
    ("openlineage", "TagsRunFacet.json"),
    ("ledgerd", "LedgerdRunFacet.json"),
    ("ledgerd", "LedgerdFileDatasetFacet.json"),
)


@cache
def openlineage_registry() -> Registry:
    """OpenLineage 2-0-2, its Tags run facet and ledgerd's own facets, by their `$id`."""
    registry: Registry = Registry()
    for parts in _OPENLINEAGE_FILES:
        schema = _load(*parts)
        Draft202012Validator.check_schema(schema)
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return registry.crawl()


def openlineage_validator(schema_url: str) -> Draft202012Validator:
    """A validator of whatever `schema_url` (an `$id` with a JSON pointer) names."""
    return Draft202012Validator(
        {"$ref": schema_url}, registry=openlineage_registry(), format_checker=format_checker()
    )


def openlineage_event_validator() -> Draft202012Validator:
    """The whole OpenLineage document schema (a RunEvent, DatasetEvent or JobEvent)."""
    schema = _load("openlineage", "OpenLineage.json")
    return Draft202012Validator(
        schema, registry=openlineage_registry(), format_checker=format_checker()
    )


# --- in-toto ----------------------------------------------------------------------------

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
_RESOURCE_FIELDS = {
    "name",
    "uri",
    "digest",
    "content",
    "downloadLocation",
    "mediaType",
    "annotations",
}
# digest_set.md: the standard algorithms, lowercase hex; git ids are 40 or 64 digits.
_HEX_LENGTHS = {
    "sha256": (64,),
    "sha224": (56,),
    "sha384": (96,),
    "sha512": (128,),
    "sha1": (40,),
    "md5": (32,),
    "gitCommit": (40, 64),
    "gitTree": (40, 64),
    "gitBlob": (40, 64),
    "gitTag": (40, 64),
}
_LOWER_HEX = re.compile(r"[0-9a-f]+")


def _resource_problems(where: str, item: object, *, digest_required: bool) -> list[str]:
    """resource_descriptor.md: one of uri/digest/content at least; digest_set.md values."""
    if not isinstance(item, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}: unknown field {k!r}" for k in item if k not in _RESOURCE_FIELDS]
    if not any(k in item for k in ("uri", "digest", "content")):
        problems.append(f"{where}: needs one of uri, digest, content")
    if digest_required and "digest" not in item:
        problems.append(f"{where}: a subject MUST have a digest")
    for key in ("uri", "downloadLocation"):
        if key in item and not (isinstance(item[key], str) and URI.fullmatch(item[key])):
            problems.append(f"{where}.{key}: not a URI")
    if "name" in item and not isinstance(item["name"], str):
        problems.append(f"{where}.name: not a string")
    if "annotations" in item and not isinstance(item["annotations"], dict):
        problems.append(f"{where}.annotations: not an object")
    if "digest" in item:
        problems += _digest_problems(f"{where}.digest", item["digest"])
    return problems


def _digest_problems(where: str, digest: object) -> list[str]:
    if not isinstance(digest, dict) or not digest:
        return [f"{where}: a DigestSet is a non-empty object"]
    problems = []
    for algorithm, value in digest.items():
        lengths = _HEX_LENGTHS.get(algorithm)
        if lengths is None:
            problems.append(f"{where}: unexpected algorithm {algorithm!r}")
        elif not (isinstance(value, str) and _LOWER_HEX.fullmatch(value) and len(value) in lengths):
            problems.append(f"{where}.{algorithm}: not {lengths} lowercase hex digits")
    return problems


def _object_problems(where: str, value: object, required: set[str], allowed: set[str]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}: missing {k!r}" for k in sorted(required - value.keys())]
    problems += [f"{where}: unknown field {k!r}" for k in sorted(value.keys() - allowed)]
    return problems


def _resources(where: str, value: object, *, digest_required: bool = False) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}: not a list"]
    problems = []
    for i, item in enumerate(value):
        problems += _resource_problems(f"{where}[{i}]", item, digest_required=digest_required)
    return problems


def intoto_problems(statement: object) -> list[str]:
    """Every rule of the in-toto Statement v1 + SLSA provenance v1 that `statement` breaks."""
    problems = _object_problems(
        "$",
        statement,
        {"_type", "subject", "predicateType"},
        {"_type", "subject", "predicateType", "predicate"},
    )
    if not isinstance(statement, dict):
        return problems
    if statement.get("_type") != STATEMENT_TYPE:
        problems.append("$._type: not the Statement v1 type")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        problems.append("$.subject: a non-empty list is required")
    else:
        problems += _resources("$.subject", subjects, digest_required=True)
        names = [s.get("name") for s in subjects if isinstance(s, dict) and "name" in s]
        if len(names) != len(set(names)):
            problems.append("$.subject: names SHOULD be unique")
    if statement.get("predicateType") != SLSA_PROVENANCE_V1:
        problems.append("$.predicateType: not SLSA provenance v1")
        return problems
    return problems + _provenance_problems(statement.get("predicate"))


def _provenance_problems(predicate: object) -> list[str]:
    problems = _object_problems(
        "$.predicate",
        predicate,
        {"buildDefinition", "runDetails"},
        {"buildDefinition", "runDetails"},
    )
    if not isinstance(predicate, dict):
        return problems
    build = predicate.get("buildDefinition")
    problems += _object_problems(
        "$.predicate.buildDefinition",
        build,
        {"buildType", "externalParameters"},
        {"buildType", "externalParameters", "internalParameters", "resolvedDependencies"},
    )
    if isinstance(build, dict):
        if not (isinstance(build.get("buildType"), str) and URI.fullmatch(build["buildType"])):
            problems.append("$.predicate.buildDefinition.buildType: not a TypeURI")
        for key in ("externalParameters", "internalParameters"):
            if key in build and not isinstance(build[key], dict):
                problems.append(f"$.predicate.buildDefinition.{key}: not an object")
        if "resolvedDependencies" in build:
            problems += _resources(
                "$.predicate.buildDefinition.resolvedDependencies", build["resolvedDependencies"]
            )
    details = predicate.get("runDetails")
    problems += _object_problems(
        "$.predicate.runDetails", details, {"builder"}, {"builder", "metadata", "byproducts"}
    )
    if isinstance(details, dict):
        problems += _run_details_problems(details)
    return problems


def _run_details_problems(details: dict[str, Any]) -> list[str]:
    builder = details.get("builder")
    problems = _object_problems(
        "$.predicate.runDetails.builder",
        builder,
        {"id"},
        {"id", "version", "builderDependencies"},
    )
    if isinstance(builder, dict) and not (
        isinstance(builder.get("id"), str) and URI.fullmatch(builder["id"])
    ):
        problems.append("$.predicate.runDetails.builder.id: not a TypeURI")
    if "metadata" in details:
        metadata = details["metadata"]
        allowed = {"invocationId", "startedOn", "finishedOn"}
        problems += _object_problems("$.predicate.runDetails.metadata", metadata, set(), allowed)
        if isinstance(metadata, dict):
            for key in ("startedOn", "finishedOn"):
                if key in metadata and not (
                    isinstance(metadata[key], str) and is_date_time(metadata[key])
                ):
                    problems.append(f"$.predicate.runDetails.metadata.{key}: not RFC 3339")
            if "invocationId" in metadata and not isinstance(metadata["invocationId"], str):
                problems.append("$.predicate.runDetails.metadata.invocationId: not a string")
    if "byproducts" in details:
        problems += _resources("$.predicate.runDetails.byproducts", details["byproducts"])
    return problems
