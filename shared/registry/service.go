package registry

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config configures a Service. Store and Artifacts are required.
type Config struct {
	Store     Store
	Artifacts Artifacts
	// Workflow runs promotions to Production; without one such
	// transitions answer NotImplemented.
	Workflow Workflow
	// ApprovalTTL is how long an approval waits for a decision before it
	// expires (default 72h): the workflow's wait times out then.
	ApprovalTTL time.Duration
	// NamePolicy, if set, is a further pattern every new model name must
	// match (e.g. ^[a-z]+_[a-z0-9_]+$ for team_model).
	NamePolicy *regexp.Regexp
	// NamePolicyHint describes the policy in words for error messages.
	NamePolicyHint string
	// Secret signs page tokens (at least 32 bytes).
	Secret []byte
	// UploadTTL is how long upload URLs live (default 1h).
	UploadTTL time.Duration
	// UploadGrace is how long past its expiry an open upload session can
	// still be refreshed and resumed before SweepUploads expires it as
	// abandoned (default DefaultUploadGrace).
	UploadGrace time.Duration
	// DownloadTTL is how long download URLs live (default 15m).
	DownloadTTL time.Duration
	// IdempotencyTTL is how long idempotency keys are remembered (default 24h).
	IdempotencyTTL time.Duration
	// AllowFileSources lets a version's source be a file:// URI. Set it
	// only for a server whose callers share its disk (`modelreg serve` on
	// the embedded backends); elsewhere a file URI names a path that only
	// the server can see, or one that reveals its files.
	AllowFileSources bool
	// Secrets seals the signing secrets of webhook deploy targets; without
	// one, adding or rotating a webhook target answers NotImplemented.
	Secrets SecretBox
	// CheckWebhookURL, if set, is the SSRF rule for webhook target URLs
	// (called on add and on rotate); its error is answered as Invalid with
	// its message. nil accepts every URL.
	CheckWebhookURL func(ctx context.Context, rawURL string) error
	// SageMakerPrefix, if set, is the prefix every SageMaker target's
	// endpoint name must have.
	SageMakerPrefix string
	// AllowedRoleARNs, if set, are the execution roles a SageMaker target
	// may name: exact ARNs, or prefixes ending in '*'.
	AllowedRoleARNs []string
	// VerifyAsyncBytes, with Invoker set, makes CompleteUpload verify
	// asynchronously when the files it still has to verify hold more than
	// this many bytes: it answers with the version VERIFYING and asks
	// Invoker to run VerifyUpload. 0 (or no Invoker) verifies every upload
	// inside CompleteUpload. DefaultVerifyAsyncBytes is the measured
	// default for S3 (shared/app applies it there).
	VerifyAsyncBytes int64
	// Invoker runs VerifyUpload for uploads CompleteUpload left VERIFYING.
	Invoker Invoker
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// AfterCommit, if set, is called after every successful commit that
	// wrote events (the local relay uses it to deliver them at once).
	AfterCommit func()
	Logger      *slog.Logger
}

// Service is the registry's use cases. It holds all the rules; the ports do
// storage and I/O. The caller's identity comes from the context
// (WithPrincipal), and so does an idempotency request (WithIdempotency).
type Service struct {
	cfg     Config
	now     func() time.Time
	log     *slog.Logger
	numbers numberer
}

// NewService returns a Service for cfg.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Artifacts == nil {
		return nil, errors.New("registry: Store and Artifacts are required")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("registry: Secret must be at least 32 bytes")
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = time.Hour
	}
	if cfg.UploadGrace <= 0 {
		cfg.UploadGrace = DefaultUploadGrace
	}
	if cfg.DownloadTTL <= 0 {
		cfg.DownloadTTL = 15 * time.Minute
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = DefaultApprovalTTL
	}
	s := &Service{cfg: cfg, now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Now returns the service's current time, truncated to microseconds so that
// it survives a round trip through every store unchanged.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// maxAttempts bounds the optimistic-concurrency retries of one operation.
const maxAttempts = 200

// update runs attempt until it succeeds, fails with something other than a
// stale revision, or has tried maxAttempts times. Each attempt re-reads
// what it needs and returns the Change to commit plus the result to
// return; result is also what an idempotent request stores as its response.
func update[T any](ctx context.Context, s *Service, attempt func() (*Change, T, error)) (T, error) {
	return retry(ctx, attempt, s.commit)
}

// updateUnchecked is update for the steps of a rename, which write to the
// model its lock protects (see commitUnchecked).
func updateUnchecked[T any](ctx context.Context, s *Service, attempt func() (*Change, T, error)) (T, error) {
	return retry(ctx, attempt, s.commitUnchecked)
}

func retry[T any](ctx context.Context, attempt func() (*Change, T, error), commit func(context.Context, *Change, any) error) (T, error) {
	var zero T
	for i := 0; ; i++ {
		ch, result, err := attempt()
		if err != nil {
			return zero, err
		}
		err = commit(ctx, ch, result)
		if err == nil {
			return result, nil
		}
		if !errors.Is(err, ErrStale) {
			return zero, err
		}
		if i+1 >= maxAttempts {
			return zero, Wrap(Unavailable, err, "too many concurrent changes; retry")
		}
		// Jittered backoff, growing to about 20ms, so racing writers spread out.
		d := time.Duration(rand.Int64N(int64(time.Millisecond)*int64(min(i+1, 20)))) + 100*time.Microsecond
		select {
		case <-ctx.Done():
			return zero, Wrap(Unavailable, ctx.Err(), "request cancelled")
		case <-time.After(d):
		}
	}
}

// commit attaches the idempotency record (if the request has one) and
// writes ch, unless ch writes to a model being renamed (Conflict). ch is
// committed with a check of the revision of each model it touches without
// writing it (see checkNotRenaming); ch itself is left as it is, so an
// attempt may return it again.
func (s *Service) commit(ctx context.Context, ch *Change, result any) error {
	checks, err := s.checkNotRenaming(ctx, ch)
	if err != nil {
		return err
	}
	if len(checks) > 0 {
		checked := *ch
		checked.CheckedModels = append(slices.Clip(ch.CheckedModels), checks...)
		ch = &checked
	}
	return s.commitUnchecked(ctx, ch, result)
}

// commitUnchecked is commit without the rename lock's check: the rename's
// own steps write through it.
func (s *Service) commitUnchecked(ctx context.Context, ch *Change, result any) error {
	if idem := idempotencyFrom(ctx); idem != nil && ch.Idempotency == nil {
		rec, err := s.idempotencyRecord(idem, result, s.Now())
		if err != nil {
			return err
		}
		ch.Idempotency = &rec
	}
	if err := s.cfg.Store.Commit(ctx, ch); err != nil {
		return err
	}
	if len(ch.Events) > 0 && s.cfg.AfterCommit != nil {
		s.cfg.AfterCommit()
	}
	return nil
}

// idempotencyRecord is the record that answers a retry of the request idem
// with result.
func (s *Service) idempotencyRecord(idem *Idempotency, result any, now time.Time) (IdempotencyRecord, error) {
	body, err := idem.Render(result)
	if err != nil {
		return IdempotencyRecord{}, fmt.Errorf("render idempotent response: %w", err)
	}
	return IdempotencyRecord{
		Key: idem.Key, RequestHash: idem.RequestHash,
		Response: body, CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL),
	}, nil
}

// IdempotencyTTL is how long idempotency records are kept.
func (s *Service) IdempotencyTTL() time.Duration { return s.cfg.IdempotencyTTL }

// LookupIdempotency returns the stored response for key. NotFound if none.
func (s *Service) LookupIdempotency(ctx context.Context, key string) (IdempotencyRecord, error) {
	return s.cfg.Store.GetIdempotency(ctx, key, s.Now())
}

// audit returns an audit entry stamped with the caller and a fresh id.
func (s *Service) audit(ctx context.Context, now time.Time, model string, version int, action Action) AuditEntry {
	return AuditEntry{
		ID: NewID(now), Model: model, Version: version, Action: action,
		Actor: PrincipalFrom(ctx).Name, At: now,
	}
}

// event returns an event of the given type for an audit entry.
func (s *Service) event(typ string, a AuditEntry) Event {
	return Event{
		ID: NewID(a.At), Type: typ, Source: EventSource, Time: a.At,
		Detail: EventDetail{
			Model: a.Model, Version: a.Version, From: a.From, To: a.To, Actor: a.Actor,
			Reason: a.Reason, ApprovalID: a.ApprovalID, Rollback: a.Rollback, AuditID: a.ID,
		},
	}
}

// Page tokens: the store's cursor, bound by HMAC to the query that made it,
// so a caller can neither forge one nor replay it against another model or
// filter.

func (s *Service) encodeToken(scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte(scope + "\x00" + cursor))
	return base64.RawURLEncoding.EncodeToString([]byte(cursor)) + "." +
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func (s *Service) decodeToken(scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	bad := Errorf(Invalid, "invalid page_token: pass the next_page_token of the same listing unchanged")
	c, m, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	cursor, err1 := base64.RawURLEncoding.DecodeString(c)
	sig, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil {
		return "", bad
	}
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte(scope + "\x00" + string(cursor)))
	if !hmac.Equal(sig, mac.Sum(nil)[:16]) {
		return "", bad
	}
	return string(cursor), nil
}

// CheckPageSize checks the page size a store is asked for: 1 to
// MaxPageSize (the service has already turned 0 into DefaultPageSize).
// Invalid otherwise.
func CheckPageSize(n int) error {
	if n < 1 || n > MaxPageSize {
		return Errorf(Invalid, "page size %d: want 1..%d", n, MaxPageSize)
	}
	return nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, Errorf(Invalid, "page_size must be between 1 and %d", MaxPageSize)
	}
	return n, nil
}

// List is one page of a listing as callers see it.
type List[T any] struct {
	Items         []T
	NextPageToken string
}
