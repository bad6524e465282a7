package main

import (
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/lambdatest"
)

// TestLinksNoEmbeddedBackend: the function links the DynamoDB adapter and
// aws-lambda-go, and neither SQLite nor the filesystem adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/dynamodb")
}

func TestSetupNeedsSettings(t *testing.T) {
	for _, c := range []app.AWS{
		{S3Bucket: "b", EventBus: "bus"},
		{DynamoDBTable: "t", EventBus: "bus"},
		{DynamoDBTable: "t", S3Bucket: "b"},
	} {
		if _, _, err := setup(t.Context(), c, nil); err == nil || !strings.Contains(err.Error(), "MODELREG_EVENT_BUS") {
			t.Errorf("setup(%+v): %v, want a missing-setting error", c, err)
		}
	}
}
