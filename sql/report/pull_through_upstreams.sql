-- id: pull_through_upstreams
-- summary: The upstream registry of every repository a pull through cache rule of its registry covers.
--
-- A rule covers a repository when the rule's prefix and a `/` start the repository's name,
-- or when the prefix is `ROOT` (botocore's ECR model, `ecrRepositoryPrefix`). What is
-- deleted there can be pulled again from the upstream, which the report says next to the
-- repository.
--
-- Inputs: `repositories`, `pull_through_cache_rules`.
--
-- Columns: repository (`account/region/repository`), upstream (the smallest upstream URL
-- of the rules that cover it).
SELECT r.account_id || '/' || r.region || '/' || r.repository_name AS repository,
       MIN(p.upstream_registry_url) AS upstream
FROM repositories r
JOIN pull_through_cache_rules p
  ON p.account_id = r.account_id AND p.region = r.region
 AND (p.ecr_repository_prefix = 'ROOT'
      OR SUBSTR(r.repository_name, 1, LENGTH(p.ecr_repository_prefix) + 1)
         = p.ecr_repository_prefix || '/')
GROUP BY 1
