"""Dataverse error responses: `{"error": {"code": "<hex>", "message": "..."}}` + HTTP status."""

from __future__ import annotations

# Codes as the Web API returns them (see Microsoft's Web API client error reference).
PROPERTY_NOT_FOUND = "0x0"
RESOURCE_NOT_FOUND = "0x8006088a"
OBJECT_DOES_NOT_EXIST = "0x80040217"
VALIDATION_MAX_LENGTH = "0x80044331"
DUPLICATE_KEY = "0x80040237"
EXPIRED_VERSION_STAMP = "0x80044352"
REQUESTS_LIMIT = "0x80072322"
EXECUTION_TIME_LIMIT = "0x80072321"
CONCURRENCY_LIMIT = "0x80072326"
BAD_REQUEST = "0x80060888"
# Metadata writes (Microsoft's "Web service error codes" list: name, then code).
INVALID_METADATA = "0x8004023a"  # InvalidMetadata
DUPLICATE_NAME = "0x80047010"  # DuplicateName
DUPLICATE_ATTRIBUTE = "0x80060304"  # DuplicateAttributePhysicalName
DUPLICATE_PRIMARY_NAME = "0x8004701e"  # DuplicatePrimaryNameAttribute
INVALID_NAME_PREFIX = "0x80044366"  # InvalidNamePrefix
INVALID_PRIMARY_FIELD_TYPE = "0x8004700e"  # InvalidPrimaryFieldType
INVALID_PRIMARY_FIELD_FOR_ACTIVITY = "0x8004f127"  # InvalidPrimaryFieldForActivity
INVALID_OWNERSHIP = "0x8004700d"  # InvalidOwnershipTypeMask
ENTITY_KEY_NAME_EXISTS = "0x80060893"  # EntityKeyNameExists
ENTITY_KEY_ATTRIBUTES_EXIST = "0x80060894"  # EntityKeyWithSelectedAttributesExists
ENTITY_KEY_NOT_DEFINED = "0x80060890"  # EntityKeyNotDefined


class DataverseError(Exception):
    """An error the emulated Web API answers with; rendered as Dataverse's JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Keep the HTTP status, the hex code, the message and any extra response headers."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        """Return the JSON body Dataverse sends for this error."""
        return {"error": {"code": self.code, "message": self.message}}
