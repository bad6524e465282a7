// Package sigv4test checks AWS Signature Version 4 the way API Gateway's
// IAM authorizer does, for tests of signing clients. It is written from
// AWS's description of the algorithm ("Create a signed AWS API request" in
// the IAM user guide) and shares no code with aws-sdk-go-v2's signer, so a
// test that passes proves the client signs as AWS computes, not merely as
// the SDK does; its own test checks it on AWS's published test vectors
// (get-vanilla and others of the aws-sig-v4 test suite).
//
// A Verifier answers a request whose signature does not hold with 403 and
// API Gateway's message (a clock more than five minutes off gets the
// "Signature expired" or "Signature not yet current" message and the
// verifier's time in its Date header), and passes a verified one to Next.
package sigv4test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Algorithm is the only signing algorithm SigV4 header signatures use.
const Algorithm = "AWS4-HMAC-SHA256"

// amzDateFormat is X-Amz-Date's form (ISO 8601 basic, UTC).
const amzDateFormat = "20060102T150405Z"

// MaxSkew is how far a signature's time may be from the verifier's clock,
// either way, as on API Gateway.
const MaxSkew = 5 * time.Minute

// Key is one set of credentials a Verifier accepts.
type Key struct {
	AccessKeyID, SecretAccessKey string
	// SessionToken, if set, must arrive in X-Amz-Security-Token
	// (temporary credentials); if empty, that header must be absent.
	SessionToken string
}

// Seen is one request a Verifier received and what it found.
type Seen struct {
	Method, Path, RawQuery string
	// AmzDate, Signature and AccessKeyID are from the request's
	// X-Amz-Date and Authorization.
	AmzDate, Signature, AccessKeyID string
	// SignedHeaders is the request's SignedHeaders list.
	SignedHeaders  []string
	IdempotencyKey string
	// Err is why the request was refused, nil if it was verified.
	Err error
}

// Verifier is an http.Handler that verifies SigV4 signatures.
type Verifier struct {
	// Region and Service are what the credential scope must name.
	Region, Service string
	// Keys are the accepted credentials.
	Keys []Key
	// Now is the verifier's clock (default time.Now).
	Now func() time.Time
	// Next receives verified requests, their Authorization and
	// X-Amz-Security-Token headers removed and their body intact.
	Next http.Handler

	mu   sync.Mutex
	seen []Seen
}

// Seen returns the requests received so far, in order.
func (v *Verifier) Seen() []Seen {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.seen)
}

// refusal is a 403 with API Gateway's error type and message.
type refusal struct {
	errType, message string
	date             time.Time // set for clock skew: the verifier's time
}

func (r *refusal) Error() string { return r.errType + ": " + r.message }

func refuse(errType, format string, args ...any) error {
	return &refusal{errType: errType, message: fmt.Sprintf(format, args...)}
}

const msgMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func (v *Verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	seen, err := v.Verify(r, body)
	v.mu.Lock()
	v.seen = append(v.seen, seen)
	v.mu.Unlock()
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			rf = &refusal{errType: "InvalidSignatureException", message: err.Error()}
		}
		if !rf.date.IsZero() {
			w.Header().Set("Date", rf.date.UTC().Format(http.TimeFormat))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", rf.errType)
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": rf.message})
		return
	}
	r.Header.Del("Authorization")
	r.Header.Del("X-Amz-Security-Token")
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if v.Next == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	v.Next.ServeHTTP(w, r)
}

// Verify checks the signature of r, whose body is body, against the
// verifier's keys and clock.
func (v *Verifier) Verify(r *http.Request, body []byte) (Seen, error) {
	seen := Seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		AmzDate: r.Header.Get("X-Amz-Date"), IdempotencyKey: r.Header.Get("Idempotency-Key")}
	auth, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		seen.Err = err
		return seen, err
	}
	seen.Signature, seen.AccessKeyID, seen.SignedHeaders = auth.Signature, auth.AccessKeyID, auth.SignedHeaders
	seen.Err = v.verify(r, body, auth)
	return seen, seen.Err
}

func (v *Verifier) verify(r *http.Request, body []byte, auth Authorization) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	var key *Key
	for i := range v.Keys {
		if v.Keys[i].AccessKeyID == auth.AccessKeyID {
			key = &v.Keys[i]
		}
	}
	if key == nil {
		return refuse("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return refuse("IncompleteSignatureException", "X-Amz-Date %q is not of the form 20060102T150405Z", amzDate)
	}
	if auth.Date != amzDate[:8] {
		return refuse("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", auth.Date, amzDate[:8])
	}
	if auth.Region != v.Region || auth.Service != v.Service || auth.Terminator != "aws4_request" {
		return refuse("InvalidSignatureException", "Credential should be scoped to a valid region and service: want %s/%s/aws4_request, got %s/%s/%s", v.Region, v.Service, auth.Region, auth.Service, auth.Terminator)
	}
	if !slices.Contains(auth.SignedHeaders, "host") || !slices.Contains(auth.SignedHeaders, "x-amz-date") {
		return refuse("IncompleteSignatureException", "SignedHeaders must include host and x-amz-date, got %s", strings.Join(auth.SignedHeaders, ";"))
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != key.SessionToken {
		return refuse("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	server := now().UTC().Truncate(time.Second)
	if at.Before(server.Add(-MaxSkew)) {
		return &refusal{errType: "InvalidSignatureException", date: server, message: fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 5 min.)", amzDate, server.Add(-MaxSkew).Format(amzDateFormat), server.Format(amzDateFormat))}
	}
	if at.After(server.Add(MaxSkew)) {
		return &refusal{errType: "InvalidSignatureException", date: server, message: fmt.Sprintf(
			"Signature not yet current: %s is still later than %s (%s + 5 min.)", amzDate, server.Add(MaxSkew).Format(amzDateFormat), server.Format(amzDateFormat))}
	}
	creq, err := CanonicalRequest(r, auth.SignedHeaders, HashHex(body))
	if err != nil {
		return refuse("IncompleteSignatureException", "%v", err)
	}
	sts := StringToSign(amzDate, auth.Scope(), creq)
	want := Signature(SigningKey(key.SecretAccessKey, auth.Date, auth.Region, auth.Service), sts)
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth.Signature)) != 1 {
		return refuse("InvalidSignatureException", "%s\n\nThe Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign should have been\n'%s'", msgMismatch, creq, sts)
	}
	return nil
}

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	AccessKeyID, Date, Region, Service, Terminator string
	SignedHeaders                                  []string
	Signature                                      string
}

// Scope is the credential scope: DATE/REGION/SERVICE/aws4_request.
func (a Authorization) Scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/" + a.Terminator
}

// ParseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX".
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	if h == "" {
		return a, refuse("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != Algorithm {
		return a, refuse("IncompleteSignatureException", "Authorization header requires the %s algorithm: %q", Algorithm, h)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, refuse("IncompleteSignatureException", "Authorization header part %q is not KEY=VALUE", part)
		}
		fields[k] = val
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || fields["SignedHeaders"] == "" || len(fields["Signature"]) != 64 {
		return a, refuse("IncompleteSignatureException", "Authorization header requires Credential (5 parts), SignedHeaders and Signature: %q", h)
	}
	a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator = cred[0], cred[1], cred[2], cred[3], cred[4]
	a.SignedHeaders = strings.Split(fields["SignedHeaders"], ";")
	a.Signature = fields["Signature"]
	return a, nil
}

// CanonicalRequest builds the canonical request of r as AWS defines it:
//
//	METHOD
//	canonical URI (the path as sent, URI-encoded once more)
//	canonical query (names and values URI-encoded, sorted)
//	canonical headers (lowercase name:trimmed value, one a line, sorted)
//	<empty line ending the headers>
//	signed headers (name;name)
//	hex SHA-256 of the body
//
// signedHeaders must be lowercase and sorted, as a signer sends them.
func CanonicalRequest(r *http.Request, signedHeaders []string, bodyHash string) (string, error) {
	if !slices.IsSorted(signedHeaders) {
		return "", fmt.Errorf("SignedHeaders %s are not sorted", strings.Join(signedHeaders, ";"))
	}
	rawPath := r.URL.EscapedPath()
	if r.RequestURI != "" {
		rawPath, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if rawPath == "" {
		rawPath = "/"
	}
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(uriEncode(rawPath, false) + "\n")
	b.WriteString(query + "\n")
	for _, name := range signedHeaders {
		if name != strings.ToLower(name) {
			return "", fmt.Errorf("signed header %q is not lowercase", name)
		}
		var values []string
		switch name {
		case "host":
			values = []string{r.Host}
		case "content-length":
			values = r.Header.Values("Content-Length")
			if len(values) == 0 {
				values = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			values = r.Header.Values(name)
		}
		if len(values) == 0 {
			return "", fmt.Errorf("signed header %q is not in the request", name)
		}
		for i, val := range values {
			values[i] = strings.Join(strings.Fields(val), " ")
		}
		b.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(signedHeaders, ";") + "\n")
	b.WriteString(bodyHash)
	return b.String(), nil
}

// canonicalQuery decodes each name=value of a raw query (a "+" is a
// literal plus: SigV4 sends a space as %20), encodes both again with
// uriEncode and sorts the pairs by name, then value.
func canonicalQuery(raw string) (string, error) {
	var pairs []string
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, val, _ := strings.Cut(p, "=")
		dk, err := url.PathUnescape(k)
		if err != nil {
			return "", fmt.Errorf("query name %q: %w", k, err)
		}
		dv, err := url.PathUnescape(val)
		if err != nil {
			return "", fmt.Errorf("query value %q: %w", val, err)
		}
		pairs = append(pairs, uriEncode(dk, true)+"="+uriEncode(dv, true))
	}
	slices.SortFunc(pairs, func(a, b string) int {
		ak, av, _ := strings.Cut(a, "=")
		bk, bv, _ := strings.Cut(b, "=")
		if c := strings.Compare(ak, bk); c != 0 {
			return c
		}
		return strings.Compare(av, bv)
	})
	return strings.Join(pairs, "&"), nil
}

// uriEncode is AWS's UriEncode: every byte but the unreserved characters
// A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase hex); "/" too when encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// StringToSign is "AWS4-HMAC-SHA256\nAMZDATE\nSCOPE\nhex(SHA-256(creq))".
func StringToSign(amzDate, scope, canonicalRequest string) string {
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + HashHex([]byte(canonicalRequest))
}

// SigningKey derives the key: HMAC chains from "AWS4"+secret over the
// date, region, service and "aws4_request".
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// Signature is hex(HMAC-SHA256(signingKey, stringToSign)).
func Signature(signingKey []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(signingKey, stringToSign))
}

// HashHex is the lowercase hex SHA-256 of b.
func HashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// Proxy passes requests on to the server at upstream with a bearer token,
// as API Gateway passes an authorized request to the API.
func Proxy(upstream, token string) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Header.Set("Authorization", "Bearer "+token)
	}}, nil
}

// Presigned stands in front of the server presigned URLs point at and
// refuses, as S3 does, any request that carries an Authorization header or
// SigV4 headers besides the URL's own signature: a client that signed a
// presigned upload or download would fail against S3.
type Presigned struct {
	Next http.Handler

	mu           sync.Mutex
	ok, refused  int
	refusedFirst string
}

// Counts returns how many requests passed and how many were refused, and
// the first refusal's reason.
func (p *Presigned) Counts() (passed, refused int, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok, p.refused, p.refusedFirst
}

func (p *Presigned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var why string
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := r.Header.Get(h); v != "" && why == "" {
			why = fmt.Sprintf("%s %s carries %s: %.40s", r.Method, r.URL.Path, h, v)
		}
	}
	p.mu.Lock()
	if why != "" {
		p.refused++
		if p.refusedFirst == "" {
			p.refusedFirst = why
		}
	} else {
		p.ok++
	}
	p.mu.Unlock()
	if why != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>`)
		return
	}
	p.Next.ServeHTTP(w, r)
}
