-- The 13 tables of the edgelake lake at s3://example-bucket/edgelake, as Delta Lake tables.
-- Preflight passed: Delta protocol reader 1 / writer 2 without table features, no unsigned integers,
-- timestamps stored as INT64 microseconds in UTC, lower-case column names, partition columns Athena accepts.
-- Each engine reads columns, types and partitions from the table's Delta log at query time: nothing
-- here changes when the lake gains rows, partitions or columns.
--
-- Amazon Athena (engine version 3) with the AWS Glue Data Catalog. A Delta table's CREATE statement
-- takes LOCATION and table_type only. Athena runs one statement per query: run them one at a time.

CREATE DATABASE IF NOT EXISTS `edgelake`;

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`behaviors`
LOCATION 's3://example-bucket/edgelake/behaviors/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`cache_policies`
LOCATION 's3://example-bucket/edgelake/cache_policies/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`cloudfront`
LOCATION 's3://example-bucket/edgelake/cloudfront/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`config_versions`
LOCATION 's3://example-bucket/edgelake/config_versions/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`distributions`
LOCATION 's3://example-bucket/edgelake/distributions/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`manifest`
LOCATION 's3://example-bucket/edgelake/manifest/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`origin_groups`
LOCATION 's3://example-bucket/edgelake/origin_groups/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`origins`
LOCATION 's3://example-bucket/edgelake/origins/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`realtime`
LOCATION 's3://example-bucket/edgelake/realtime/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`rejects`
LOCATION 's3://example-bucket/edgelake/rejects/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`rollup_minute`
LOCATION 's3://example-bucket/edgelake/rollup_minute/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`waf`
LOCATION 's3://example-bucket/edgelake/waf/'
TBLPROPERTIES ('table_type' = 'DELTA');

CREATE EXTERNAL TABLE IF NOT EXISTS `edgelake`.`web_acl_rules`
LOCATION 's3://example-bucket/edgelake/web_acl_rules/'
TBLPROPERTIES ('table_type' = 'DELTA');
