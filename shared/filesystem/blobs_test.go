package filesystem

import (
	"testing"

	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/tracking/trackingtest"
)

func TestBlobs(t *testing.T) {
	trackingtest.RunBlobs(t, func(t *testing.T) tracking.Blobs {
		a, _ := newServer(t, t.TempDir())
		return a
	})
}

func TestBlobUploads(t *testing.T) {
	trackingtest.RunBlobUploads(t, func(t *testing.T) tracking.Blobs {
		a, _ := newServer(t, t.TempDir())
		return a
	})
}
