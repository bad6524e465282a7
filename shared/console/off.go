package console

import (
	"html/template"
	"net/http"
)

// DefaultOffReason is what Off's page says when given no reason.
const DefaultOffReason = "This registry's web console has no sign-in configured, so it is turned off. The API (/v1) and the MLflow API (/api) answer as usual."

var offPage = template.Must(template.New("off").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Console turned off · modelreg</title></head>
<body><h1>Console turned off</h1><p>{{.}}</p></body></html>
`))

// Off answers every request 404 with reason as a small HTML page (no
// script, no form, nothing to sign in to): the console where nobody could
// sign in (the console function without OIDC settings).
func Off(reason string) http.Handler {
	if reason == "" {
		reason = DefaultOffReason
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			offPage.Execute(w, reason) //nolint:errcheck // the client went away
		}
	})
}
