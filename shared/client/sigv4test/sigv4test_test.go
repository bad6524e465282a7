package sigv4test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The aws-sig-v4 test suite's credentials, scope and time (AWS General
// Reference, "Signature Version 4 test suite").
const (
	suiteKey    = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteDate   = "20150830T123600Z"
	suiteCred   = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

func suiteVerifier(secret string, now time.Time) *Verifier {
	return &Verifier{Region: "us-east-1", Service: "service", Keys: []Key{{AccessKeyID: suiteKey, SecretAccessKey: secret}},
		Now: func() time.Time { return now }}
}

// suiteRequest is a test-suite request as it arrives at a server: the
// request line's target exactly as sent, Host example.amazonaws.com.
func suiteRequest(method, target, signature string) *http.Request {
	r := httptest.NewRequest(method, "http://example.amazonaws.com/", nil)
	r.RequestURI = target
	path, query, _ := strings.Cut(target, "?")
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", query
	r.Host = "example.amazonaws.com"
	r.Header = http.Header{"X-Amz-Date": {suiteDate}, "Authorization": {suiteCred + signature}}
	return r
}

// TestGetVanilla: the suite's get-vanilla example, step by step: the
// canonical request and string to sign as the suite prints them, and the
// signature it publishes.
func TestGetVanilla(t *testing.T) {
	r := suiteRequest("GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	creq, err := CanonicalRequest(r, []string{"host", "x-amz-date"}, emptySHA256)
	if err != nil {
		t.Fatal(err)
	}
	wantCreq := "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256
	if creq != wantCreq {
		t.Fatalf("canonical request:\n%q\nwant\n%q", creq, wantCreq)
	}
	sts := StringToSign(suiteDate, "20150830/us-east-1/service/aws4_request", creq)
	wantSts := "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
	if sts != wantSts {
		t.Fatalf("string to sign:\n%q\nwant\n%q", sts, wantSts)
	}
	if got := Signature(SigningKey(suiteSecret, "20150830", "us-east-1", "service"), sts); got != "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" {
		t.Fatalf("signature %s", got)
	}
	if _, err := suiteVerifier(suiteSecret, suiteTime).Verify(r, nil); err != nil {
		t.Fatalf("the suite's own get-vanilla request is refused: %v", err)
	}
}

// TestSuiteVectors: more of the suite's published signatures, each for a
// rule of the canonical form (query order and case, a body-less POST, a
// UTF-8 path sent raw), and each refused once a byte changes.
func TestSuiteVectors(t *testing.T) {
	for _, c := range []struct{ name, method, target, sig string }{
		{"get-vanilla", "GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-vanilla", "POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"get-utf8", "GET", "/ሴ", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := suiteVerifier(suiteSecret, suiteTime)
			if _, err := v.Verify(suiteRequest(c.method, c.target, c.sig), nil); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if _, err := v.Verify(suiteRequest(c.method, c.target+"x", c.sig), nil); err == nil || !strings.Contains(err.Error(), "does not match") {
				t.Fatalf("a changed path is accepted: %v", err)
			}
			if _, err := v.Verify(suiteRequest(c.method, c.target, c.sig), []byte("x")); err == nil {
				t.Fatal("a changed body is accepted")
			}
		})
	}
}

// TestRefusals: a wrong secret, an unknown key, another region, a clock
// more than five minutes off either way, a missing session token: each is
// refused with API Gateway's message; within five minutes is accepted.
func TestRefusals(t *testing.T) {
	sig := "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	for _, c := range []struct {
		name string
		v    *Verifier
		want string
	}{
		{"wrong secret", suiteVerifier("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz", suiteTime), "does not match"},
		{"unknown key", &Verifier{Region: "us-east-1", Service: "service", Keys: []Key{{AccessKeyID: "AKIDOTHER", SecretAccessKey: suiteSecret}}, Now: func() time.Time { return suiteTime }}, "security token included in the request is invalid"},
		{"other region", &Verifier{Region: "eu-west-1", Service: "service", Keys: []Key{{AccessKeyID: suiteKey, SecretAccessKey: suiteSecret}}, Now: func() time.Time { return suiteTime }}, "scoped to a valid region"},
		{"server 6 min later", suiteVerifier(suiteSecret, suiteTime.Add(6*time.Minute)), "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T124200Z - 5 min.)"},
		{"server 6 min earlier", suiteVerifier(suiteSecret, suiteTime.Add(-6*time.Minute)), "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T123000Z + 5 min.)"},
		{"session token expected", &Verifier{Region: "us-east-1", Service: "service", Keys: []Key{{AccessKeyID: suiteKey, SecretAccessKey: suiteSecret, SessionToken: "tok"}}, Now: func() time.Time { return suiteTime }}, "security token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.v.Verify(suiteRequest("GET", "/", sig), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	for _, d := range []time.Duration{4*time.Minute + 59*time.Second, -4*time.Minute - 59*time.Second} {
		if _, err := suiteVerifier(suiteSecret, suiteTime.Add(d)).Verify(suiteRequest("GET", "/", sig), nil); err != nil {
			t.Fatalf("a clock %v off is refused: %v", d, err)
		}
	}
}

// TestServeHTTP: over HTTP, a refusal is a 403 with API Gateway's JSON
// message and error type, a clock-skew refusal carries the verifier's
// time in Date, and every request is recorded.
func TestServeHTTP(t *testing.T) {
	later := suiteTime.Add(time.Hour)
	v := suiteVerifier(suiteSecret, later)
	w := httptest.NewRecorder()
	v.ServeHTTP(w, suiteRequest("GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"))
	if w.Code != http.StatusForbidden || w.Header().Get("Date") != later.Format(http.TimeFormat) ||
		w.Header().Get("X-Amzn-Errortype") != "InvalidSignatureException" || !strings.HasPrefix(w.Body.String(), `{"message":"Signature expired: `) {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	r := suiteRequest("GET", "/", "")
	r.Header.Del("Authorization")
	v.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Missing Authentication Token") {
		t.Fatalf("unsigned: %d %s", w.Code, w.Body)
	}
	if seen := v.Seen(); len(seen) != 2 || seen[0].AmzDate != suiteDate || seen[0].Err == nil || seen[1].Err == nil {
		t.Fatalf("seen %+v", seen)
	}
}
