package console

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOff: every page answers 404 with the reason escaped as HTML, with
// no form or script; HEAD has no body; no reason gives the default one.
func TestOff(t *testing.T) {
	h := Off("set MODELREG_OIDC_* & co <b>")
	for _, p := range []string{"/", "/login", "/models/m", "/approvals/x", "/static/console.css"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		b, _ := io.ReadAll(w.Result().Body)
		body := string(b)
		if w.Code != 404 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "set MODELREG_OIDC_* &amp; co &lt;b&gt;") || strings.Contains(body, "<form") || strings.Contains(body, "<script") {
			t.Errorf("%s: %d %q, want the 404 page with the reason", p, w.Code, body)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("HEAD", "/", nil))
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Errorf("HEAD /: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	Off("").ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 404 || !strings.Contains(w.Body.String(), "no sign-in configured") {
		t.Errorf("default reason: %d %q", w.Code, w.Body.String())
	}
}
