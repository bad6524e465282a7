package s3

import (
	"testing"

	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/tracking/trackingtest"
)

func TestBlobs(t *testing.T) {
	c := testClient(t)
	trackingtest.RunBlobs(t, func(t *testing.T) tracking.Blobs {
		return New(c, newBucket(t, c), WithPrefix("models/"))
	})
}
