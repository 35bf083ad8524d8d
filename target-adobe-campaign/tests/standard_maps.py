"""Routing + stream maps that turn the SDK's standard target test streams into profiles.

Campaign refuses fields a resource does not have, so each test stream is mapped onto profile
fields (its id into `externalId`, one value into a name field) before it reaches the target.
"""

from __future__ import annotations

STANDARD_STREAM_MAPS: dict[str, dict[str, str | list[str] | None]] = {
    "test_array_data": {"externalId": "'array-' + str(id)", "lastName": "','.join(fruits)"},
    "TestCamelcase": {"externalId": "'camel-' + Id", "lastName": "clientName"},
    "ForecastingTypeToCategory": {"externalId": "'forecast-' + Id"},
    "test_duplicate_records": {"externalId": "'dup-' + str(id)", "lastName": "str(metric)"},
    "test_strings": {"externalId": "'str-' + str(id)", "lastName": "info[:50]"},
    "test_strings_in_objects": {
        "externalId": "'strobj-' + str(id)",
        "lastName": "info['value'][:50]",
    },
    "test_strings_in_arrays": {
        "externalId": "'strarr-' + str(id)",
        "lastName": "' '.join(strings)[:50]",
    },
    "test_invalid_schema": {},
    "test_no_pk": {"externalId": "'nopk-' + str(id)", "lastName": "str(metric)"},
    "test_optional_attributes": {
        "externalId": "'opt-' + str(id)",
        "lastName": "optional if 'optional' in record else ''",
    },
    "example_stream": {"externalId": "'pk-' + str(id)", "lastName": "name", "email": "email"},
    "test_record_before_schema": {"externalId": "'rbs-' + str(id)"},
    "test_object_schema_with_properties": {
        "externalId": "'obj-' + str(object_store['id'])",
        "lastName": "str(object_store['metric'])",
    },
    "test_object_schema_no_properties": {
        "externalId": "'objnp-' + str(object_store['id'])",
        "lastName": "str(object_store['metric'])",
    },
    "test_schema_updates": {"externalId": "'schema-' + str(id)", "lastName": "a2"},
    "test:SpecialChars!in?attributes": {"externalId": "'special-' + _id", "lastName": "d['env']"},
    "record_missing_fields": {
        "externalId": "'missing-' + str(id)",
        "lastName": "optional if 'optional' in record else ''",
    },
}
#: Streams whose test expects the SDK to refuse the input before any mapping applies.
UNMAPPED = ("test_record_missing_key_property",)


def standard_config() -> tuple[dict, dict]:
    """Return (resources, stream_maps) for the standard target tests."""
    stream_maps: dict[str, dict] = {
        stream: {**expressions, "__key_properties__": ["externalId"], "__else__": None}
        for stream, expressions in STANDARD_STREAM_MAPS.items()
    }
    stream_maps["test_invalid_schema"] = {}
    streams = [*STANDARD_STREAM_MAPS, *UNMAPPED]
    resources = {stream: {"resource": "profile"} for stream in streams}
    return resources, stream_maps
