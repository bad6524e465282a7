package lambdatest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRuntimeAPI runs testdata/fn (aws-lambda-go's real runtime loop) under
// the harness, natively and as the arm64 build under qemu: responses,
// function errors, a panic that ends the process, init errors and an exit
// during init each come back as Lambda reports them.
func TestRuntimeAPI(t *testing.T) {
	for _, arch := range Arches(t) {
		t.Run(arch.Label(), func(t *testing.T) {
			bin := Build(t, "./testdata/fn", arch.GOARCH)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()

			t.Run("invocations", func(t *testing.T) {
				f := Start(t, bin, arch, Options{Name: "echo"})
				if d, err := f.WaitInit(ctx); err != nil || d <= 0 {
					t.Fatalf("WaitInit = %v, %v", d, err)
				}
				var ids []string
				for _, n := range []int{1, 2} {
					r, err := f.Invoke(ctx, []byte(fmt.Sprintf(`{"echo":{"n":%d}}`, n)))
					if err != nil || r.Error != nil {
						t.Fatalf("Invoke: %v %v", r.Error, err)
					}
					var got struct {
						Echo        any    `json:"echo"`
						RequestID   string `json:"request_id"`
						FunctionARN string `json:"function_arn"`
						DeadlineIn  bool   `json:"deadline_in_future"`
						Function    string `json:"function_name"`
					}
					if err := json.Unmarshal(r.Payload, &got); err != nil {
						t.Fatalf("response %s: %v", r.Payload, err)
					}
					if m, _ := got.Echo.(map[string]any); m["n"] != float64(n) || got.RequestID != r.RequestID ||
						!strings.HasPrefix(got.FunctionARN, "arn:aws:lambda:") || !got.DeadlineIn || got.Function != "echo" {
						t.Errorf("response %+v for request %s", got, r.RequestID)
					}
					ids = append(ids, r.RequestID)
				}
				if ids[0] == ids[1] {
					t.Errorf("two invocations got one request id %s", ids[0])
				}
				r, err := f.Invoke(ctx, []byte(`{"fail":"no such model"}`))
				if err != nil || r.Error == nil || r.Payload != nil {
					t.Fatalf("failing invocation: %+v, %v", r, err)
				}
				if r.Error.Type != "errorString" || r.Error.Message != "no such model" {
					t.Errorf("function error %+v", r.Error)
				}
				// The process survives a function error and serves the next.
				if r, err := f.Invoke(ctx, []byte(`{"echo":1}`)); err != nil || r.Error != nil {
					t.Fatalf("after a function error: %+v, %v", r, err)
				}
				r, err = f.Invoke(ctx, []byte(`{"panic":"boom"}`))
				if err != nil || r.Error == nil || r.Error.Message != "boom" {
					t.Fatalf("panicking invocation: %+v, %v", r, err)
				}
				select {
				case <-f.Exited():
				case <-ctx.Done():
					t.Fatal("the process did not exit after a panic")
				}
				if _, err := f.Invoke(ctx, []byte(`{"echo":1}`)); err == nil || !strings.Contains(err.Error(), "exited") {
					t.Errorf("Invoke after exit: %v, want the exit", err)
				}
			})

			t.Run("init error", func(t *testing.T) {
				f := Start(t, bin, arch, Options{Env: []string{"LAMBDATEST_INIT_ERROR=1"}})
				select {
				case <-f.Server.InitErrorPosted():
				case <-ctx.Done():
					t.Fatal("no init/error")
				}
				ie := f.Server.InitError()
				if ie.Type != "Runtime.ConfigError" || ie.Message != "MODELREG_X is not set" {
					t.Errorf("init error %+v", ie)
				}
				if err := f.ExitErr(); err == nil {
					t.Error("exit status 0 after an init error")
				}
				if _, err := f.WaitInit(ctx); err == nil || !strings.Contains(err.Error(), "init/error") {
					t.Errorf("WaitInit: %v, want the init error", err)
				}
			})

			t.Run("exit during init", func(t *testing.T) {
				f := Start(t, bin, arch, Options{Env: []string{"LAMBDATEST_EXIT=1"}})
				if _, err := f.Invoke(ctx, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "exit status 3") {
					t.Errorf("Invoke: %v, want exit status 3", err)
				}
			})
		})
	}
}

// TestServerRefusals: answers for unknown request ids, a second init
// error and init/error after init are refused as Lambda refuses them.
func TestServerRefusals(t *testing.T) {
	s, err := NewServer(0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Address() + apiPrefix
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("invocation/nope/response", `{}`); c != http.StatusBadRequest {
		t.Errorf("response for an unknown id: %d, want 400", c)
	}
	if c := post("invocation/nope/error", `{}`); c != http.StatusBadRequest {
		t.Errorf("error for an unknown id: %d, want 400", c)
	}

	// A response is accepted once; the same id again is refused.
	inv := s.queueInvocation([]byte(`{"x":1}`))
	resp, err := http.Get(base + "invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	if id != inv.id || resp.Header.Get("Lambda-Runtime-Deadline-Ms") == "" {
		t.Fatalf("next headers %v", resp.Header)
	}
	if c := post("invocation/"+id+"/response", `"ok"`); c != http.StatusAccepted {
		t.Errorf("response: %d", c)
	}
	if r := <-inv.done; string(r.Payload) != `"ok"` {
		t.Errorf("result %+v", r)
	}
	if c := post("invocation/"+id+"/response", `"again"`); c != http.StatusBadRequest {
		t.Errorf("second response: %d, want 400", c)
	}
	if c := post("init/error", `{}`); c != http.StatusForbidden {
		t.Errorf("init/error after init: %d, want 403", c)
	}

	s2, err := NewServer(0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	base = "http://" + s2.Address() + apiPrefix
	if c := post("init/error", `{"errorType":"A","errorMessage":"b"}`); c != http.StatusAccepted {
		t.Errorf("init/error: %d, want 202", c)
	}
	if c := post("init/error", `{"errorType":"C","errorMessage":"d"}`); c != http.StatusForbidden {
		t.Errorf("second init/error: %d, want 403", c)
	}
	if ie := s2.InitError(); ie == nil || ie.Type != "A" || ie.Message != "b" {
		t.Errorf("InitError = %+v, want the first", ie)
	}
}

func TestEnvWith(t *testing.T) {
	base := map[string]string{"A": "1", "B": "2"}
	got := EnvWith(base, "B", "", "C", "3")
	if len(got) != 3 || got["A"] != "1" || got["B"] != "" || got["C"] != "3" || base["B"] != "2" || len(base) != 2 {
		t.Fatalf("EnvWith: %v (base %v)", got, base)
	}
}
