-- Table macro: classified_requests(log_name, t0, t1, dist)
-- Every row of resolved_requests with its failover `target` (the behavior's target, or the Host header
-- when the distribution has no ingested config) and, when the request is an origin failure, its failover
-- `category` (NULL otherwise; see sql/failover.sql for the definitions). The failures macro is its
-- failing rows; failover-episodes reads it once for both the failures and the traffic per minute
-- (reading failures and resolved_requests separately replayed the behaviors of every request twice:
-- ~13 of 33 s over 10M requests).
-- An origin failure: status >= 500, 429, or a code in the target group's failover criteria; not an
-- answer CloudFront made itself or a client abort (sql/views/edge_made.sql); not a request a WAF rule
-- ended (BLOCK, CAPTCHA, CHALLENGE). Only failing rows are looked up among the WAF-ended ids: the
-- others probe with a NULL id.
CREATE OR REPLACE MACRO classified_requests(log_name, t0, t1, dist) AS TABLE
WITH waf_ended AS (
    SELECT DISTINCT request_id FROM waf
    WHERE action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE') AND request_id IS NOT NULL
),
r AS (
    SELECT *,
        coalesce((status >= 500 OR status = 429 OR coalesce(list_contains(failover_status_codes, status), false))
                 AND NOT edge_generated(result_type, detailed_result_type)
                 AND NOT client_made(detailed_result_type), false) AS origin_failed
    FROM resolved_requests(log_name, t0, t1, dist)
),
checked AS (
    SELECT *,
        origin_failed AND NOT coalesce((CASE WHEN origin_failed THEN request_id END)
                                       IN (SELECT request_id FROM waf_ended), false) AS failed
    FROM r
)
SELECT distribution_id, CASE WHEN has_config THEN target ELSE host END AS target,
    CASE
        WHEN NOT failed THEN NULL
        WHEN NOT has_config THEN 'no_config'
        WHEN NOT coalesce(target_is_group, false) THEN 'no_group'
        WHEN method NOT IN ('GET', 'HEAD', 'OPTIONS') THEN 'gap_method'
        WHEN coalesce(list_contains(failover_status_codes, status), false) THEN 'eligible'
        ELSE 'gap_status'
    END AS category,
    status, method, timestamp, has_config,
    behavior, request_id, uri_stem, client_ip, result_type, detailed_result_type
FROM checked;
