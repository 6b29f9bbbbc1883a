-- The 13 tables of the edgelake lake at s3://example-bucket/edgelake, as Delta Lake tables.
-- Preflight passed: Delta protocol reader 1 / writer 2 without table features, no unsigned integers,
-- timestamps stored as INT64 microseconds in UTC, lower-case column names, partition columns Athena accepts.
-- Each engine reads columns, types and partitions from the table's Delta log at query time: nothing
-- here changes when the lake gains rows, partitions or columns.
--
-- Apache Spark with delta-spark (the release matching the Spark version) and a Hive metastore or Glue.
-- The session needs delta-spark's extensions:
--   spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
--   spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
-- Open-source Hadoop reads S3 through the S3A connector (hadoop-aws, fs.s3a.* settings), hence
-- s3a:// locations; EMR and Databricks read them too.

CREATE DATABASE IF NOT EXISTS `edgelake`;

CREATE TABLE IF NOT EXISTS `edgelake`.`behaviors`
USING DELTA LOCATION 's3a://example-bucket/edgelake/behaviors';

CREATE TABLE IF NOT EXISTS `edgelake`.`cache_policies`
USING DELTA LOCATION 's3a://example-bucket/edgelake/cache_policies';

CREATE TABLE IF NOT EXISTS `edgelake`.`cloudfront`
USING DELTA LOCATION 's3a://example-bucket/edgelake/cloudfront';

CREATE TABLE IF NOT EXISTS `edgelake`.`config_versions`
USING DELTA LOCATION 's3a://example-bucket/edgelake/config_versions';

CREATE TABLE IF NOT EXISTS `edgelake`.`distributions`
USING DELTA LOCATION 's3a://example-bucket/edgelake/distributions';

CREATE TABLE IF NOT EXISTS `edgelake`.`manifest`
USING DELTA LOCATION 's3a://example-bucket/edgelake/manifest';

CREATE TABLE IF NOT EXISTS `edgelake`.`origin_groups`
USING DELTA LOCATION 's3a://example-bucket/edgelake/origin_groups';

CREATE TABLE IF NOT EXISTS `edgelake`.`origins`
USING DELTA LOCATION 's3a://example-bucket/edgelake/origins';

CREATE TABLE IF NOT EXISTS `edgelake`.`realtime`
USING DELTA LOCATION 's3a://example-bucket/edgelake/realtime';

CREATE TABLE IF NOT EXISTS `edgelake`.`rejects`
USING DELTA LOCATION 's3a://example-bucket/edgelake/rejects';

CREATE TABLE IF NOT EXISTS `edgelake`.`rollup_minute`
USING DELTA LOCATION 's3a://example-bucket/edgelake/rollup_minute';

CREATE TABLE IF NOT EXISTS `edgelake`.`waf`
USING DELTA LOCATION 's3a://example-bucket/edgelake/waf';

CREATE TABLE IF NOT EXISTS `edgelake`.`web_acl_rules`
USING DELTA LOCATION 's3a://example-bucket/edgelake/web_acl_rules';
