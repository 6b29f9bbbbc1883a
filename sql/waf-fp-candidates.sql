-- name: waf-fp-candidates
-- description: WAF rules that counted requests they would have blocked (Count-to-Block rollouts), one
-- description: row per rule and match kind, with evidence about who the matched requests came from,
-- description: how the CloudFront log says they were answered, an fp_score in [0, 1] (higher = more
-- description: likely to hit legitimate users), the reasons behind it and a verdict. Rules that
-- description: terminated requests with BLOCK are listed too, as context (verdict already_blocking).
-- param: start timestamp = null Inclusive lower bound on the WAF record time (UTC).
-- param: end timestamp = null Exclusive upper bound on the WAF record time (UTC).
-- param: distribution text = null Only WAF records of this distribution id (httpSourceId).
-- param: top int = 5 How many entries top_uris, co_rules and sample_matched_data list.
--
-- Match kinds (a "match" is one WAF record; rule_group is the ruleGroupId, or 'webacl' for web-ACL rules):
--   rule_override  ruleGroupList[].nonTerminatingMatchingRules[] with action COUNT and overriddenAction
--                  BLOCK, CAPTCHA or CHALLENGE (a RuleActionOverride to Count); would_be_action is the
--                  overriddenAction. COUNT entries without overriddenAction count by design: not listed.
--   webacl_count   top-level nonTerminatingMatchingRules[] with action COUNT. The log does not say what
--                  the rule would do, so would_be_action is, in this order: the entry's overriddenAction
--                  when logged; else, when an ingested web ACL (web_acl_rules, joined on web_acl_arn =
--                  webaclId and rule_name = ruleId) has the rule: nothing if the rule references a rule
--                  group (its counted matches are the group_count rows), BLOCK if its configured action
--                  is Count (a rule in Count is what a rollout flips to Block), else its configured action
--                  (only blocking actions are listed); else BLOCK (assumed). Without a web ACL, the
--                  web-ACL rule that references a group overridden to Count shows up here as well.
--   group_count    a ruleGroupList[] entry whose terminatingRule has action BLOCK but which did not end
--                  evaluation: the group runs with OverrideAction Count. The group that ended
--                  evaluation is, when terminatingRuleType is GROUP or MANAGED_RULE_GROUP, the last
--                  entry in the list whose terminatingRule action equals the record's action.
--   excluded       ruleGroupList[].excludedRules[] with exclusionType EXCLUDED_AS_COUNT (legacy
--                  ExcludedRules); would_be_action BLOCK (assumed: the log does not say).
--   terminating    the rule that ended evaluation of a record whose action is BLOCK: the terminating
--                  group entry's terminatingRule (rule_group = its ruleGroupId), or for other rule types
--                  (and group records without that entry) ('webacl', terminatingRuleId). These rows have
--                  verdict already_blocking and are context, never candidates.
-- Entries without a ruleId (or a group entry without a ruleGroupId) are ignored.
--
-- Evidence per (rule_group, rule_id, match_kind):
--   matches (records), distinct_ips, requests_per_ip = matches / distinct_ips (null without IPs),
--   distinct_uris; top_uris, methods, countries, co_rules, locations, sample_matched_data are lists ordered
--   by frequency (descending), ties by value; top_uris, co_rules and sample_matched_data keep the first
--   $top. joined_requests = matches whose requestId equals a cloudfront x_edge_request_id; share_2xx_3xx =
--   those among them whose CloudFront status (any row with that id) is 200..399, over joined_requests
--   (null when nothing joins). bot_labels_share = share of matches carrying a label whose lower-cased name
--   contains bot-control, :bot:, anonymous-ip-list, amazon-ip-list or reputation. co_rules = other rules
--   ('rule_group/rule_id', any match kind above) on the same records, by shared records. locations and
--   sample_matched_data come from the ruleMatchDetails of the match (the record's
--   terminatingRuleMatchDetails for web-ACL terminating rules; none for excluded rules); one sample is
--   one matchedData array joined with a space.
--
-- Score (each component in [0, 1], higher = more like legitimate traffic; weights sum to 1):
--   s_ips   = min(1, log10(max(distinct_ips, 1)) / 2)             1 IP -> 0, 10 -> 0.5, 100+ -> 1
--   s_rpi   = clamp(1 - log10(requests_per_ip) / 2, 0, 1)         1/IP -> 1, 10 -> 0.5, 100+ -> 0; 0.5 if null
--   s_ok    = share_2xx_3xx, 0.5 when null
--   s_clean = 1 - bot_labels_share
--   s_focus = 1 - (max(distinct_uris, 1) - 1) / matches           few paths -> 1, every match a new URI -> 0
--   fp_score = 0.25 s_ips + 0.20 s_rpi + 0.25 s_ok + 0.15 s_clean + 0.15 s_focus
-- verdict: already_blocking (match_kind terminating); else likely_false_positive if fp_score >= 0.6,
-- review if >= 0.35, likely_true_positive below. reasons: one short text per component, ordered by
-- influence = weight * |component - 0.5| (descending, rounded to 1e-6; ties in the order above).
-- Percentages in reasons are rounded half up. Rows: candidates first, then already_blocking; within
-- each, fp_score descending, then rule_group, rule_id, match_kind.
WITH req AS (
    SELECT source_file AS src, source_line AS line, webacl_id, action, terminating_rule_id,
        terminating_rule_type, terminating_rule_match_details, rule_group_list,
        non_terminating_matching_rules, client_ip, uri, http_method, country, request_id,
        coalesce(len(list_filter(labels, lambda l: contains(lower(l), 'bot-control') OR contains(lower(l), ':bot:')
            OR contains(lower(l), 'anonymous-ip-list') OR contains(lower(l), 'amazon-ip-list')
            OR contains(lower(l), 'reputation'))) > 0, false) AS bot_labelled
    FROM waf
    WHERE ($start::TIMESTAMPTZ IS NULL OR (timestamp >= $start::TIMESTAMPTZ AND dt >= CAST($start::TIMESTAMPTZ AS DATE)))
      AND ($end::TIMESTAMPTZ IS NULL OR (timestamp < $end::TIMESTAMPTZ AND dt <= CAST($end::TIMESTAMPTZ AS DATE)))
      AND ($distribution::VARCHAR IS NULL OR http_source_id = $distribution::VARCHAR)
      -- Only records some match below can come from: a block, a web-ACL rule that counted, or a rule
      -- group entry with a terminating, counted or excluded rule. Most records match nothing (allowed
      -- by default), and unnesting their rule groups was most of the cost (30M entries per 10M records).
      AND (action = 'BLOCK'
           OR coalesce(len(non_terminating_matching_rules), 0) > 0
           OR coalesce(list_bool_or(list_transform(rule_group_list, lambda g:
                  g.terminating_rule IS NOT NULL
                  OR coalesce(len(g.non_terminating_matching_rules), 0) > 0
                  OR coalesce(len(g.excluded_rules), 0) > 0)), false))
),
grp AS (  -- one row per ruleGroupList entry, with its 1-based position
    SELECT src, line, action AS req_action, terminating_rule_type, g.*, pos
    FROM (SELECT src, line, action, terminating_rule_type,
              unnest(rule_group_list) AS g, generate_subscripts(rule_group_list, 1) AS pos
          FROM req)
    WHERE g IS NOT NULL AND g.rule_group_id IS NOT NULL
),
grp_end AS (  -- the group entry that ended evaluation, per record
    SELECT src, line, max(pos) AS pos
    FROM grp
    WHERE terminating_rule_type IN ('GROUP', 'MANAGED_RULE_GROUP') AND terminating_rule.action = req_action
    GROUP BY src, line
),
hits AS (  -- one row per (record, rule match); details = that match's ruleMatchDetails
    SELECT src, line, rule_group_id AS rule_group, nt.rule_id, 'rule_override' AS match_kind,
        nt.overridden_action AS would_be_action, nt.rule_match_details AS details
    FROM (SELECT src, line, rule_group_id, unnest(non_terminating_matching_rules) AS nt FROM grp)
    WHERE nt.action = 'COUNT' AND nt.overridden_action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE')
    UNION ALL
    SELECT src, line, rule_group_id, ex.rule_id, 'excluded', 'BLOCK', NULL
    FROM (SELECT src, line, rule_group_id, unnest(excluded_rules) AS ex FROM grp)
    WHERE ex.exclusion_type = 'EXCLUDED_AS_COUNT'
    UNION ALL
    SELECT g.src, g.line, g.rule_group_id, g.terminating_rule.rule_id,
        CASE WHEN e.pos IS NULL THEN 'group_count' ELSE 'terminating' END,
        g.terminating_rule.action, g.terminating_rule.rule_match_details
    FROM grp g
    LEFT JOIN grp_end e ON e.src = g.src AND e.line = g.line AND e.pos = g.pos
    WHERE (e.pos IS NULL AND g.terminating_rule.action = 'BLOCK') OR (e.pos IS NOT NULL AND g.req_action = 'BLOCK')
    UNION ALL
    SELECT r.src, r.line, 'webacl', r.terminating_rule_id, 'terminating', 'BLOCK', r.terminating_rule_match_details
    FROM req r
    WHERE r.action = 'BLOCK' AND NOT EXISTS (SELECT 1 FROM grp_end e WHERE e.src = r.src AND e.line = r.line)
    UNION ALL
    SELECT w.src, w.line, 'webacl', w.rule_id, 'webacl_count', w.would_be_action, w.details
    FROM (
        SELECT t.src, t.line, t.nt.rule_id, t.nt.rule_match_details AS details,
            CASE WHEN t.nt.overridden_action IS NOT NULL THEN t.nt.overridden_action
                 WHEN a.rule_name IS NOT NULL THEN
                     CASE WHEN a.rule_kind IN ('managed_rule_group', 'rule_group_reference') THEN NULL
                          WHEN a.action = 'COUNT' THEN 'BLOCK'
                          ELSE a.action END
                 ELSE 'BLOCK' END AS would_be_action
        FROM (SELECT src, line, webacl_id, unnest(non_terminating_matching_rules) AS nt FROM req) t
        LEFT JOIN web_acl_rules a ON a.web_acl_arn = t.webacl_id AND a.rule_name = t.nt.rule_id
        WHERE t.nt.action = 'COUNT'
    ) w
    WHERE w.would_be_action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE')
),
keyed AS (  -- each rule once per record
    SELECT DISTINCT src, line, rule_group, rule_id, match_kind FROM hits WHERE rule_id IS NOT NULL
),
cf AS (  -- CloudFront outcome per request id
    SELECT x_edge_request_id AS request_id, coalesce(bool_or(sc_status BETWEEN 200 AND 399), false) AS ok
    FROM cloudfront
    WHERE x_edge_request_id IN (SELECT request_id FROM req)
    GROUP BY x_edge_request_id
),
base AS (
    SELECT k.rule_group, k.rule_id, k.match_kind, k.src, k.line, r.client_ip, r.uri, r.http_method,
        r.country, r.bot_labelled, cf.request_id IS NOT NULL AS joined, coalesce(cf.ok, false) AS ok
    FROM keyed k
    JOIN req r ON r.src = k.src AND r.line = k.line
    LEFT JOIN cf ON cf.request_id = r.request_id
),
stats AS (
    SELECT rule_group, rule_id, match_kind, count(*) AS matches,
        count(DISTINCT client_ip) AS distinct_ips, count(DISTINCT uri) AS distinct_uris,
        count(*) FILTER (WHERE joined) AS joined_requests, count(*) FILTER (WHERE ok) AS ok_requests,
        count(*) FILTER (WHERE bot_labelled) AS bot_requests
    FROM base
    GROUP BY rule_group, rule_id, match_kind
),
actions AS (
    SELECT rule_group, rule_id, match_kind,
        string_agg(DISTINCT would_be_action, '|' ORDER BY would_be_action) AS would_be_action
    FROM hits WHERE rule_id IS NOT NULL
    GROUP BY rule_group, rule_id, match_kind
),
details AS (  -- one row per ruleMatchDetails element of a match
    SELECT rule_group, rule_id, match_kind, d.location, array_to_string(d.matched_data, ' ') AS sample
    FROM (SELECT rule_group, rule_id, match_kind, unnest(details) AS d FROM hits WHERE rule_id IS NOT NULL)
    WHERE d IS NOT NULL
),
facet_values AS (
    SELECT rule_group, rule_id, match_kind, 'uri' AS facet, uri AS v FROM base
    UNION ALL SELECT rule_group, rule_id, match_kind, 'method', http_method FROM base
    UNION ALL SELECT rule_group, rule_id, match_kind, 'country', country FROM base
    UNION ALL SELECT rule_group, rule_id, match_kind, 'location', location FROM details
    UNION ALL SELECT rule_group, rule_id, match_kind, 'sample', nullif(sample, '') FROM details
    UNION ALL
    SELECT k.rule_group, k.rule_id, k.match_kind, 'co_rule', o.rule_group || '/' || o.rule_id
    FROM keyed k
    JOIN (SELECT DISTINCT src, line, rule_group, rule_id FROM keyed) o
      ON o.src = k.src AND o.line = k.line AND (o.rule_group <> k.rule_group OR o.rule_id <> k.rule_id)
),
facet_ranked AS (
    SELECT rule_group, rule_id, match_kind, facet, v,
        row_number() OVER (PARTITION BY rule_group, rule_id, match_kind, facet ORDER BY count(*) DESC, v) AS rn
    FROM facet_values
    WHERE v IS NOT NULL
    GROUP BY rule_group, rule_id, match_kind, facet, v
),
facets AS (
    SELECT rule_group, rule_id, match_kind,
        list(v ORDER BY rn) FILTER (WHERE facet = 'uri' AND rn <= $top) AS top_uris,
        list(v ORDER BY rn) FILTER (WHERE facet = 'method') AS methods,
        list(v ORDER BY rn) FILTER (WHERE facet = 'country') AS countries,
        list(v ORDER BY rn) FILTER (WHERE facet = 'co_rule' AND rn <= $top) AS co_rules,
        list(v ORDER BY rn) FILTER (WHERE facet = 'location') AS locations,
        list(v ORDER BY rn) FILTER (WHERE facet = 'sample' AND rn <= $top) AS sample_matched_data
    FROM facet_ranked
    GROUP BY rule_group, rule_id, match_kind
),
measured AS (
    SELECT s.*, a.would_be_action,
        CASE WHEN s.distinct_ips > 0 THEN s.matches / s.distinct_ips END AS requests_per_ip,
        CASE WHEN s.joined_requests > 0 THEN s.ok_requests / s.joined_requests END AS share_2xx_3xx,
        s.bot_requests / s.matches AS bot_labels_share
    FROM stats s
    JOIN actions a USING (rule_group, rule_id, match_kind)
),
components AS (
    SELECT *,
        least(1.0, log10(greatest(distinct_ips, 1)) / 2) AS s_ips,
        coalesce(greatest(0.0, least(1.0, 1 - log10(requests_per_ip) / 2)), 0.5) AS s_rpi,
        coalesce(share_2xx_3xx, 0.5) AS s_ok,
        1 - bot_labels_share AS s_clean,
        1 - (greatest(distinct_uris, 1) - 1) / matches AS s_focus
    FROM measured
),
scored AS (
    SELECT *,
        0.25 * s_ips + 0.20 * s_rpi + 0.25 * s_ok + 0.15 * s_clean + 0.15 * s_focus AS fp_score,
        floor(100 * share_2xx_3xx + 0.5)::BIGINT AS pct_ok,
        floor(100 * bot_labels_share + 0.5)::BIGINT AS pct_bot,
        floor(10 * requests_per_ip + 0.5)::BIGINT AS rpi_tenths
    FROM components
),
reasoned AS (
    SELECT *,
        list_transform(list_sort([
            {'i': -floor(0.25 * abs(s_ips - 0.5) * 1e6 + 0.5), 'o': 1,
             't': distinct_ips::VARCHAR || CASE WHEN distinct_ips = 1 THEN ' distinct IP' ELSE ' distinct IPs' END},
            {'i': -floor(0.20 * abs(s_rpi - 0.5) * 1e6 + 0.5), 'o': 2,
             't': CASE WHEN requests_per_ip IS NULL THEN 'no client IPs logged'
                       ELSE (rpi_tenths // 10)::VARCHAR || '.' || (rpi_tenths % 10)::VARCHAR || ' requests per IP' END},
            {'i': -floor(0.25 * abs(s_ok - 0.5) * 1e6 + 0.5), 'o': 3,
             't': CASE WHEN share_2xx_3xx IS NULL THEN 'no CloudFront log rows joined'
                       ELSE pct_ok::VARCHAR || '% served 2xx/3xx by the origin' END},
            {'i': -floor(0.15 * abs(s_clean - 0.5) * 1e6 + 0.5), 'o': 4,
             't': CASE WHEN bot_requests = 0 THEN 'no bot or reputation labels'
                       ELSE pct_bot::VARCHAR || '% carry bot or reputation labels' END},
            {'i': -floor(0.15 * abs(s_focus - 0.5) * 1e6 + 0.5), 'o': 5,
             't': distinct_uris::VARCHAR
                  || CASE WHEN distinct_uris = 1 THEN ' distinct URI in ' ELSE ' distinct URIs in ' END
                  || matches::VARCHAR || CASE WHEN matches = 1 THEN ' match' ELSE ' matches' END}
        ]), lambda x: x.t) AS reasons
    FROM scored
)
SELECT r.rule_group, r.rule_id, r.match_kind, r.would_be_action, r.matches, r.distinct_ips, r.requests_per_ip,
    r.distinct_uris, coalesce(f.top_uris, []::VARCHAR[]) AS top_uris,
    coalesce(f.methods, []::VARCHAR[]) AS methods, coalesce(f.countries, []::VARCHAR[]) AS countries,
    r.joined_requests, r.share_2xx_3xx, r.bot_labels_share,
    coalesce(f.co_rules, []::VARCHAR[]) AS co_rules, coalesce(f.locations, []::VARCHAR[]) AS locations,
    coalesce(f.sample_matched_data, []::VARCHAR[]) AS sample_matched_data,
    r.fp_score,
    CASE WHEN r.match_kind = 'terminating' THEN 'already_blocking'
         WHEN r.fp_score >= 0.6 THEN 'likely_false_positive'
         WHEN r.fp_score >= 0.35 THEN 'review'
         ELSE 'likely_true_positive' END AS verdict,
    r.reasons
FROM reasoned r
LEFT JOIN facets f USING (rule_group, rule_id, match_kind)
ORDER BY r.match_kind = 'terminating', r.fp_score DESC, r.rule_group, r.rule_id, r.match_kind;
