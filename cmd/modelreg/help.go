package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// verbHelp is what `modelreg VERB --help` says beyond the flags: what the
// verb does, its arguments, and one example.
type verbHelp struct {
	about   string
	example string
}

var verbHelps = map[string]verbHelp{
	"copy": {
		about: `Copies a registry to other backends: models, versions, aliases, approvals,
policies, deploy targets, deployments, the audit trail and every file of the READY
versions, each streamed and SHA-256 verified by the target before its version is
written. Stop the servers on both first. Run it again after an interruption: it
finishes the copy, and a repeated run writes nothing. Backends: sqlite:DIR (files
in DIR/artifacts), dynamodb:TABLE,s3:BUCKET, or a mix with files:DIR; endpoints
and region come from the same flags as serve. Upload sessions in progress,
workflow executions and the event outbox are not copied: a version waiting for
files arrives waiting, without a session. Webhook deploy targets keep their
sealed secrets: rotate them on the target unless it has the same key.`,
		example: "modelreg copy --from sqlite:$HOME/.modelreg --to dynamodb:modelreg,s3:acme-models",
	},
	"serve": {
		about: `Runs the whole registry on this machine: SQLite for records and files on disk
for artifacts (or DynamoDB and S3 with --store and --artifacts). Takes no
arguments. On the first start it creates an admin token: MODELREG_ADMIN_TOKEN
if set (at least 16 characters, no spaces), otherwise a random one written to
DATA-DIR/admin-token.`,
		example: "modelreg serve --addr 127.0.0.1:9090 --data-dir ./registry-data",
	},
	"tokens": {
		about: `Manages the local server's API tokens, in DATA-DIR/tokens.json (only hashes are
stored). A running server picks changes up within a second, without a restart.
  add NAME --role ROLE [--expires D]  new token, printed once (roles: reader,
                                      publisher, approver, admin); --expires takes
                                      a duration (720h, 30d) or an RFC 3339 time
  rotate NAME [--expires D]           replace NAME's token, printed once; the old
                                      one stops working; same role
  revoke NAME                         delete NAME's token (the last admin token
                                      cannot be revoked)
  list                                names, roles and expiry times`,
		example: "modelreg tokens add ci-bot --role publisher --expires 720h",
	},
	"models": {
		about: `Without arguments, lists models. With an action and a model NAME:
  create NAME   create a model (--description, --owner, --tag)
  get NAME      show a model
  update NAME   change the description, owner or tags (only the flags given)
  delete NAME   delete a model and all its versions (admin; see modelreg delete)
  rename NAME NEW_NAME
                rename a model (admin; --reason): its versions, aliases, deploy
                targets, policy, tags and history move with it; the old name
                answers "renamed to NEW_NAME". Refused while an approval is
                PENDING or an upload is open. Run it again to finish an
                interrupted rename`,
		example: `modelreg models create fraud_model --description "card fraud classifier"`,
	},
	"register": {
		about: `Registers a new version of model NAME with its metrics, parameters and lineage
(git commit, dataset, run), then uploads the --artifact files and verifies them.
A missing model is created first. If the upload is cut off, the version waits
for 'modelreg upload NAME VERSION FILE... --resume'.`,
		example: "modelreg register fraud_model --artifact model.bin --metric accuracy=0.93 --param lr=0.01",
	},
	"upload": {
		about: `Uploads files to version VERSION of model NAME, which waits for them
(PENDING_UPLOAD). With --resume, finishes the version's open upload: only the
parts the server has not received are sent.`,
		example: "modelreg upload fraud_model 3 model.bin --resume",
	},
	"download": {
		about: `Downloads the files of a version of model NAME, given by number, stage
(Production, Staging…) or @ALIAS, and verifies each file's SHA-256 before it
appears under --dest.`,
		example: "modelreg download fraud_model @champion --dest ./out",
	},
	"versions": {
		about: `Lists the versions of model NAME, newest first (filter with the flags), or
shows one version given by number, stage or @ALIAS.`,
		example: "modelreg versions fraud_model --stage Staging",
	},
	"promote": {
		about: `Moves version VERSION of model NAME to the stage given by --to (None, Staging,
Production, Archived), with a reason kept in the audit trail. A move that
needs approval prints the approval id; --wait waits for the decision.`,
		example: `modelreg promote fraud_model 2 --to Staging --reason "beats v1 on accuracy"`,
	},
	"archive": {
		about: `Archives the listed versions of model NAME, or with --keep-last N every
version but the newest N (versions in Production are never archived).`,
		example: "modelreg archive fraud_model --keep-last 5 --dry-run",
	},
	"alias": {
		about: `Lists the aliases of model NAME; with ALIAS shows the version it points at;
with ALIAS VERSION points ALIAS at that version; with ALIAS --delete deletes it.`,
		example: "modelreg alias fraud_model champion 2",
	},
	"stage": {
		about: `Shows the version of model NAME in stage STAGE; with --at, the version that
was in that stage at that time (from the audit trail).`,
		example: "modelreg stage fraud_model Production --at 2026-11-20T09:00:00Z",
	},
	"metrics": {
		about: `Pushes production metrics, measured after deployment, to version VERSION of
model NAME, as METRIC=VALUE arguments.`,
		example: "modelreg metrics fraud_model 2 auc=0.91 latency_p99_ms=12",
	},
	"history": {
		about: `Shows the audit trail of model NAME (or of one VERSION), newest first: who
changed what, when, and the reason they gave; indented lines under an entry
give its approval, approvers and their comments, the policy checks and the
metric values it was judged on.`,
		example: "modelreg history fraud_model 2",
	},
	"compare": {
		about: `Compares two or more versions of model NAME side by side: metrics (the best
value of each marked *) and the parameters that differ. --by ranks them.`,
		example: "modelreg compare fraud_model 1 2 3 --by accuracy",
	},
	"approvals": {
		about:   `Lists approvals (pending ones by default), or shows one with show ID (requester, reason, decisions, policy checks, and its metrics against the current Production version). approve ID and reject ID decide one (approver or admin; never your own request; --comment says why); cancel ID withdraws one (its requester or an admin).`,
		example: "modelreg approvals approve 01JX... --comment 'beats v1 on recall'",
	},
	"rollback": {
		about:   `Returns Production of NAME to the last version that was in Production before the current one (or --to VERSION, which must have been), and archives the current one. No approval: it is the emergency path, open to approvers and admins (and publishers when the model's policy says rollback_role publisher). --reason is required.`,
		example: "modelreg rollback fraud_model --reason 'latency regression in v7'",
	},
	"whoami": {
		about:   `Shows the name and role of the token in use. Takes no arguments.`,
		example: "modelreg whoami",
	},
}

// secretFlags never show a default in help, whatever it is.
var secretFlags = map[string]bool{"token": true}

// newPlainFlags returns a flag set for a verb without the client flags.
// Its Usage prints the verb's full help to fs.Output().
func newPlainFlags(name, argsHelp string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() { writeHelp(fs.Output(), fs, name, argsHelp) }
	return fs
}

// writeHelp prints a verb's help: the usage line first (parse takes it
// from there for error messages), what it does, an example, the flags.
func writeHelp(w io.Writer, fs *flag.FlagSet, name, argsHelp string) {
	fmt.Fprintf(w, "Usage: modelreg %s %s\n", name, argsHelp)
	if h, ok := verbHelps[name]; ok {
		fmt.Fprintf(w, "\n%s\n\nExample:\n  %s\n", h.about, h.example)
	}
	fmt.Fprintln(w, "\nFlags:")
	printFlags(w, fs)
}

// printFlags lists the flags like flag.PrintDefaults, with two dashes,
// but never shows the value of a secret flag, and hides any password in a
// URL-valued default taken from the environment.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if def := f.DefValue; !secretFlags[f.Name] && def != "" && def != "0" && def != "false" && def != "[]" {
			if reflect.TypeOf(f.Value).String() == "*flag.stringValue" {
				def = strconv.Quote(redactURL(def))
			}
			fmt.Fprintf(w, " (default %s)", def)
		}
		fmt.Fprintln(w)
	})
}

// redactURL hides the password of a URL with user information.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil && u.Host != "" {
		return u.Redacted()
	}
	return s
}

// helpRequest is what parse returns for -h/--help: the help text, which
// run prints on stdout. It matches flag.ErrHelp.
type helpRequest struct{ text string }

func (h helpRequest) Error() string { return "help requested" }
func (h helpRequest) Unwrap() error { return flag.ErrHelp }

// parseFlags parses args with fs silently: on -h it returns a helpRequest;
// on a mistake a usageError with the flag package's message, the closest
// flag, the one-line usage and a --help hint (not the whole flag list).
func parseFlags(fs *flag.FlagSet, args []string) error {
	var help bytes.Buffer
	fs.SetOutput(&help)
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	help.Reset()
	if err == nil {
		fs.SetOutput(io.Discard)
		return nil
	}
	if usage != nil {
		usage()
	} else {
		fmt.Fprintf(&help, "Usage: modelreg %s [flags]\n", fs.Name())
	}
	fs.SetOutput(io.Discard)
	if errors.Is(err, flag.ErrHelp) {
		return helpRequest{help.String()}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag --" + name
		if s := closestFlag(fs, name); s != "" {
			msg += fmt.Sprintf(" (did you mean --%s?)", s)
		}
	}
	line, _, _ := strings.Cut(help.String(), "\n")
	return usageError{fmt.Sprintf("%s\n%s\nRun 'modelreg %s --help' for the flags and an example.", msg, line, fs.Name())}
}

// closestFlag returns the defined flag nearest to name (edit distance at
// most 2, or the only flag name starts with), "" if none is close.
func closestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return closest(name, names)
}

// closest returns the candidate nearest to s: the one with the smallest
// edit distance if it is at most 2 (and smaller than s), else the only
// candidate that s is a prefix of; "" if none.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	var prefixed []string
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD && d < len(s) {
			best, bestD = c, d
		}
		if strings.HasPrefix(c, s) {
			prefixed = append(prefixed, c)
		}
	}
	if best == "" && len(prefixed) == 1 {
		best = prefixed[0]
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (in bytes:
// flag and verb names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
