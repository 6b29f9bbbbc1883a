-- name: waf-rule-samples
-- description: Up to five requests a WAF rule matched, one per client (the first), so the samples show
-- description: different people rather than one client's retries; with the CloudFront status of the same
-- description: request where the cloudfront table has it. A rule of the web ACL itself has rule_group 'webacl'.
-- param: rule_group text Rule group id as WAF logs name it, or webacl.
-- param: rule_id text The rule's id (its name inside the group).
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id (the WAF log's http_source_id).
SELECT w.timestamp, w.client_ip, w.country, w.http_method AS method, w.uri, w.args,
    list_filter(w.headers, lambda h: lower(h.name) = 'user-agent')[1].value AS user_agent,
    w.action AS waf_action,
    (SELECT min(c.sc_status) FROM cloudfront c WHERE c.x_edge_request_id = w.request_id) AS cloudfront_status
FROM waf w
WHERE ($start IS NULL OR w.timestamp >= $start) AND ($end IS NULL OR w.timestamp < $end)
    AND ($distribution IS NULL OR w.http_source_id = $distribution)
    AND CASE WHEN $rule_group = 'webacl' THEN
            w.terminating_rule_id = $rule_id
            OR list_contains(list_transform(w.non_terminating_matching_rules, lambda r: r.rule_id), $rule_id)
        ELSE len(list_filter(w.rule_group_list, lambda g: g.rule_group_id = $rule_group AND (
            g.terminating_rule.rule_id = $rule_id
            OR list_contains(list_transform(g.non_terminating_matching_rules, lambda r: r.rule_id), $rule_id)
            OR list_contains(list_transform(g.excluded_rules, lambda e: e.rule_id), $rule_id)))) > 0
        END
QUALIFY row_number() OVER (PARTITION BY w.client_ip ORDER BY w.timestamp, w.request_id) = 1
ORDER BY w.timestamp, w.request_id LIMIT 5
