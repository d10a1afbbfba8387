-- id: malformed_references
-- summary: Workload references that name an ECR registry but do not parse, per source.
--
-- Inputs: `workload_refs` (`ref_parse_error` is set by the parser the collectors use).
--
-- Columns: source, example (`image_uri (resource_arn): error`), ordered by source and
-- example; the summary counts them per source and keeps the first three.
SELECT source, image_uri || ' (' || resource_arn || '): ' || ref_parse_error AS example
FROM workload_refs
WHERE ref_parse_error IS NOT NULL
ORDER BY source, example
