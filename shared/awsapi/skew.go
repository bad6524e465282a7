package awsapi

import (
	"net/http"
	"time"
)

// Clock skew correction, as the SDK's (the Clock Skew Correction SEP): a
// machine whose clock is minutes off (a laptop back from sleep) signs
// requests that AWS refuses as expired or from the future. Each answer's
// Date tells how far off the clock is; the client signs its next requests
// that much later or earlier, and a request refused for a signature time
// that far off is tried again at once with the corrected time.

// skewThreshold is how far the signing time may be from the service's
// clock before a refused signature is taken for clock skew.
const skewThreshold = 4 * time.Minute

// maxTrustedRoundTrip bounds the round trip whose Date is trusted.
const maxTrustedRoundTrip = 15 * time.Minute

// clockSkewCodes are the codes of a refused signature (the SDK's list):
// retried only when the answer's Date shows the clock off by more than
// skewThreshold.
var clockSkewCodes = map[string]bool{
	"InvalidSignatureException": true, "SignatureDoesNotMatch": true, "AuthFailure": true,
	"RequestTimeTooSkewed": true, "AccessDeniedException": true,
}

// observeSkew records the skew resp's Date shows (a request sent at sent,
// signed with skew signed), and reports whether the signing time was off
// by more than skewThreshold. An answer without a Date, from a cache (Age)
// or after too long a round trip tells nothing.
func (c *Client) observeSkew(resp *http.Response, sent time.Time, signed time.Duration) bool {
	now := time.Now()
	date := resp.Header.Get("Date")
	if date == "" || resp.Header.Get("Age") != "" || now.Sub(sent) > maxTrustedRoundTrip {
		return false
	}
	server, err := http.ParseTime(date)
	if err != nil {
		return false
	}
	skew := server.Sub(now)
	c.skew.Store(int64(skew))
	off := skew - signed
	return off > skewThreshold || off < -skewThreshold
}
