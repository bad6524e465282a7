package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
)

// TestRegisterCreatesMissingModel: register creates a missing model and
// says so; --no-create refuses it with exit code 3 and creates nothing.
func TestRegisterCreatesMissingModel(t *testing.T) {
	s := startServer(t, t.TempDir())
	r := s.cli(adminToken, "register", "fraud_modle", "--no-create", "--source", "s3://b/k").wantCode(t, exitNotFound)
	if !strings.Contains(r.stderr, "does not exist") || !strings.Contains(r.stderr, "--no-create") {
		t.Errorf("--no-create on a missing model said: %s", r.stderr)
	}
	c := client.New(s.url, adminToken)
	if _, err := c.GetModel(context.Background(), "fraud_modle"); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("--no-create created the model (GetModel: %v)", err)
	}
	r = s.cli(adminToken, "register", "fraud_modle", "--source", "s3://b/k").must(t)
	if !strings.Contains(r.stderr, "created model fraud_modle") {
		t.Errorf("register of a missing model did not say it created it: %s", r.stderr)
	}
	r = s.cli(adminToken, "register", "fraud_modle", "--no-create", "--source", "s3://b/k").must(t)
	if strings.Contains(r.stderr, "created model") {
		t.Errorf("second registration claims to create the model: %s", r.stderr)
	}
}

// TestRegisterLosesCreateRace: when another first registration creates the
// model between this one's 404 and its create (the create answers 409),
// register goes on and registers instead of failing.
func TestRegisterLosesCreateRace(t *testing.T) {
	s := startServer(t, t.TempDir())
	target, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.url, adminToken)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var raced atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/models" && raced.CompareAndSwap(false, true) {
			// A concurrent registration wins the create just before ours.
			if _, err := c.CreateModel(r.Context(), httpapi.NewModel{Name: "dstorm"}); err != nil {
				t.Errorf("concurrent create: %v", err)
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	r := runBinary(t, append(os.Environ(), "MODELREG_URL="+front.URL, "MODELREG_TOKEN="+adminToken),
		"register", "dstorm", "--source", "s3://b/k", "--output", "json").must(t)
	if !raced.Load() {
		t.Fatal("register never tried to create the model")
	}
	if strings.Contains(r.stderr, "created model") {
		t.Errorf("register claims to have created a model another caller created: %s", r.stderr)
	}
	var v httpapi.Version
	decode(t, r.stdout, &v)
	if v.Number != 1 {
		t.Errorf("registered version %d, want 1", v.Number)
	}
}
