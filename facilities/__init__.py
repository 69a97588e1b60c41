"""Facility lookup (公厕查询): nearest public toilets and other mapped city components."""
