-- The 13 tables of the edgelake lake at s3://example-bucket/edgelake, as Delta Lake tables.
-- Preflight passed: Delta protocol reader 1 / writer 2 without table features, no unsigned integers,
-- timestamps stored as INT64 microseconds in UTC, lower-case column names, partition columns Athena accepts.
-- Each engine reads columns, types and partitions from the table's Delta log at query time: nothing
-- here changes when the lake gains rows, partitions or columns.
--
-- Trino, Delta Lake connector, catalog delta. register_table is off by default: the catalog's
-- properties file needs delta.register-table-procedure.enabled=true.
-- Trino reads Delta timestamps as timestamp(3) with time zone: millisecond precision, the
-- microseconds in the files are cut (two requests in the same millisecond compare equal there).
-- register_table refuses a name already registered; system.unregister_table removes one.

CREATE SCHEMA IF NOT EXISTS "delta"."edgelake";

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'behaviors',
  table_location => 's3://example-bucket/edgelake/behaviors');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'cache_policies',
  table_location => 's3://example-bucket/edgelake/cache_policies');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'cloudfront',
  table_location => 's3://example-bucket/edgelake/cloudfront');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'config_versions',
  table_location => 's3://example-bucket/edgelake/config_versions');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'distributions',
  table_location => 's3://example-bucket/edgelake/distributions');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'manifest',
  table_location => 's3://example-bucket/edgelake/manifest');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'origin_groups',
  table_location => 's3://example-bucket/edgelake/origin_groups');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'origins',
  table_location => 's3://example-bucket/edgelake/origins');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'realtime',
  table_location => 's3://example-bucket/edgelake/realtime');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'rejects',
  table_location => 's3://example-bucket/edgelake/rejects');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'rollup_minute',
  table_location => 's3://example-bucket/edgelake/rollup_minute');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'waf',
  table_location => 's3://example-bucket/edgelake/waf');

CALL "delta".system.register_table(
  schema_name => 'edgelake',
  table_name => 'web_acl_rules',
  table_location => 's3://example-bucket/edgelake/web_acl_rules');
