"""Tests of the insurance registry, the soap_xml transport and the insurance rules."""
