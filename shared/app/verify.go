package app

import (
	"context"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/invoke"
	"github.com/modelreg/modelreg/shared/registry"
)

// VerifyInvoker returns the asynchronous invoker of AWS.VerifyFunction
// on the App's AWS configuration: the verify-upload function hands a
// verification that runs out of time to itself with it. A *ConfigError
// without AWS.VerifyFunction.
func (a *App) VerifyInvoker(ctx context.Context) (*invoke.Lambda, error) {
	if a.cfg.AWS.VerifyFunction == "" {
		return nil, configErrorf("AWS.VerifyFunction", "not set")
	}
	return a.aws.invoker(ctx)
}

// VerifyRecoveryInterval is how often a started App with the in-process
// verifier asks again for the versions left VERIFYING (it also does once
// in Start): a verification that failed on a storage error runs again.
const VerifyRecoveryInterval = 30 * time.Second

// verifyQueueSize bounds the verifications waiting in-process; beyond it
// InvokeVerify answers Unavailable and the recovery asks again later.
const verifyQueueSize = 1024

// verifyQueue is the in-process registry.Invoker of `modelreg serve`: it
// runs Service.VerifyUpload in the background, one upload at a time
// (verification reads whole files: more at once only splits the same
// bandwidth), each upload once while it waits.
type verifyQueue struct {
	svc *registry.Service // set by New before anything can be queued
	ch  chan registry.VerifyRequest

	mu      sync.Mutex
	waiting map[registry.VerifyRequest]bool
}

var _ registry.Invoker = (*verifyQueue)(nil)

func newVerifyQueue() *verifyQueue {
	return &verifyQueue{ch: make(chan registry.VerifyRequest, verifyQueueSize), waiting: map[registry.VerifyRequest]bool{}}
}

// InvokeVerify queues r unless it waits already. Unavailable when the
// queue is full.
func (q *verifyQueue) InvokeVerify(_ context.Context, r registry.VerifyRequest) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting[r] {
		return nil
	}
	select {
	case q.ch <- r:
		q.waiting[r] = true
		return nil
	default:
		return registry.Errorf(registry.Unavailable, "%d verifications wait already; version %d of %s is verified later", verifyQueueSize, r.Version, r.Model)
	}
}

// run verifies queued uploads until ctx is done. A verification cut off
// by ctx stays VERIFYING and is found again by the next Start.
func (q *verifyQueue) run(ctx context.Context, a *App) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-q.ch:
			q.mu.Lock()
			delete(q.waiting, r)
			q.mu.Unlock()
			if _, err := q.svc.VerifyUpload(ctx, r.Model, r.Version, r.UploadID); err != nil && ctx.Err() == nil {
				a.log.Error("verify upload", "model", r.Model, "version", r.Version, "upload_id", r.UploadID, "err", err)
			}
		}
	}
}
