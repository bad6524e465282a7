package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// AllowPrivate lets deliveries reach loopback, private and link-local
	// addresses (the local server's --allow-private-webhooks). Without it
	// every connection is checked as CheckURL checks a URL.
	AllowPrivate bool
	// Timeout bounds one attempt, connection to response headers
	// (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one delivery (default 5).
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles per
	// attempt up to MaxBackoff (defaults 500ms and 30s). A Retry-After
	// answer waits as long as it asks, up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Now is the clock signatures are made with (default time.Now).
	Now func() time.Time
}

// Client POSTs signed webhooks. It is safe for concurrent use.
type Client struct {
	http *http.Client
	o    Options
}

// New returns a Client with o.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		d.Control = dialControl
	}
	tr := &http.Transport{
		// No proxy: a proxy would make the connection the dialer checks
		// the proxy's, not the receiver's.
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
	}
	return &Client{o: o, http: &http.Client{
		Transport: tr,
		// A redirect is the receiver's mistake (and a way around the URL
		// check): it is answered as the status it is, never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Delivery is one webhook to send.
type Delivery struct {
	URL     string
	Secret  []byte
	EventID string // Modelreg-Event-Id: receivers dedupe by it
	Body    []byte // JSON
}

// Result is what a successful delivery took.
type Result struct {
	Attempts int
	Status   int // the receiver's 2xx status
}

// Error is a delivery that did not succeed. Retryable says whether sending
// it again later may help: true after 5xx, 429, timeouts and connection
// errors once the attempts ran out; false for other answers (3xx, 4xx) and
// for connections the SSRF check refused.
type Error struct {
	Attempts  int
	Status    int // the last HTTP status, 0 if there was no answer
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("webhook answered %d after %d attempt(s): %v", e.Status, e.Attempts, e.Err)
	}
	return fmt.Sprintf("webhook failed after %d attempt(s): %v", e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Deliver POSTs d, signed at the time of each attempt, until the receiver
// answers 2xx, answers a status that is not retried (any other but 5xx and
// 429), or MaxAttempts are used. 5xx, 429, timeouts and connection errors
// are retried with backoff. A failure is an *Error; ctx ending stops at
// once with ctx's error wrapped.
func (c *Client) Deliver(ctx context.Context, d Delivery) (Result, error) {
	var last *Error
	for n := 1; ; n++ {
		status, retryAfter, err := c.attempt(ctx, d)
		if err == nil {
			return Result{Attempts: n, Status: status}, nil
		}
		if ctx.Err() != nil {
			return Result{}, &Error{Attempts: n, Status: status, Retryable: true, Err: ctx.Err()}
		}
		last = &Error{Attempts: n, Status: status, Retryable: retryable(status, err), Err: err}
		if !last.Retryable || n >= c.o.MaxAttempts {
			return Result{}, last
		}
		wait := min(c.o.Backoff<<(n-1), c.o.MaxBackoff)
		if retryAfter > wait {
			wait = min(retryAfter, c.o.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, &Error{Attempts: n, Status: status, Retryable: true, Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// errStatus is the error of an answer that is not 2xx.
var errStatus = errors.New("receiver did not accept the delivery")

func retryable(status int, err error) bool {
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		return false
	}
	if status == 0 {
		return true // timeout, connection refused or reset
	}
	return status >= 500 || status == http.StatusTooManyRequests
}

// attempt sends d once and returns the status, the Retry-After it asked
// for, and an error unless the status was 2xx.
func (c *Client) attempt(ctx context.Context, d Delivery) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, 0, &BlockedError{Address: d.URL, Why: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "modelreg-webhook/1")
	req.Header.Set(HeaderEventID, d.EventID)
	req.Header.Set(HeaderSignature, Sign(d.Secret, c.o.Now(), d.Body))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	// Read a little of the answer for the reason, drain the rest (bounded)
	// so the connection is reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	msg := bytes.TrimSpace(snippet)
	if len(msg) > 0 {
		return resp.StatusCode, ra, fmt.Errorf("%w: %s: %s", errStatus, resp.Status, msg)
	}
	return resp.StatusCode, ra, fmt.Errorf("%w: %s", errStatus, resp.Status)
}
