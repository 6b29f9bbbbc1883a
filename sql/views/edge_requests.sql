-- View: edge_requests
-- One row per viewer request from either CloudFront log, in the columns every analysis shares.
-- `log` says which table the row came from; analyses pick one (the two logs describe the same
-- requests when both are enabled, so they are never summed together).
-- `uri_stem` is the path without the query string (real-time logs carry it inside cs-uri-stem).
CREATE OR REPLACE VIEW edge_requests AS
SELECT
    'cloudfront' AS log, distribution_id, timestamp, dt,
    cs_method AS method, sc_status AS status, cs_protocol AS protocol,
    x_edge_result_type AS result_type, x_edge_response_result_type AS response_result_type,
    x_edge_detailed_result_type AS detailed_result_type,
    sc_bytes AS bytes, x_host_header AS host, x_edge_request_id AS request_id, c_ip AS client_ip,
    cs_uri_stem AS uri_stem, cs_uri_query AS uri_query, cs_user_agent AS user_agent,
    cache_behavior_path_pattern AS logged_behavior, time_to_first_byte, time_taken,
    sc_content_len AS content_length
FROM cloudfront
UNION ALL
SELECT
    'realtime', distribution_id, timestamp, dt,
    cs_method, sc_status, cs_protocol,
    x_edge_result_type, x_edge_response_result_type,
    x_edge_detailed_result_type,
    sc_bytes, x_host_header, x_edge_request_id, c_ip,
    split_part(cs_uri_stem, '?', 1), cs_uri_query, cs_user_agent,
    cache_behavior_path_pattern, time_to_first_byte, time_taken,
    sc_content_len
FROM realtime;
