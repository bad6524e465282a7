package webhook

import (
	"errors"
	"testing"
	"time"
)

// The golden value was computed outside Go:
// printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
const golden = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"

func TestSignGolden(t *testing.T) {
	got := Sign([]byte("whsec_test"), time.Unix(1700000000, 0), []byte(`{"a":1}`))
	if got != golden {
		t.Fatalf("Sign = %s, want %s", got, golden)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"a":1}`)
	signedAt := time.Unix(1700000000, 0)
	other := Sign([]byte("old secret"), signedAt, body)
	cases := []struct {
		name   string
		header string
		body   string
		now    time.Time
		want   error
	}{
		{"fresh", golden, `{"a":1}`, signedAt.Add(time.Minute), nil},
		{"4m59s old", golden, `{"a":1}`, signedAt.Add(5*time.Minute - time.Second), nil},
		{"spaces and a second v1 (rotation)", other + ", v1=" + golden[len("t=1700000000,v1="):], `{"a":1}`, signedAt, nil},
		{"older than 5 minutes", golden, `{"a":1}`, signedAt.Add(5*time.Minute + time.Second), ErrStale},
		{"from the future", golden, `{"a":1}`, signedAt.Add(-6 * time.Minute), ErrStale},
		{"body changed", golden, `{"a":2}`, signedAt, ErrMismatch},
		{"body re-encoded", golden, `{"a": 1}`, signedAt, ErrMismatch},
		{"other secret", other, `{"a":1}`, signedAt, ErrMismatch},
		{"no v1", "t=1700000000", `{"a":1}`, signedAt, ErrMalformed},
		{"no t", "v1=abc", `{"a":1}`, signedAt, ErrMalformed},
		{"not numeric", "t=yesterday,v1=abc", `{"a":1}`, signedAt, ErrMalformed},
		{"empty", "", `{"a":1}`, signedAt, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(secret, c.header, []byte(c.body), c.now, 0)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
	_ = body
}

func TestVerifyTolerance(t *testing.T) {
	h := Sign([]byte("s"), time.Unix(100, 0), nil)
	if err := Verify([]byte("s"), h, nil, time.Unix(100+30, 0), 10*time.Second); !errors.Is(err, ErrStale) {
		t.Fatalf("30s old with 10s tolerance: %v", err)
	}
	if err := Verify([]byte("s"), h, nil, time.Unix(100+5, 0), 10*time.Second); err != nil {
		t.Fatalf("5s old with 10s tolerance: %v", err)
	}
}
