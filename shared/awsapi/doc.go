// Package awsapi is a small signed client for the AWS service APIs the
// registry's adapters call: the JSON protocols (DynamoDB, Step Functions,
// KMS, Secrets Manager) and REST (S3, Lambda). It signs with aws-sdk-go-v2's
// v4 signer and takes the SDK's credential providers, but links none of the
// SDK's service clients, whose package-level tables cost the api Lambda
// function milliseconds of every cold start and most of its size.
//
// A Client sends each request up to Config.MaxAttempts times (3): again
// after a connection error, a 5xx or 429 answer, or a throttling code, with
// full-jitter exponential backoff (from 50 ms, or 1 s after a throttling
// answer, doubling, capped at 5 s), like the SDK's standard retryer. A
// request whose body cannot be rewound is sent once. Every other answer
// outside 2xx is an *Error with AWS's error code and message. Like the
// SDK, a client signs at its clock corrected by the skew the answers' Date
// shows, and retries a signature refused for a skew that large (skew.go).
package awsapi
