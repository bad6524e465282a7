// Command awsapp is the smallest program that builds the AWS app (DynamoDB,
// S3, Step Functions), as a Lambda entry point would: the app tests check
// what it links, and scripts/bench measures its stripped linux/arm64 size.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/modelreg/modelreg/shared/app"
)

func main() {
	a, err := app.New(context.Background(), app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Workflow: app.WorkflowSFN,
		Secret: []byte(os.Getenv("MODELREG_SECRET")),
		AWS: app.AWS{
			DynamoDBTable: os.Getenv("MODELREG_DYNAMODB_TABLE"), S3Bucket: os.Getenv("MODELREG_S3_BUCKET"),
			StateMachineARN: os.Getenv("MODELREG_STATE_MACHINE_ARN"),
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer a.Close()
	fmt.Println("built", a.Service != nil)
}
