// Package slack posts notifications to a Slack incoming webhook: a client
// that retries what Slack asks it to (5xx, 429 with Retry-After) and
// nothing else, and the Block Kit builder that lays a
// registry.Notification out as a message.
package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Defaults of a Client.
const (
	// DefaultAttempts is how many times one Post tries.
	DefaultAttempts = 3
	// DefaultAttemptTimeout bounds one request: a receiver that hangs
	// costs at most this per attempt.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultMaxWait is the longest the client waits between attempts,
	// Retry-After included; a longer Retry-After ends the Post with a
	// retryable error, so that the caller (the outbox) waits instead of
	// holding its worker.
	DefaultMaxWait = 10 * time.Second
)

// Client posts messages to one incoming webhook URL. It implements
// registry.Notifier.
type Client struct {
	url            string
	http           *http.Client
	attempts       int
	attemptTimeout time.Duration
	maxWait        time.Duration
	sleep          func(ctx context.Context, d time.Duration) error
}

var _ registry.Notifier = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the requests with hc (default: a client without
// its own timeout; each attempt has the attempt timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithAttempts sets how many times one Post tries (at least 1).
func WithAttempts(n int) Option { return func(c *Client) { c.attempts = max(n, 1) } }

// WithAttemptTimeout bounds each request.
func WithAttemptTimeout(d time.Duration) Option { return func(c *Client) { c.attemptTimeout = d } }

// WithMaxWait sets the longest wait between attempts.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// WithSleep replaces the wait between attempts (tests record it).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// New returns a client for the incoming webhook url (https://hooks.slack.com/services/…).
// Invalid if url is not an absolute http(s) URL.
func New(url string, opts ...Option) (*Client, error) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return nil, registry.Errorf(registry.Invalid, "slack webhook URL must start with https:// (got %d characters that do not)", len(url))
	}
	c := &Client{url: url, http: &http.Client{}, attempts: DefaultAttempts,
		attemptTimeout: DefaultAttemptTimeout, maxWait: DefaultMaxWait, sleep: registry.Sleep}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Notify posts the Block Kit message for n.
func (c *Client) Notify(ctx context.Context, n registry.Notification) error {
	return c.Post(ctx, Build(n))
}

// Error is a failed Post: the status Slack answered (0 when no answer
// came) and its body. Permanent reports a 4xx other than 429, which no
// retry fixes (a revoked webhook answers 404 no_service or 410).
type Error struct {
	Status     int
	Body       string
	Attempts   int
	RetryAfter time.Duration // what Slack asked for, if it did
	Err        error         // the transport error when Status is 0
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("slack webhook: %d attempt(s): %v", e.Attempts, e.Err)
	}
	msg := fmt.Sprintf("slack webhook: %d attempt(s): HTTP %d %q", e.Attempts, e.Status, e.Body)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help.
func (e *Error) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests
}

// Post sends m, trying again on a transport error, a timeout, a 5xx or a
// 429 (after Retry-After when Slack sends one, else with exponential
// backoff from 1 s), and never on another 4xx. It returns an *Error when
// no attempt succeeded, or ctx's error.
func (c *Client) Post(ctx context.Context, m Message) error {
	body, err := m.JSON()
	if err != nil {
		return fmt.Errorf("slack: encode message: %w", err)
	}
	var last *Error
	for attempt := 1; ; attempt++ {
		last = c.once(ctx, body)
		if last == nil {
			return nil
		}
		last.Attempts = attempt
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if last.Permanent() || attempt >= c.attempts {
			return last
		}
		wait := time.Second << (attempt - 1)
		if last.RetryAfter > 0 {
			wait = last.RetryAfter
		}
		if wait > c.maxWait {
			// Slack asks for longer than this call may take: the caller
			// retries later (the outbox's backoff).
			return last
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// once sends body one time; nil on a 2xx.
func (c *Client) once(ctx context.Context, body []byte) *Error {
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// Never the URL: it is the webhook's secret.
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) {
			err = uerr.Unwrap()
		}
		return &Error{Err: err}
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(text)), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
