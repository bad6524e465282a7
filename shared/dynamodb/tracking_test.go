package dynamodb

import (
	"testing"

	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/tracking/trackingtest"
)

func TestTrackingStore(t *testing.T) {
	c := localClient(t)
	trackingtest.Run(t, func(t *testing.T) tracking.Store {
		return New(c, newTable(t, c))
	})
}
