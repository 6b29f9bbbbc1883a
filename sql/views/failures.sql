-- Table macro: failures(log_name, t0, t1, dist)
-- The origin failures among resolved_requests, each with its failover category (see sql/failover.sql
-- for the definitions). Shared by the failover and failover-episodes queries, the incident report and
-- the doctor (which also reads the behavior, the request and its result types).
CREATE OR REPLACE MACRO failures(log_name, t0, t1, dist) AS TABLE
WITH waf_ended AS (
    SELECT DISTINCT request_id FROM waf
    WHERE action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE') AND request_id IS NOT NULL
),
r AS (
    SELECT * FROM resolved_requests(log_name, t0, t1, dist)
    WHERE (status >= 500 OR status = 429 OR coalesce(list_contains(failover_status_codes, status), false))
      AND NOT edge_generated(result_type, detailed_result_type)  -- sql/views/edge_made.sql
      AND NOT client_made(detailed_result_type)
      AND (request_id IS NULL OR request_id NOT IN (SELECT request_id FROM waf_ended))
)
SELECT distribution_id, CASE WHEN has_config THEN target ELSE host END AS target,
    CASE
        WHEN NOT has_config THEN 'no_config'
        WHEN NOT coalesce(target_is_group, false) THEN 'no_group'
        WHEN method NOT IN ('GET', 'HEAD', 'OPTIONS') THEN 'gap_method'
        WHEN coalesce(list_contains(failover_status_codes, status), false) THEN 'eligible'
        ELSE 'gap_status'
    END AS category,
    status, method, timestamp, has_config,
    behavior, request_id, uri_stem, client_ip, result_type, detailed_result_type
FROM r;
