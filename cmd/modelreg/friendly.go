package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/modelreg/modelreg/shared/client"
)

// hintError adds what to do to an error; errors.Is and errors.As still
// see the original (the exit code does not change).
type hintError struct {
	msg string
	err error
}

func (e hintError) Error() string { return e.msg }
func (e hintError) Unwrap() error { return e.err }

// explain turns the errors a newcomer meets first into messages that say
// what to do: a server that is not running, a host that does not resolve,
// a missing or refused token. args are the verb's arguments (to tell
// whether --token was given).
func explain(err error, args []string) error {
	base := flagValue(args, "url", os.Getenv("MODELREG_URL"))
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	base = redactURL(base)
	// A network failure: its Go text (Get "…": dial tcp …) is replaced by
	// what to do, keeping whatever context the command wrapped it in.
	var ue *url.Error
	if errors.As(err, &ue) {
		var dns *net.DNSError
		friendly := ""
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			friendly = fmt.Sprintf("cannot reach modelreg at %s (connection refused): is `modelreg serve` running? set MODELREG_URL or --url", base)
		case errors.As(err, &dns):
			friendly = fmt.Sprintf("cannot reach modelreg at %s: host %q not found: check MODELREG_URL or --url", base, dns.Name)
		}
		if friendly != "" {
			return hintError{strings.Replace(err.Error(), ue.Error(), friendly, 1), err}
		}
	}
	var ae *client.APIError
	sigv4 := strings.EqualFold(flagValue(args, "auth", envOr("MODELREG_AUTH", authToken)), authSigV4)
	switch {
	case sigv4 && errors.Is(err, client.ErrCredentials):
		return hintError{fmt.Sprintf("%v\n--auth sigv4 found no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (aws sso login for an SSO profile), or run with a role", err), err}
	case sigv4 && client.IsStatus(err, http.StatusUnauthorized):
		return hintError{fmt.Sprintf("%v\nthe server asked for a token, but --auth sigv4 sends none: it is not behind API Gateway's IAM authorizer (use --auth token with MODELREG_TOKEN)", err), err}
	case sigv4 && errors.As(err, &ae) && ae.Status == http.StatusForbidden && ae.Code == "http_403":
		return hintError{fmt.Sprintf("%v\nAPI Gateway refused the signed request: check the AWS credentials (aws sts get-caller-identity), the region signed for (AWS_REGION, MODELREG_AWS_REGION), and that the caller may execute-api:Invoke this API (docs/deploy.md)", err), err}
	case client.IsStatus(err, http.StatusUnauthorized) && flagValue(args, "token", os.Getenv("MODELREG_TOKEN")) == "":
		return hintError{fmt.Sprintf("%v\nno token given: set MODELREG_TOKEN or pass --token (a local server writes its first admin token to DATA-DIR/admin-token, ~/.modelreg by default)", err), err}
	case client.IsStatus(err, http.StatusUnauthorized):
		return hintError{fmt.Sprintf("%v\nthe token in MODELREG_TOKEN or --token was refused: ask an admin for a valid one (modelreg tokens add|rotate)", err), err}
	}
	return err
}

// flagValue returns the value of --name (or -name, --name=V) on the
// command line, else def.
func flagValue(args []string, name, def string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		n, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || n != name {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	return def
}

// errorText is how an error is printed: the server's message (which the
// server's caller may have written: a name, a reason) fully escaped, the
// rest with its newlines kept and everything else unprintable escaped.
func errorText(err error) string {
	msg := err.Error()
	var ae *client.APIError
	if errors.As(err, &ae) {
		msg = strings.Replace(msg, ae.Error(), clean(ae.Error()), 1)
	}
	return cleanLines(msg)
}

// checkURL refuses a registry URL that is not http(s)://HOST[:PORT][/PATH]
// with a message that shows the fix.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	hint := "e.g. http://127.0.0.1:8080"
	if !strings.Contains(s, "://") {
		hint = fmt.Sprintf("did you mean http://%s?", redactURL(s))
	}
	return usagef("registry URL %q (from --url or MODELREG_URL) needs a scheme and a host: %s", redactURL(s), hint)
}
