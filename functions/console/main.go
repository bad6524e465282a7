// Command console is the Lambda function behind the registry's API
// Gateway HTTP API that serves the web console (shared/console): its pages,
// sign-in and static files, at the paths API Gateway sends here (the rest
// go to the api function). It runs the same app as the api function
// (functions/internal/httpfn: DynamoDB, S3, the promotion state machine),
// so a page and an API call run the same service with the same rules.
// People sign in with OpenID Connect (a Cognito user pool); the console
// keeps its own sealed session cookie, so its routes carry no IAM
// authorizer. Configuration, from the environment: the api function's
// (MODELREG_DYNAMODB_TABLE, MODELREG_S3_BUCKET, MODELREG_S3_PREFIX,
// MODELREG_SECRET_ARN, MODELREG_STATE_MACHINE_ARN, MODELREG_WEBHOOK_KMS_KEY,
// MODELREG_SAGEMAKER_PREFIX, MODELREG_SAGEMAKER_ROLES, and the emulator
// endpoints) but MODELREG_IAM_ROLES, plus the sign-in:
//
//	MODELREG_OIDC_ISSUER, MODELREG_OIDC_AUTHORIZE_URL, MODELREG_OIDC_TOKEN_URL,
//	MODELREG_OIDC_JWKS_URL, MODELREG_OIDC_CLIENT_ID, MODELREG_OIDC_REDIRECT_URL,
//	MODELREG_OIDC_GROUP_ROLES (JSON {"group":"role"}), and optionally
//	MODELREG_OIDC_CLIENT_SECRET_ARN (a confidential client's secret):
//	                                all or none. Without them nobody could sign
//	                                in, so every page answers 404 saying the
//	                                console is turned off (console.Off).
//
// It is a function of its own because the console's templates cost the api
// function 2 MB: html/template's reflection keeps every exported method of
// a binary alive.
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/functions/internal/httpfn"
	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secret"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, _, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("console: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// offReason is what the console's pages answer without OIDC.
const offReason = "This registry's web console has no sign-in configured (the stack's OIDC settings, MODELREG_OIDC_*), so it is turned off. " +
	"The API (/v1) and the MLflow API (/api) answer requests signed with SigV4."

// setup builds the AWS clients, reads the secrets and wires the app and
// the console, once.
func setup(ctx context.Context, env func(string) string, log *slog.Logger) (httpfn.Handler, *app.App, error) {
	return httpfn.Setup(ctx, "console", env, log, func(ctx context.Context, a *app.App, sec *secret.Reader) (http.Handler, error) {
		oidc, err := oidcConfig(ctx, env, sec)
		if err != nil {
			return nil, err
		}
		if oidc == nil {
			return console.Off(offReason), nil
		}
		return console.New(a.Service, nil, console.Options{Key: a.ConsoleKey(), Logger: log, OIDC: oidc})
	})
}

// oidcVars are the console's OIDC settings, all required when one is set.
var oidcVars = []string{"MODELREG_OIDC_ISSUER", "MODELREG_OIDC_AUTHORIZE_URL", "MODELREG_OIDC_TOKEN_URL",
	"MODELREG_OIDC_JWKS_URL", "MODELREG_OIDC_CLIENT_ID", "MODELREG_OIDC_REDIRECT_URL", "MODELREG_OIDC_GROUP_ROLES"}

// oidcConfig returns the console's OIDC sign-in, or nil when none of its
// settings is set. Some but not all set, a URL that is not https, or a
// group mapping that does not parse is an error naming the setting.
func oidcConfig(ctx context.Context, env func(string) string, sec *secret.Reader) (*console.OIDC, error) {
	var set, missing []string
	for _, k := range oidcVars {
		if strings.TrimSpace(env(k)) == "" {
			missing = append(missing, k)
		} else {
			set = append(set, k)
		}
	}
	if len(set) == 0 && env("MODELREG_OIDC_CLIENT_SECRET_ARN") == "" {
		return nil, nil
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("console sign-in: %s set but %s not: set all of them, or none to turn the console off",
			strings.Join(set, ", "), strings.Join(missing, ", "))
	}
	o := &console.OIDC{
		Issuer: env("MODELREG_OIDC_ISSUER"), AuthorizeURL: env("MODELREG_OIDC_AUTHORIZE_URL"), TokenURL: env("MODELREG_OIDC_TOKEN_URL"),
		JWKSURL: env("MODELREG_OIDC_JWKS_URL"), ClientID: env("MODELREG_OIDC_CLIENT_ID"), RedirectURL: env("MODELREG_OIDC_REDIRECT_URL"),
	}
	for k, v := range map[string]string{"MODELREG_OIDC_ISSUER": o.Issuer, "MODELREG_OIDC_AUTHORIZE_URL": o.AuthorizeURL,
		"MODELREG_OIDC_TOKEN_URL": o.TokenURL, "MODELREG_OIDC_JWKS_URL": o.JWKSURL, "MODELREG_OIDC_REDIRECT_URL": o.RedirectURL} {
		if !strings.HasPrefix(v, "https://") {
			return nil, fmt.Errorf("console sign-in: %s=%q: give an https:// URL", k, v)
		}
	}
	var groups map[string]string
	dec := json.NewDecoder(bytes.NewReader([]byte(env("MODELREG_OIDC_GROUP_ROLES"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&groups); err != nil {
		return nil, fmt.Errorf(`console sign-in: MODELREG_OIDC_GROUP_ROLES: %v (want {"group":"role"})`, err)
	}
	o.GroupRoles = map[string]registry.Role{}
	for g, r := range groups {
		role, err := registry.ParseRole(r)
		if err != nil {
			return nil, fmt.Errorf("console sign-in: MODELREG_OIDC_GROUP_ROLES: group %q: %v", g, err)
		}
		o.GroupRoles[g] = role
	}
	if len(o.GroupRoles) == 0 {
		return nil, fmt.Errorf("console sign-in: MODELREG_OIDC_GROUP_ROLES maps no group to a role")
	}
	cs, err := sec.FromEnv(ctx, env, "MODELREG_OIDC_CLIENT_SECRET_ARN", "")
	if err != nil {
		return nil, err
	}
	o.ClientSecret = cs
	return o, nil
}
