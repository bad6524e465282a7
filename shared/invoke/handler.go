package invoke

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// HandoverMargin is how long before its deadline the verify-upload
// handler stops verifying and hands the rest to a new invocation of its
// function: time to record the files verified so far and invoke again.
const HandoverMargin = 20 * time.Second

// VerifyResult is what the verify-upload function answers (logged by
// Lambda for an asynchronous invocation).
type VerifyResult struct {
	Status    registry.Status `json:"status,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	Continued bool            `json:"continued,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// VerifyHandler is the verify-upload function: it runs
// Service.VerifyUpload on the upload its input names.
//
// Lambda gives an invocation 15 minutes. The service records each file as
// it is verified, so when the deadline nears (HandoverMargin) the handler
// stops and invokes its own function again through Continue, which goes
// on with the next file. One file must be read within one invocation: at
// the measured 191 MB/s (registry.DefaultVerifyAsyncBytes) 14 minutes read
// about 149 GiB, so a single larger file is not verified on Lambda (it
// stays VERIFYING and is logged).
type VerifyHandler struct {
	Service *registry.Service
	// Continue, if set, invokes this function again with the rest of a
	// verification that ran out of time (a *Lambda on its own function).
	Continue Sender
	Logger   *slog.Logger
}

// Sender sends a payload to the verify-upload function asynchronously.
type Sender interface {
	Send(ctx context.Context, p VerifyPayload) error
}

// MaxContinuations bounds the hand-overs of one verification: each
// verifies at least one file unless one file alone is too large for an
// invocation, and a version has at most registry.MaxArtifacts files.
const MaxContinuations = registry.MaxArtifacts

// Handle verifies one upload. A payload that names nothing, an upload
// that is gone or no longer verifying, are answered, not failed (a retry
// cannot help); a storage failure is returned, so Lambda retries the
// invocation.
func (h *VerifyHandler) Handle(ctx context.Context, p VerifyPayload) (VerifyResult, error) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := p.Check(); err != nil {
		log.Error("verify-upload: bad input", "err", err)
		return VerifyResult{Error: registry.ErrorMessage(err)}, nil
	}
	vctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		vctx, cancel = context.WithDeadline(ctx, dl.Add(-HandoverMargin))
		defer cancel()
	}
	v, err := h.Service.VerifyUpload(vctx, p.Model, p.Version, p.UploadID)
	switch {
	case err == nil:
		log.Info("verify-upload: done", "model", p.Model, "version", p.Version, "status", v.Status, "reason", v.StatusReason)
		return VerifyResult{Status: v.Status, Reason: v.StatusReason}, nil
	case registry.IsCode(err, registry.NotFound), registry.IsCode(err, registry.Conflict):
		log.Warn("verify-upload: nothing to verify", "model", p.Model, "version", p.Version, "upload_id", p.UploadID, "err", err)
		return VerifyResult{Error: registry.ErrorMessage(err)}, nil
	case vctx.Err() != nil && ctx.Err() == nil && h.Continue != nil && p.Continuation < MaxContinuations:
		// Out of time: what was verified is recorded; a new invocation
		// goes on from there.
		next := p
		next.Continuation++
		if cerr := h.Continue.Send(ctx, next); cerr != nil {
			return VerifyResult{}, errors.Join(err, cerr)
		}
		log.Info("verify-upload: continued in a new invocation", "model", p.Model, "version", p.Version)
		return VerifyResult{Status: registry.StatusVerifying, Continued: true}, nil
	}
	if vctx.Err() != nil && ctx.Err() == nil {
		log.Error("verify-upload: out of time; the version stays VERIFYING", "model", p.Model, "version", p.Version,
			"continuation", p.Continuation, "err", err)
		return VerifyResult{Status: registry.StatusVerifying, Error: "out of time"}, nil
	}
	return VerifyResult{}, err
}
