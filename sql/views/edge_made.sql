-- Macros: edge_generated(result_type, detailed_result_type), client_made(detailed_result_type)
-- Which requests CloudFront answered itself, so that no origin is blamed for them (one definition,
-- shared by the failures macro and the doctor; pipeline/analyses/origins.py holds the same lists).
--   edge_generated  the edge's own errors: a CloudFront quota (LimitExceeded), no capacity at the edge
--                   (CapacityExceeded), Lambda@Edge or CloudFront Functions failing (Lambda*, Function*).
--   client_made     the viewer's side: it hung up or could not be read, was geo-blocked, or sent an
--                   invalid request, certificate, header or method.
-- Both are false for NULL values (logs from before 2019-12-12 have no detailed result type).
CREATE OR REPLACE MACRO edge_generated(result_type, detailed_result_type) AS
    coalesce(result_type, '') IN ('LimitExceeded', 'CapacityExceeded', 'LambdaExecutionError')
    OR coalesce(detailed_result_type, '') IN (
        'LimitExceeded', 'CapacityExceeded', 'LambdaExecutionError', 'LambdaValidationError',
        'LambdaLimitExceededError', 'FunctionExecutionError', 'FunctionThrottledError', 'FunctionValidationError');
CREATE OR REPLACE MACRO client_made(detailed_result_type) AS
    coalesce(detailed_result_type, '') IN (
        'ClientCommError', 'ClientGeoBlocked', 'ClientHungUpRequest', 'InvalidRequest', 'InvalidRequestBlocked',
        'InvalidRequestCertificate', 'InvalidRequestHeader', 'InvalidRequestMethod');
