"""v8_schema: queryDef values in the planner's form (no Campaign call)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from target_adobe_campaign.payload import same_value
from target_adobe_campaign.v8_schema import SchemaInfo

SCHEMA = """
<schema namespace="cus" name="account">
  <enumeration name="cusIndustrycode" basetype="long">
    <value name="accounting" value="1"/><value name="retail" value="19"/>
  </enumeration>
  <enumeration name="cusTier" basetype="string">
    <value name="gold" value="G"/>
  </enumeration>
  <element name="account">
    <attribute name="cusIndustrycode" type="long" enum="cusIndustrycode"/>
    <attribute name="cusTier" type="string" enum="cusTier"/>
  </element>
</schema>
"""


def test_an_unset_enumerated_attribute_reads_as_null_so_a_null_value_is_unchanged() -> None:
    """Campaign renders a null enumerated long as 0 (a string one as ""), which is no value of
    the enumeration: a record's null there must not be an update on every run."""
    schema = SchemaInfo.parse("cus:account", ET.fromstring(SCHEMA))
    assert schema.current("cusIndustrycode", "0") is None
    assert schema.current("cusTier", "") is None
    assert same_value(None, schema.current("cusIndustrycode", "0"))
    assert schema.current("cusIndustrycode", "19") == "retail"
    assert schema.current("cusTier", "G") == "gold"
    assert not same_value("accounting", schema.current("cusIndustrycode", "0"))
