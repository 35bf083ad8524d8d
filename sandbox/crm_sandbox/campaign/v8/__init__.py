"""A Campaign v8 instance: the SOAP router as Adobe's JS SDK drives it, over the Campaign store.

Modules: `envelope` (SOAP in and out), `sessions` (logons, sessions, IMS bearer), `router` (the
route and the method table), `schemas` (GetEntityIfMoreRecent), `model` (the XTK view of the
store), `expr` (XTK expressions), `querydef` (ExecuteQuery), `writes` (Write, WriteCollection),
`enums` (`xtk:enum`), `srcschema` (source schemas and BuildSchemaFromId).
"""
