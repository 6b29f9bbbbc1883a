-- name: waf-web-acl-rules
-- description: Every ingested web ACL rule (aws wafv2 get-web-acl exports), in each ACL's priority order.
SELECT * FROM web_acl_rules ORDER BY web_acl_name, priority
