// Command modelreg is the model registry's CLI and its local server.
//
//	modelreg serve                      run the whole registry on this machine
//	modelreg register NAME --artifact model.bin --metric accuracy=0.93
//	modelreg help                       every verb
//
// Client verbs read MODELREG_URL and MODELREG_TOKEN (or --url, --token), or
// sign with AWS SigV4 (--auth sigv4, MODELREG_AUTH=sigv4), and exit with a
// code CI can act on (see exitCodes).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/modelreg/modelreg/shared/client"
)

// buildVersion is set at link time (-ldflags "-X main.buildVersion=…").
var buildVersion = "dev"

// Exit codes.
const (
	exitOK             = 0
	exitError          = 1 // network failure, server error, anything unexpected
	exitUsage          = 2 // bad flags or arguments, or the server said the request is invalid
	exitNotFound       = 3
	exitConflict       = 4 // the state does not allow it (already in stage, not READY, …)
	exitAuth           = 5 // missing, unknown or insufficient token
	exitChecksum       = 6 // a download did not match its recorded SHA-256
	exitNotImplemented = 7
)

const exitCodesHelp = `Exit codes: 0 ok, 1 error (network, server), 2 usage or invalid request,
3 not found, 4 conflict, 5 not authorized, 6 checksum mismatch, 7 not implemented.`

type command struct {
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

var commands = map[string]command{
	"serve":     {"run the registry on this machine (SQLite, files on disk)", runServe},
	"tokens":    {"manage the local server's API tokens (add, list)", runTokens},
	"models":    {"list models; models create|get|update|delete NAME", runModels},
	"register":  {"register a new version of NAME (uploads --artifact files)", runRegister},
	"upload":    {"upload files to a version waiting for them (--resume finishes a failed upload)", runUpload},
	"download":  {"download a version's files and verify their checksums", runDownload},
	"versions":  {"list a model's versions, or show one", runVersions},
	"promote":   {"move a version to another stage", runPromote},
	"archive":   {"archive versions (or all but the newest: --keep-last N)", runArchive},
	"alias":     {"list, show, set or delete aliases", runAlias},
	"stage":     {"show the version in a stage (--at TIME for Production then)", runStage},
	"metrics":   {"push metrics measured after deployment", runMetrics},
	"history":   {"show the audit trail of a model or version", runHistory},
	"compare":   {"compare versions side by side (--by METRIC ranks them)", runCompare},
	"approvals": {"list approvals, or show, approve, reject or cancel one", runApprovals},
	"rollback":  {"return Production to an earlier version (no approval: the emergency path)", runRollback},
	"whoami":    {"show who the token belongs to", runWhoami},
	"delete":    {"delete versions, or a model with all its versions (admin)", runDelete},
	"copy":      {"copy a registry to other backends (e.g. SQLite + files to DynamoDB + S3)", runCopy},
	"version": {"print the CLI's version", func(_ context.Context, _ []string, out io.Writer) error {
		_, err := fmt.Fprintln(out, "modelreg", buildVersion)
		return err
	}},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	args = hoistGlobals(args)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 2 && args[0] == "help" {
			if _, ok := commands[args[1]]; ok {
				return run(ctx, []string{args[1], "--help"}, out, errOut)
			}
		}
		usage(out)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		hint := ""
		if s := closest(args[0], slices.Collect(maps.Keys(commands))); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
		fmt.Fprintf(errOut, "modelreg: unknown command %q%s: run 'modelreg help' for the list\n", clean(args[0]), hint)
		return exitUsage
	}
	err := cmd.run(ctx, args[1:], out)
	if err == nil {
		return exitOK
	}
	var help helpRequest
	if errors.As(err, &help) {
		fmt.Fprint(out, help.text)
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(errOut, "modelreg %s: %s\n", args[0], errorText(explain(err, args[1:])))
	return exitCode(err)
}

func usage(out io.Writer) {
	fmt.Fprintln(out, "modelreg: a model registry.\n\nUsage: modelreg COMMAND [flags] [args]\n\nCommands:")
	names := slices.Sorted(maps.Keys(commands))
	for _, n := range names {
		fmt.Fprintf(out, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(out, "\nClient commands read MODELREG_URL (default http://127.0.0.1:8080) and MODELREG_TOKEN,")
	fmt.Fprintln(out, "or --url and --token; --output json prints machine-readable results.")
	fmt.Fprintln(out, "--auth sigv4 (or MODELREG_AUTH=sigv4) signs requests with AWS SigV4 for a registry behind")
	fmt.Fprintln(out, "API Gateway: credentials from the default AWS chain (env, profile/SSO, web identity, ECS or")
	fmt.Fprintln(out, "EC2 role), region from MODELREG_AWS_REGION, the execute-api URL or AWS_REGION; no token is")
	fmt.Fprintln(out, "sent and MODELREG_TOKEN is ignored. Global flags may also stand before the command.")
	fmt.Fprint(out, "Run 'modelreg COMMAND --help' (or 'modelreg help COMMAND') for what it does, its flags and an example.\n\n")
	fmt.Fprintln(out, exitCodesHelp)
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	if errors.Is(err, client.ErrChecksum) {
		return exitChecksum
	}
	if errors.Is(err, client.ErrCredentials) {
		return exitAuth
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case 400, 405, 413, 415, 422:
			return exitUsage
		case 401, 403:
			return exitAuth
		case 404:
			return exitNotFound
		case 409:
			return exitConflict
		case 501:
			return exitNotImplemented
		}
	}
	return exitError
}

// globals are the flags every client command takes.
type globals struct {
	url, token, output, auth string
	// sigv4 signs the requests when auth is sigv4 (set by parse).
	sigv4 *client.SigV4
}

func (g *globals) client() *client.Client {
	c := client.New(g.url, g.token)
	c.UserAgent = "modelreg-cli/" + buildVersion
	if g.sigv4 != nil {
		c.Token, c.SigV4 = "", g.sigv4
	}
	return c
}

// Authentication modes (--auth, MODELREG_AUTH). authBearer is what the
// Python client calls authToken; both read MODELREG_AUTH, so the CLI takes
// either name (in any case).
const (
	authToken  = "token"
	authBearer = "bearer"
	authSigV4  = "sigv4"
)

// globalFlags are the client flags that may also stand before the
// command ("modelreg --auth sigv4 models"), with whether they take a value.
var globalFlags = map[string]bool{"url": true, "token": true, "output": true, "auth": true}

// hoistGlobals moves global flags given before the command to just after
// it, where the command's flag set parses them. Anything else before the
// command is left for run to refuse.
func hoistGlobals(args []string) []string {
	var lead []string
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" && args[i] != "--" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !globalFlags[name] || (!hasValue && i+1 >= len(args)) {
			break
		}
		lead = append(lead, args[i])
		if !hasValue {
			lead = append(lead, args[i+1])
			i++
		}
		i++
	}
	if len(lead) == 0 || i >= len(args) || strings.HasPrefix(args[i], "-") {
		return args
	}
	return slices.Concat([]string{args[i]}, lead, args[i+1:])
}

func (g *globals) json() bool { return g.output == "json" }

// newFlags returns a flag set for a client command with the global flags.
// The token's default is not the flag's default (help would print it):
// parse reads MODELREG_TOKEN when --token is not given.
func newFlags(name, argsHelp string) (*flag.FlagSet, *globals) {
	fs := newPlainFlags(name, argsHelp)
	g := &globals{}
	fs.StringVar(&g.url, "url", envOr("MODELREG_URL", "http://127.0.0.1:8080"), "registry URL (env MODELREG_URL)")
	fs.StringVar(&g.token, "token", "", "API token (default: env MODELREG_TOKEN; not used with --auth sigv4)")
	fs.StringVar(&g.output, "output", "text", "output format: text or json")
	fs.StringVar(&g.auth, "auth", envOr("MODELREG_AUTH", authToken), "token (the bearer token of --token or MODELREG_TOKEN; also spelled bearer, as the Python client does) or sigv4 (AWS SigV4 with the default AWS credentials, for API Gateway; MODELREG_TOKEN is ignored) (env MODELREG_AUTH)")
	return fs, g
}

// parse parses flags that may stand before, between or after the
// positional arguments, and checks the output format and the URL.
func parse(fs *flag.FlagSet, g *globals, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if g == nil {
		return pos, nil
	}
	if g.output != "text" && g.output != "json" {
		return nil, usagef("--output must be text or json")
	}
	if err := checkURL(g.url); err != nil {
		return nil, err
	}
	g.auth = strings.ToLower(g.auth)
	switch g.auth {
	case authToken, authBearer:
		if !flagSet(fs, "token") {
			g.token = os.Getenv("MODELREG_TOKEN")
		}
	case authSigV4:
		if flagSet(fs, "token") {
			return nil, usagef("--token cannot be used with --auth sigv4: requests are signed with AWS credentials instead")
		}
		g.token = ""
		s, err := client.LoadSigV4(context.Background(), g.url)
		if errors.Is(err, client.ErrNoRegion) {
			return nil, usagef("%v", err)
		}
		if err != nil {
			return nil, err
		}
		g.sigv4 = s
	default:
		return nil, usagef("--auth (or MODELREG_AUTH) must be token (or bearer) or sigv4, not %q", clean(g.auth))
	}
	return pos, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// keyValues parses k=v pairs.
func keyValues(flagName string, l []string) (map[string]string, error) {
	if len(l) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(l))
	for _, kv := range l {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: want KEY=VALUE", flagName, kv)
		}
		m[k] = v
	}
	return m, nil
}
