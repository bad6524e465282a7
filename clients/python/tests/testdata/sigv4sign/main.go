// Command sigv4sign signs one HTTP request with aws-sdk-go-v2's v4 signer
// and prints the signed headers as JSON, so the Python client's test can
// compare botocore's signature with Go's for the same request, time and
// credentials. Input (stdin, JSON): method, url, headers, body, time
// (RFC 3339), access_key, secret_key, session_token, region, service.
//
// With -verify ADDR it instead serves on ADDR a handler that answers 200
// only to requests whose Authorization equals the signature it computes
// for them (with the credentials from stdin and the request's own
// X-Amz-Date), and 403 otherwise: a stand-in for API Gateway's IAM
// authorizer. It prints its URL on the first line of stdout. When the
// input names an upstream (and upstream_token), verified requests are
// passed on to it with that bearer token instead, as API Gateway passes
// an authorized request to the API.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

type input struct {
	Method       string            `json:"method"`
	URL          string            `json:"url"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	Time         time.Time         `json:"time"`
	AccessKey    string            `json:"access_key"`
	SecretKey    string            `json:"secret_key"`
	SessionToken string            `json:"session_token"`
	Region       string            `json:"region"`
	Service      string            `json:"service"`
	Upstream     string            `json:"upstream"`
	UpstreamTok  string            `json:"upstream_token"`
}

func main() {
	verify := flag.String("verify", "", "serve a verifying handler on this address")
	flag.Parse()
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "decode input:", err)
		os.Exit(2)
	}
	creds := aws.Credentials{AccessKeyID: in.AccessKey, SecretAccessKey: in.SecretKey, SessionToken: in.SessionToken}
	if *verify != "" {
		serve(*verify, in, creds)
		return
	}
	req, err := http.NewRequest(in.Method, in.URL, bytes.NewReader([]byte(in.Body)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if in.Body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range in.Headers {
		req.Header.Set(k, v)
	}
	sign(req, []byte(in.Body), creds, in.Region, in.Service, in.Time)
	out := map[string]string{}
	for k := range req.Header {
		out[k] = req.Header.Get(k)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func sign(req *http.Request, body []byte, creds aws.Credentials, region, service string, t time.Time) {
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, t); err != nil {
		fmt.Fprintln(os.Stderr, "sign:", err)
		os.Exit(1)
	}
}

// serve verifies each request by signing a copy of it (the headers its
// Authorization names, its body, its X-Amz-Date) and comparing.
func serve(addr string, in input, creds aws.Credentials) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()
	var upstream http.Handler
	if in.Upstream != "" {
		u, err := url.Parse(in.Upstream)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		director := p.Director
		p.Director = func(r *http.Request) {
			director(r)
			r.Host = u.Host
			r.Header.Set("Authorization", "Bearer "+in.UpstreamTok)
		}
		upstream = p
	}
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := r.Header.Get("Authorization")
		t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil || got == "" {
			http.Error(w, `{"error":{"code":"forbidden","message":"not signed"}}`, http.StatusForbidden)
			return
		}
		_, signedList, _ := strings.Cut(got, "SignedHeaders=")
		signedList, _, _ = strings.Cut(signedList, ",")
		cp, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
		if len(body) == 0 {
			cp.Body, cp.ContentLength = http.NoBody, 0
		}
		for _, h := range strings.Split(signedList, ";") {
			if h != "host" && h != "content-length" {
				cp.Header.Set(h, r.Header.Get(h))
			}
		}
		cp.Header.Del("Authorization")
		sign(cp, body, creds, in.Region, in.Service, t)
		if cp.Header.Get("Authorization") != got {
			http.Error(w, `{"error":{"code":"forbidden","message":"signature does not match"}}`, http.StatusForbidden)
			return
		}
		if upstream != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			upstream.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"path":%q,"body_sha256":%q}`, r.Method, r.URL.Path, fmt.Sprintf("%x", sha256.Sum256(body)))
	}))
}
