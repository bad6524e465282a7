package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/router"
)

// serveConfig is the local server's configuration: flags with
// environment fallbacks.
type serveConfig struct {
	addr, dataDir, publicURL, tokensFile string
	namePattern, nameHint                string
	uploadTTL                            time.Duration
	uploadGrace, uploadSweep             time.Duration
	approvalTTL                          time.Duration
	readTimeout                          time.Duration
	logLevel                             string
	backend                              backendConfig
	// slackEnv names the environment variable holding the Slack incoming
	// webhook URL (a secret: never a flag's value); slackURL is its value.
	slackEnv, slackURL string
	consoleURL         string
}

func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".modelreg")
	}
	return ".modelreg"
}

func runServe(ctx context.Context, args []string, out io.Writer) error {
	c, err := serveFlags(args)
	if err != nil {
		return err
	}
	err = serve(ctx, c, out)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: another modelreg serve? pick another --addr or MODELREG_ADDR (port 0 picks a free one)", err)
	}
	return err
}

// serveFlags reads serve's flags, each with its environment fallback.
func serveFlags(args []string) (serveConfig, error) {
	fs := newPlainFlags("serve", "[flags]")
	var c serveConfig
	fs.StringVar(&c.addr, "addr", envOr("MODELREG_ADDR", "127.0.0.1:8080"), "listen address; port 0 picks a free one (env MODELREG_ADDR)")
	fs.StringVar(&c.dataDir, "data-dir", envOr("MODELREG_DATA_DIR", defaultDataDir()), "where the database, artifacts and tokens live (env MODELREG_DATA_DIR)")
	fs.StringVar(&c.publicURL, "public-url", os.Getenv("MODELREG_PUBLIC_URL"), "URL clients reach this server at, for upload and download links (default http://ADDR; env MODELREG_PUBLIC_URL)")
	fs.StringVar(&c.tokensFile, "tokens", os.Getenv("MODELREG_TOKENS_FILE"), "API tokens file (default DATA-DIR/tokens.json; env MODELREG_TOKENS_FILE)")
	fs.StringVar(&c.namePattern, "name-pattern", os.Getenv("MODELREG_NAME_PATTERN"), "naming policy: a regular expression every new model name must match, e.g. '^[a-z]+_[a-z0-9_]+$' (env MODELREG_NAME_PATTERN)")
	fs.StringVar(&c.nameHint, "name-hint", os.Getenv("MODELREG_NAME_HINT"), "the naming policy in words, for error messages, e.g. 'team_model' (env MODELREG_NAME_HINT)")
	fs.DurationVar(&c.uploadTTL, "upload-ttl", durationEnv("MODELREG_UPLOAD_TTL", time.Hour), "how long upload URLs stay valid (env MODELREG_UPLOAD_TTL)")
	fs.DurationVar(&c.uploadGrace, "upload-grace", durationEnv("MODELREG_UPLOAD_GRACE", registry.DefaultUploadGrace), "how long after its URLs expired an upload can still be resumed before the sweeper expires it and fails its version (env MODELREG_UPLOAD_GRACE)")
	fs.DurationVar(&c.uploadSweep, "upload-sweep-interval", durationEnv("MODELREG_UPLOAD_SWEEP_INTERVAL", app.DefaultUploadSweepInterval), "how often abandoned upload sessions are expired; 0 turns the sweep off (env MODELREG_UPLOAD_SWEEP_INTERVAL)")
	// A bad MODELREG_APPROVAL_TTL is an error unless the flag overrides it.
	approvalTTL, envErr := strictDurationEnv("MODELREG_APPROVAL_TTL", registry.DefaultApprovalTTL)
	fs.DurationVar(&c.approvalTTL, "approval-ttl", approvalTTL, "how long a request to promote to Production waits for its approvals before it expires (env MODELREG_APPROVAL_TTL)")
	fs.DurationVar(&c.readTimeout, "read-timeout", durationEnv("MODELREG_READ_TIMEOUT", defaultReadTimeout), "longest time a request may take to send its body; an upload part may take longer as long as its bytes keep arriving (env MODELREG_READ_TIMEOUT)")
	fs.StringVar(&c.logLevel, "log-level", envOr("MODELREG_LOG_LEVEL", "info"), "debug, info, warn or error (env MODELREG_LOG_LEVEL)")
	fs.StringVar(&c.slackEnv, "slack-webhook-env", os.Getenv("MODELREG_SLACK_WEBHOOK_ENV"), "name of the environment variable that holds the Slack incoming webhook URL for notifications (the URL is a secret, so it is never a flag; env MODELREG_SLACK_WEBHOOK_ENV)")
	fs.StringVar(&c.consoleURL, "console-url", os.Getenv("MODELREG_CONSOLE_URL"), "base URL of the web console, for links to approvals in notifications (env MODELREG_CONSOLE_URL)")
	c.backend.flags(fs)
	pos, err := parse(fs, nil, args)
	if err != nil {
		return c, err
	}
	if len(pos) > 0 {
		return c, usagef("serve takes no arguments, got %q", pos)
	}
	if envErr != nil && !flagSet(fs, "approval-ttl") {
		return c, envErr
	}
	if c.approvalTTL <= 0 {
		return c, usagef("--approval-ttl %s: give a positive duration such as 72h or 30m", c.approvalTTL)
	}
	if c.uploadGrace <= 0 {
		return c, usagef("--upload-grace %s: give a positive duration such as 24h", c.uploadGrace)
	}
	if c.uploadSweep < 0 {
		return c, usagef("--upload-sweep-interval %s: give a positive duration such as 10m, or 0 for no sweep", c.uploadSweep)
	}
	if c.slackEnv != "" {
		if strings.Contains(c.slackEnv, "://") {
			return c, usagef("--slack-webhook-env takes the name of an environment variable holding the URL, not the URL: export SLACK_WEBHOOK_URL=… and pass --slack-webhook-env SLACK_WEBHOOK_URL")
		}
		if c.slackURL = strings.TrimSpace(os.Getenv(c.slackEnv)); c.slackURL == "" {
			return c, usagef("--slack-webhook-env %s: the variable %s is empty or unset; export the Slack incoming webhook URL in it", c.slackEnv, c.slackEnv)
		}
	}
	if c.consoleURL != "" && !strings.HasPrefix(c.consoleURL, "https://") && !strings.HasPrefix(c.consoleURL, "http://") {
		return c, usagef("--console-url %q: give the console's base URL, e.g. https://registry.example.com", c.consoleURL)
	}
	return c, nil
}

// Server timeouts. Headers must arrive within headerTimeout; a request's
// body within the read timeout (--read-timeout), except on the blob routes,
// which extend it while the body makes progress; an idle keep-alive
// connection is closed after idleTimeout. Responses have no write timeout:
// a download of a large file may take as long as it needs.
const (
	headerTimeout      = 10 * time.Second
	defaultReadTimeout = time.Minute
	idleTimeout        = 2 * time.Minute
)

// strictDurationEnv reads a positive duration from the environment
// variable key (def when unset); a value that is not one is a usage error
// naming the variable, not silently the default.
func strictDurationEnv(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usagef("%s=%q: give a positive duration such as 72h or 30m", key, v)
	}
	return d, nil
}

func durationEnv(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

func serve(ctx context.Context, c serveConfig, out io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usagef("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var policy *regexp.Regexp
	if c.namePattern != "" {
		var err error
		if policy, err = regexp.Compile(c.namePattern); err != nil {
			return usagef("--name-pattern: %v", err)
		}
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	secret, err := loadSecret(filepath.Join(c.dataDir, "secret"))
	if err != nil {
		return err
	}
	if c.tokensFile == "" {
		c.tokensFile = filepath.Join(c.dataDir, "tokens.json")
	}
	if err := firstAdminToken(c.tokensFile, c.dataDir, out); err != nil {
		return err
	}
	auth, err := newReloadingAuth(c.tokensFile)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := strings.TrimRight(c.publicURL, "/")
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	cfg := c.backend.appConfig(c.dataDir, base, secret)
	cfg.Service.NamePolicy, cfg.Service.NamePolicyHint, cfg.Service.UploadTTL = policy, c.nameHint, c.uploadTTL
	cfg.Service.UploadGrace, cfg.UploadSweepInterval = c.uploadGrace, c.uploadSweep
	if c.uploadSweep == 0 {
		cfg.UploadSweepInterval = -1 // off
	}
	cfg.Service.ApprovalTTL = c.approvalTTL
	cfg.Notify.SlackWebhookURL, cfg.Notify.ConsoleURL = c.slackURL, c.consoleURL
	cfg.Logger = logger
	a, err := app.New(ctx, cfg)
	if err != nil {
		ln.Close()
		return flagError(err)
	}
	defer a.Close()
	if err := a.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	if c.readTimeout <= 0 {
		c.readTimeout = defaultReadTimeout
	}
	web, err := console.New(a.Service, auth, console.Options{Key: a.ConsoleKey(), Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	handler, err := router.New(a, auth, router.Options{Logger: logger, Version: buildVersion, Console: web})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: handler,
		ReadHeaderTimeout: headerTimeout, ReadTimeout: c.readTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(out, "modelreg listening on %s (data in %s)\n", base, c.dataDir)
	logger.Info("serving", "url", base, "data_dir", c.dataDir, "store", cfg.Store, "artifacts", cfg.Artifacts, "workflow", cfg.Workflow,
		"slack", c.slackURL != "", "console_url", c.consoleURL, "version", buildVersion)

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		shutdown, done := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.Shutdown(shutdown)
		done()
	}
	// The deferred a.Close stops the relay and the engine, then closes
	// the adapters: after the last request has been answered.
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// loadSecret reads the server's signing secret, creating it on first start.
func loadSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		s := registry.RandomToken(32)
		if err := writeFileAtomic(path, []byte(s+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("create secret: %w", err)
		}
		return []byte(s), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if len(s) < 32 {
		return nil, fmt.Errorf("secret %s is too short (want 32+ characters)", path)
	}
	return []byte(s), nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// firstAdminToken creates the tokens file with an admin token on the first
// start: MODELREG_ADMIN_TOKEN if set, else a random one written to
// DATA-DIR/admin-token for the user to pick up.
func firstAdminToken(tokensFile, dataDir string, out io.Writer) error {
	if _, err := os.Stat(tokensFile); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tokens file: %w", err)
	}
	toks := httpapi.NewTokens()
	if t := os.Getenv("MODELREG_ADMIN_TOKEN"); t != "" {
		if err := toks.Set("admin", registry.RoleAdmin, t); err != nil {
			return fmt.Errorf("MODELREG_ADMIN_TOKEN: %w", err)
		}
		fmt.Fprintf(out, "created admin token from MODELREG_ADMIN_TOKEN in %s\n", tokensFile)
		return toks.Save(tokensFile)
	}
	plain, err := toks.Add("admin", registry.RoleAdmin)
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(dataDir, "admin-token")
	if err := writeFileAtomic(tokenPath, []byte(plain+"\n"), 0o600); err != nil {
		return err
	}
	if err := toks.Save(tokensFile); err != nil {
		return err
	}
	fmt.Fprintf(out, "created an admin token: it is in %s\n  export MODELREG_TOKEN=$(cat %s)\n", tokenPath, tokenPath)
	return nil
}
