-- name: doctor-waf-traffic
-- description: WAF log records per distribution (httpSourceId) and web ACL (webaclId), with how many the
-- description: web ACL blocked (or challenged) and the first and last record: which distributions the
-- description: doctor can check blocks and rate limits for. Read by `edgelake doctor`.
-- param: start timestamp = null Inclusive lower bound on the WAF record time (UTC).
-- param: end timestamp = null Exclusive upper bound on the WAF record time (UTC).
-- param: distribution text = null Only this distribution id (httpSourceId).
SELECT http_source_id AS distribution_id, webacl_id, count(*) AS records,
    count(*) FILTER (WHERE action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE')) AS terminated,
    min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM waf
WHERE ($start::TIMESTAMPTZ IS NULL OR timestamp >= $start::TIMESTAMPTZ)
  AND ($end::TIMESTAMPTZ IS NULL OR timestamp < $end::TIMESTAMPTZ)
  AND ($distribution::VARCHAR IS NULL OR http_source_id = $distribution::VARCHAR)
GROUP BY ALL
ORDER BY distribution_id NULLS LAST, webacl_id NULLS LAST;
