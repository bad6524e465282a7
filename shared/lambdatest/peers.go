package lambdatest

import (
	"os"
	"testing"

	"github.com/modelreg/modelreg/shared/testenv"
)

// Peers returns DynamoDB Local's, MinIO's and moto's endpoints (the
// plug-ins' MODELREG_DYNAMODB_ENDPOINT, MODELREG_S3_ENDPOINT and
// MODELREG_MOTO_ENDPOINT) for a function test; without them the test
// skips, or fails when CI=true.
func Peers(t testing.TB) (ddb, s3, moto string) {
	t.Helper()
	ddb, s3, moto = os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), os.Getenv("MODELREG_S3_ENDPOINT"), os.Getenv("MODELREG_MOTO_ENDPOINT")
	if ddb == "" || s3 == "" || moto == "" {
		msg := "DynamoDB Local, MinIO and moto are not running: scripts/test starts them"
		testenv.Missing(t, msg, "the function test")
	}
	return ddb, s3, moto
}
