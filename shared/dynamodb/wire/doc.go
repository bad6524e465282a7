// Package wire speaks DynamoDB's JSON protocol (API version 2012-08-10)
// through shared/awsapi: its AttributeValue, the operations the registry's
// DynamoDB store and its tests call, and the errors whose details the store
// reads (a cancelled transaction's reasons, a failed condition's item).
//
// It replaces aws-sdk-go-v2's service/dynamodb, service/dynamodb/types and
// feature/dynamodb/attributevalue, whose package-level tables cost the api
// Lambda function milliseconds of every cold start. MarshalMap and
// UnmarshalMap encode item structs with `dynamodbav` tags exactly as
// attributevalue's MarshalMap and UnmarshalMap do with their default
// options, so items written by either read back the same.
package wire
