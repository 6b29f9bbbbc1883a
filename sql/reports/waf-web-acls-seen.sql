-- name: waf-web-acls-seen
-- description: Which web ACLs the WAF logs show in the window, for which distributions, with how many
-- description: records: the rollout report picks its web ACL and distribution from these.
-- param: start timestamp = null Inclusive lower bound on the record time (UTC).
-- param: end timestamp = null Exclusive upper bound on the record time (UTC).
SELECT webacl_id, http_source_id, count(*) AS n
FROM waf
WHERE ($start IS NULL OR timestamp >= $start) AND ($end IS NULL OR timestamp < $end)
GROUP BY ALL ORDER BY ALL
