-- The AWS Config advanced query the collector sends to the aggregator
-- (SelectAggregateResourceConfig): every ECS task definition the aggregator recorded, in
-- every source account and region, with the fields ecrgc reads. Config's own SQL dialect,
-- not DataFusion's: no FROM clause, nested fields by path (Config Developer Guide, "Query
-- Components", https://docs.aws.amazon.com/config/latest/developerguide/query-components.html).
-- The lines after these comments are sent joined by spaces; `Expression` is at most 4096
-- characters (botocore config model, SelectAggregateResourceConfig: `min=1 max=4096`), which
-- a unit test checks.
SELECT accountId, awsRegion, resourceId, configurationItemCaptureTime,
  configuration.TaskDefinitionArn, configuration.Status, configuration.ContainerDefinitions
WHERE resourceType = 'AWS::ECS::TaskDefinition'
