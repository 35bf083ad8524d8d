"""`target-adobe-campaign-wizard`: Campaign schemas generated from Dynamics 365 tables.

Campaign Classic / v8's CRM connector has a wizard that reads the CRM's tables and creates the
matching Campaign schemas. This package does the same job as reviewable files:

- `d365`: reads a table's metadata (EntityDefinitions, Attributes, option sets) through
  `dataverse_client`;
- `mapping`: maps each column to a Campaign field the way Adobe's connector types them, and
  lists the columns it cannot map;
- `render`: the v8 source schema (`xtk:srcSchema`), the Standard custom resource's field list,
  the target's config (`resources`, `enumerations`, `stream_maps`) and a report, all
  deterministic (the same metadata gives the same bytes);
- `apply`: writes and builds the source schemas on a v8 instance (`--apply`);
- `cli`: the command line.
"""
