-- The AWS Config advanced query the collector sends to the aggregator
-- (SelectAggregateResourceConfig): every ECS task definition the aggregator recorded, in
-- every source account and region, with the fields ecrgc reads. Config's own SQL dialect,
-- not DataFusion's: no FROM clause, nested fields by path
-- (https://docs.aws.amazon.com/config/latest/developerguide/querying-AWS-resources.html).
-- The text after these comment lines is sent as it is; it must stay under Config's limit of
-- 4096 characters (a unit test checks).
SELECT accountId, awsRegion, resourceId, configurationItemCaptureTime,
  configuration.TaskDefinitionArn, configuration.Status, configuration.ContainerDefinitions
WHERE resourceType = 'AWS::ECS::TaskDefinition'
