// Package webhook delivers modelreg's signed webhooks and checks them on
// the receiving side: Sign and Verify implement the signature contract of
// DESIGN.md, Client POSTs with retries and refuses to reach private
// addresses (SSRF), CheckURL vets a URL before it is stored.
//
// A delivery carries the headers
//
//	Content-Type: application/json
//	Modelreg-Event-Id: <event id>           receivers dedupe by it
//	Modelreg-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	HeaderEventID   = "Modelreg-Event-Id"
	HeaderSignature = "Modelreg-Signature"
)

// DefaultTolerance is how old (or how far in the future) a signature's
// timestamp may be before Verify rejects it.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Modelreg-Signature header value for body sent at t:
// "t=UNIX,v1=HEX(HMAC-SHA256(secret, t + "." + body))".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors Verify returns (wrapped with detail).
var (
	// ErrMalformed: the header is not "t=…,v1=…".
	ErrMalformed = errors.New("webhook: malformed signature header")
	// ErrStale: the timestamp is outside the tolerance (a replay, or a
	// clock far off).
	ErrStale = errors.New("webhook: signature timestamp outside tolerance")
	// ErrMismatch: no v1 signature matches the body and secret.
	ErrMismatch = errors.New("webhook: signature does not match")
)

// Verify checks header, the Modelreg-Signature of body, against secret at
// now: the timestamp must be within tolerance of now (DefaultTolerance if
// tolerance is 0) and one of its v1 values must be the HMAC of the
// timestamp and the exact body bytes. It returns ErrMalformed, ErrStale or
// ErrMismatch (wrapped).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q", ErrMalformed, part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=…,v1=…", ErrMalformed)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrMalformed, ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrStale, age.Round(time.Second))
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return ErrMismatch
}
