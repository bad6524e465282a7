package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/app"
)

// TestLinksNoEmbeddedBackend: the function links the DynamoDB adapter and
// aws-lambda-go, and neither SQLite nor the filesystem adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "lambda.norpc", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	d := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		d[p] = true
	}
	if !d["github.com/modelreg/modelreg/shared/dynamodb"] || !d["github.com/aws/aws-lambda-go/lambda"] {
		t.Fatal("the listing lacks the DynamoDB adapter or aws-lambda-go: it is wrong")
	}
	for _, p := range []string{"modernc.org/sqlite", "github.com/modelreg/modelreg/shared/sqlite", "github.com/modelreg/modelreg/shared/filesystem"} {
		if d[p] {
			t.Errorf("stream-publisher links %s", p)
		}
	}
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
