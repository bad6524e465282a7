// Package app is the composition root: from a Config it builds the
// registry service, the adapters it runs on (Store, Artifacts), its events
// (the in-process bus fed by the outbox relay) and its promotion workflow
// (the local engine, or Step Functions), and shuts them down in order.
// `modelreg serve`, the tests and every functions/* entry point wire
// through it, so they all run the same service the same way.
//
// This package links only what runs on AWS (DynamoDB, S3, Step Functions)
// plus the pure-Go local engine and bus. The backends that keep their data
// on this machine (SQLite, the filesystem) come from package app/embedded
// through Config.Embedded, so that a Lambda binary, which never imports
// that package, links neither modernc.org/sqlite nor shared/filesystem.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/modelreg/modelreg/shared/localbus"
	"github.com/modelreg/modelreg/shared/notify"
	"github.com/modelreg/modelreg/shared/redeploy"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
	"github.com/modelreg/modelreg/shared/slack"
	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/webhook"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/local"
)

// The kinds of Store, Artifacts, Workflow and Events a Config chooses.
const (
	StoreSQLite   = "sqlite"   // one file under DataDir (needs Config.Embedded)
	StoreDynamoDB = "dynamodb" // AWS.DynamoDBTable

	ArtifactsFilesystem = "filesystem" // files under DataDir behind signed URLs (needs Config.Embedded)
	ArtifactsS3         = "s3"         // AWS.S3Bucket

	// WorkflowNone runs no promotion workflow: transitions to Production
	// answer NotImplemented. It is what an empty Config.Workflow means.
	WorkflowNone = "none"
	// WorkflowLocal runs the embedded promotion document in-process
	// (shared/workflow/local) on the Store, calling Config.Handlers.
	WorkflowLocal = "local"
	// WorkflowSFN starts executions of the deployed state machine
	// AWS.StateMachineARN (shared/sfn); its task functions run the handlers.
	WorkflowSFN = "sfn"
	// WorkflowSFNTasks only ends Step Functions waits with their task
	// tokens (SendTaskSuccess, SendTaskFailure): the promotion task
	// functions, which the state machine invokes and whose configuration
	// cannot name it. Starting a promotion is refused.
	WorkflowSFNTasks = "sfn-tasks"

	// EventsNone delivers nothing in-process: the outbox stays for another
	// consumer (on AWS, the DynamoDB Streams publisher function). It is
	// what an empty Config.Events means.
	EventsNone = "none"
	// EventsLocal runs the in-process bus, fed by the outbox relay.
	EventsLocal = "local"
	// EventsEventBridge runs the outbox relay in-process and publishes to
	// the EventBridge bus AWS.EventBus (for a server against AWS without
	// the stream publisher function, and for tests): the bus's rules reach
	// the consumers.
	EventsEventBridge = "eventbridge"

	// MLflowArtifactsProxy (the default; also what "" means): MLflow run
	// artifacts go through the server's mlflow-artifacts proxy.
	MLflowArtifactsProxy = "proxy"
	// MLflowArtifactsS3 (ArtifactsS3 only): runs get an s3:// artifact
	// location under the bucket's runs/ prefix and MLflow clients write
	// there with their own credentials (on AWS the proxy cannot carry
	// them: API Gateway takes 10 MB, Lambda 6 MB). App.RunObjects is set.
	MLflowArtifactsS3 = "s3"
)

// DefaultSweepInterval is how often the local engine looks for timed-out
// waits and stalled executions when Config.SweepInterval is unset.
const DefaultSweepInterval = time.Second

// DefaultUploadSweepInterval is how often a started App expires abandoned
// upload sessions when Config.UploadSweepInterval is unset.
const DefaultUploadSweepInterval = 10 * time.Minute

// Config says what to build. Store and Artifacts are required; the zero
// Workflow and Events are WorkflowNone and EventsNone.
type Config struct {
	Store     string // StoreSQLite or StoreDynamoDB
	Artifacts string // ArtifactsFilesystem or ArtifactsS3
	Workflow  string // WorkflowNone, WorkflowLocal, WorkflowSFN or WorkflowSFNTasks
	Events    string // EventsNone, EventsLocal or EventsEventBridge

	// DataDir is where the embedded backends keep their data:
	// DataDir/registry.db and DataDir/artifacts.
	DataDir string
	// PublicURL is the base of the filesystem artifacts' signed upload and
	// download URLs (the URL clients reach the server at).
	PublicURL string
	// Secret is the deployment's secret, at least 32 bytes. The service's
	// page tokens and the filesystem's signed URLs each get their own key
	// derived from it, so they never share one.
	Secret []byte

	// AWS configures the AWS adapters.
	AWS AWS

	// MLflowArtifacts is where MLflow clients write run artifacts:
	// MLflowArtifactsProxy ("" too) or MLflowArtifactsS3
	// (MODELREG_MLFLOW_ARTIFACTS; serve --mlflow-artifacts).
	MLflowArtifacts string

	// Embedded opens the SQLite store and the filesystem artifacts:
	// embedded.Backends{} (package app/embedded). Without it, StoreSQLite
	// and ArtifactsFilesystem are refused.
	Embedded Embedded

	// Service holds the service's own settings (name policy, TTLs,
	// AllowFileSources…). New fills in Store, Artifacts, Workflow and Secret,
	// and chains AfterCommit after the relay's kick; Logger and Now default
	// to Config's. AllowFileSources is refused unless Store is StoreSQLite
	// and Artifacts ArtifactsFilesystem: only then do a file:// source and
	// the server name the same disk.
	Service registry.Config

	// Handlers returns the promotion task handlers of the service, which
	// the local engine calls (WorkflowLocal needs it). App.Handlers holds
	// its result for the AWS task functions too.
	Handlers func(*registry.Service) workflow.Handlers
	// SweepInterval is how often the local engine ends timed-out waits and
	// resumes stalled executions (default DefaultSweepInterval).
	SweepInterval time.Duration
	// UploadSweepInterval is how often a started App expires abandoned
	// upload sessions (registry.Service.SweepUploads; default
	// DefaultUploadSweepInterval, negative: never). On AWS the sweeper
	// function does it on a schedule instead.
	UploadSweepInterval time.Duration

	// AllowPrivateWebhooks lets webhook deploy targets be stored with, and
	// deliveries reach, loopback, private and link-local addresses (serve
	// --allow-private-webhooks; the tests' receivers listen on loopback).
	// Without it such URLs are refused (SSRF).
	AllowPrivateWebhooks bool
	// Webhook tunes webhook deliveries (timeouts, attempts, backoff);
	// AllowPrivate comes from AllowPrivateWebhooks. Zero: the defaults.
	Webhook webhook.Options
	// SageMaker connects the redeploy consumer's SageMaker deployer
	// (sagemaker/endpoints.Connect) when the artifacts are in S3; nil
	// deploys to no SageMaker target (a binary that runs no redeploy, such
	// as the api function, need not link SageMaker's SDK).
	SageMaker func(cfg aws.Config, endpoint string) redeploy.SageMaker
	// SageMakerPollInterval is how often, with EventsLocal, the SageMaker
	// updates the redeploy handler started are looked at (DescribeEndpoint)
	// until they end (default DefaultSageMakerPollInterval).
	SageMakerPollInterval time.Duration

	// Notify configures who hears about approvals, promotions, rollbacks
	// and failed deployments: always a log line, plus Slack and email when
	// set.
	Notify Notify

	// Now is the clock of the service, the engine and the relay (default
	// time.Now); tests inject one.
	Now    func() time.Time
	Logger *slog.Logger
}

// Notify configures the notification channels (shared/notify).
type Notify struct {
	// SlackWebhookURL is a Slack incoming webhook; "" sends nothing to
	// Slack.
	SlackWebhookURL string
	// SlackOptions tune the Slack client (attempts, timeouts; tests).
	SlackOptions []slack.Option
	// SNSTopicARN is an SNS topic whose (email) subscribers get every
	// notification; "" sends no email.
	SNSTopicARN string
	SNSEndpoint string // e.g. moto's server (default: AWS)
	// ConsoleURL is the web console's base URL: approval messages link to
	// ConsoleURL/approvals/ID.
	ConsoleURL string
	// ReminderInterval is how often a started App with EventsLocal sweeps
	// for approval reminders (default DefaultReminderInterval). On AWS the
	// notify function runs the sweep on a schedule instead.
	ReminderInterval time.Duration
}

// DefaultReminderInterval is how often the local server looks for
// approvals due a reminder.
const DefaultReminderInterval = time.Minute

// AWS configures the AWS adapters: their region and credentials come from
// Config, or else from Load.
type AWS struct {
	// Config, if set, is used as it is: the region, credentials and HTTP
	// client of every AWS adapter (a function that read them already, a
	// test). The adapters talk to AWS through shared/awsapi; only the
	// SageMaker deployer (Config.SageMaker) builds an SDK client from it.
	Config *aws.Config
	// Load, when Config is nil, loads the configuration once, the first
	// time an adapter needs it: cmd/modelreg passes the SDK's default chain
	// (environment, profiles, SSO, roles) for Region. This package does not
	// call it itself, so that a Lambda function, whose credentials are in
	// its environment, links none of the SDK's config, STS and SSO code.
	Load   func(ctx context.Context, region string) (aws.Config, error)
	Region string

	DynamoDBTable    string
	DynamoDBEndpoint string // e.g. DynamoDB Local (default: AWS)

	S3Bucket   string
	S3Endpoint string // e.g. MinIO, with path-style addressing (default: AWS)
	S3Prefix   string // key prefix inside the bucket

	// KMSKeyID, if set, is the KMS key (id, ARN or alias) that seals
	// webhook secrets; without it the embedded backends seal them with
	// the key file DataDir/secretbox.key.
	KMSKeyID    string
	KMSEndpoint string // e.g. moto's server (default: AWS)
	// VerifyFunction, if set, is the verify-upload Lambda function (name
	// or ARN): completions verified in the background are handed to it
	// with an asynchronous invoke (shared/invoke) instead of the
	// in-process queue. The api function sets it from
	// MODELREG_VERIFY_FUNCTION.
	VerifyFunction string
	VerifyEndpoint string // e.g. a test server (default: AWS)

	StateMachineARN string // the deployed promotion state machine (WorkflowSFN)
	SFNEndpoint     string // e.g. moto's server (default: AWS)
	// SageMakerEndpoint is SageMaker's API endpoint, e.g. moto's server
	// (default: AWS). SageMaker deploy targets need S3 artifacts.
	SageMakerEndpoint string

	// EventBus is the EventBridge bus (name or ARN) that App.Publisher
	// sends to; required with EventsEventBridge. With another Events kind
	// it still builds App.Publisher (the stream publisher function uses
	// it with EventsNone).
	EventBus            string
	EventBridgeEndpoint string // e.g. moto's server (default: AWS)

	// CreateResources creates the DynamoDB table and the S3 bucket when
	// missing (for DynamoDB Local and MinIO).
	CreateResources bool
}

// ConfigError reports a Config that cannot work: an unknown kind, a
// missing or conflicting setting. Setting names the Config field, e.g.
// "AWS.S3Bucket", so that a caller can name its own flag for it.
type ConfigError struct {
	Setting string
	Message string
}

func (e *ConfigError) Error() string { return "app: " + e.Setting + ": " + e.Message }

func configErrorf(setting, format string, args ...any) error {
	return &ConfigError{Setting: setting, Message: fmt.Sprintf(format, args...)}
}

// App is a built registry: the service and what it runs on. Start runs its
// background work; Close stops it and closes the adapters, in that order.
type App struct {
	Service   *registry.Service
	Store     registry.Store
	Artifacts registry.Artifacts
	// Blobs serves the filesystem artifacts' signed URLs (under /blobs/);
	// nil for S3.
	Blobs http.Handler
	// Tracking keeps the MLflow tracking records (the Store's own
	// tracking.Store side) and RunFiles the run artifact files (the
	// Artifacts' tracking.Blobs side); nil when a backend has neither.
	Tracking tracking.Store
	RunFiles tracking.Blobs
	// RunObjects is the S3 artifacts' tracking.Objects side with
	// MLflowArtifactsS3 (nil otherwise): run artifacts that MLflow clients
	// write straight to S3.
	RunObjects tracking.Objects
	// Workflow is what the service starts promotions on (nil with
	// WorkflowNone).
	Workflow registry.Workflow
	// Engine is the local engine (WorkflowLocal only).
	Engine *local.Engine
	// Handlers are the promotion task handlers (nil without
	// Config.Handlers).
	Handlers workflow.Handlers
	// Bus delivers events in-process (EventsLocal only). Subscribe to it
	// before Start.
	Bus *localbus.Bus
	// Publisher publishes to EventBridge (nil unless AWS.EventBus is set).
	Publisher registry.Events
	// Relay drains the outbox into Bus (EventsLocal) or Publisher
	// (EventsEventBridge); nil with EventsNone.
	Relay *registry.Relay
	// Redeploy is the redeploy consumer on the service: subscribed to Bus
	// with EventsLocal, the handler of functions/redeploy on AWS.
	Redeploy *redeploy.Handler
	// Notifications is the notification consumer on Config.Notify's
	// channels: subscribed to Bus with EventsLocal (and its reminder sweep
	// run by Start); the notify function calls it on AWS.
	Notifications *notify.Consumer
	// Invoker runs the verifications of large uploads (nil when every
	// upload is verified inside its completion): the verify-upload function
	// with AWS.VerifyFunction, else an in-process queue that Start runs.
	Invoker registry.Invoker

	verify *verifyQueue
	aws    *awsClients

	cfg     Config
	log     *slog.Logger
	closers []func() error // adapters, in the order they were opened

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New builds the App cfg describes. It opens the adapters (creating the
// table and bucket with AWS.CreateResources) but starts nothing: call
// Start. A Config that cannot work is a *ConfigError; nothing stays open
// when New fails.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workflow == "" {
		cfg.Workflow = WorkflowNone
	}
	if cfg.Events == "" {
		cfg.Events = EventsNone
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.UploadSweepInterval == 0 {
		cfg.UploadSweepInterval = DefaultUploadSweepInterval
	}
	if cfg.Notify.ReminderInterval <= 0 {
		cfg.Notify.ReminderInterval = DefaultReminderInterval
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			if a.Engine != nil {
				a.Engine.Close()
			}
			a.closeAdapters()
		}
	}()
	aws := &awsClients{cfg: cfg.AWS}
	a.aws = aws

	switch cfg.Store {
	case StoreSQLite:
		st, closeStore, err := cfg.Embedded.OpenStore(ctx, filepath.Join(cfg.DataDir, "registry.db"))
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		a.closers = append(a.closers, closeStore)
		a.Store = st
	case StoreDynamoDB:
		st, err := aws.store(ctx)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, st.Close)
		a.Store = st
	}

	switch cfg.Artifacts {
	case ArtifactsFilesystem:
		arts, blobs, closeArts, err := cfg.Embedded.OpenArtifacts(filepath.Join(cfg.DataDir, "artifacts"), cfg.PublicURL, derive(cfg.Secret, "blob-urls"))
		if err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
		a.closers = append(a.closers, closeArts)
		a.Artifacts, a.Blobs = arts, blobs
	case ArtifactsS3:
		arts, err := aws.artifacts(ctx)
		if err != nil {
			return nil, err
		}
		a.Artifacts = arts
	}

	a.Tracking, _ = a.Store.(tracking.Store)
	a.RunFiles, _ = a.Artifacts.(tracking.Blobs)
	if cfg.MLflowArtifacts == MLflowArtifactsS3 {
		a.RunObjects, _ = a.Artifacts.(tracking.Objects)
	}

	sc := cfg.Service
	sc.Store, sc.Artifacts, sc.Secret = a.Store, a.Artifacts, derive(cfg.Secret, "page-tokens")
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	if sc.Now == nil {
		sc.Now = cfg.Now
	}
	if sc.CheckWebhookURL == nil {
		// The SSRF rule for webhook targets; the deliveries' dialer checks
		// the addresses it connects to again.
		allow := cfg.AllowPrivateWebhooks
		sc.CheckWebhookURL = func(ctx context.Context, raw string) error { return webhook.CheckURL(ctx, raw, allow) }
	}

	if sc.Secrets == nil {
		switch {
		case cfg.AWS.KMSKeyID != "":
			box, err := aws.secrets(ctx)
			if err != nil {
				return nil, err
			}
			sc.Secrets = box
		case cfg.DataDir != "":
			box, err := secretbox.OpenLocal(cfg.DataDir)
			if err != nil {
				return nil, err
			}
			sc.Secrets = box
		}
	}

	if cfg.AWS.EventBus != "" {
		pub, err := aws.publisher(ctx)
		if err != nil {
			return nil, err
		}
		a.Publisher = pub
	}
	var relayTo registry.Events
	switch cfg.Events {
	case EventsLocal:
		a.Bus = localbus.New()
		relayTo = a.Bus
	case EventsEventBridge:
		relayTo = a.Publisher
	}
	if relayTo != nil {
		a.Relay = registry.NewRelay(a.Store, relayTo, cfg.Logger)
		a.Relay.Now = cfg.Now
		if after := sc.AfterCommit; after != nil {
			sc.AfterCommit = func() { a.Relay.Kick(); after() }
		} else {
			sc.AfterCommit = a.Relay.Kick
		}
	}

	// The engine calls the handlers, the handlers are the service's, and
	// the service starts promotions on the engine: the engine gets a
	// forwarder that is bound to the handlers once the service exists,
	// before anything can run.
	var fwd *forwardHandlers
	switch cfg.Workflow {
	case WorkflowLocal:
		fwd = &forwardHandlers{}
		eng, err := local.New(local.Config{Store: a.Store, Handlers: fwd, Now: cfg.Now,
			PollInterval: cfg.SweepInterval, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		a.Engine, a.Workflow = eng, eng
	case WorkflowSFN, WorkflowSFNTasks:
		wf, err := aws.workflow(ctx, cfg.Now, cfg.Workflow == WorkflowSFNTasks)
		if err != nil {
			return nil, err
		}
		a.Workflow = wf
	}
	sc.Workflow = a.Workflow

	// Large uploads to S3 are verified in the background (the API's
	// deadline cannot wait for their read-back); the filesystem verifies
	// inside the completion unless configured. A negative threshold
	// verifies every upload inside its completion.
	switch {
	case sc.VerifyAsyncBytes < 0:
		sc.VerifyAsyncBytes, sc.Invoker = 0, nil
	case sc.VerifyAsyncBytes == 0 && cfg.Artifacts == ArtifactsS3:
		sc.VerifyAsyncBytes = registry.DefaultVerifyAsyncBytes
	}
	if sc.VerifyAsyncBytes > 0 && sc.Invoker == nil {
		if cfg.AWS.VerifyFunction != "" {
			inv, err := aws.invoker(ctx)
			if err != nil {
				return nil, err
			}
			sc.Invoker = inv
		} else {
			a.verify = newVerifyQueue()
			sc.Invoker = a.verify
		}
	}
	a.Invoker = sc.Invoker

	svc, err := registry.NewService(sc)
	if err != nil {
		return nil, err
	}
	a.Service = svc
	if a.verify != nil {
		a.verify.svc = svc
	}
	if cfg.Handlers != nil {
		a.Handlers = cfg.Handlers(svc)
		if a.Handlers == nil {
			return nil, configErrorf("Handlers", "returned no handlers")
		}
	}
	if fwd != nil {
		fwd.Handlers = a.Handlers
	}
	if err := a.wireRedeploy(ctx, aws); err != nil {
		return nil, err
	}
	if a.Notifications, err = a.notifications(ctx, aws); err != nil {
		return nil, err
	}
	if a.Bus != nil {
		a.Bus.Subscribe(notify.ConsumerEvents, "", a.Notifications.Handle)
	}
	return a, nil
}

// DefaultSageMakerPollInterval is how often a local App looks at the
// SageMaker updates it started when Config.SageMakerPollInterval is unset.
const DefaultSageMakerPollInterval = 30 * time.Second

// wireRedeploy builds the redeploy consumer (webhooks; SageMaker when the
// artifacts are in S3, where ModelDataUrl can point) and subscribes it to
// the local bus.
func (a *App) wireRedeploy(ctx context.Context, aws *awsClients) error {
	wo := a.cfg.Webhook
	wo.AllowPrivate = a.cfg.AllowPrivateWebhooks
	h := &redeploy.Handler{Registry: a.Service, Webhooks: webhook.New(wo), Logger: a.log}
	if objects, ok := a.Artifacts.(redeploy.ObjectURIs); ok && a.cfg.Artifacts == ArtifactsS3 && a.cfg.SageMaker != nil {
		sm, err := aws.sagemaker(ctx, a.cfg.SageMaker)
		if err != nil {
			return err
		}
		h.SageMaker, h.Objects = sm, objects
	}
	a.Redeploy = h
	if a.Bus != nil {
		a.Bus.Subscribe(redeploy.Consumer, registry.EventStageChanged, h.Handle)
		a.Bus.Subscribe(redeploy.Consumer, registry.EventDeploymentRequested, h.Handle)
	}
	return nil
}

// oneOf refuses a required setting that is not one of allowed.
func oneOf(setting, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	use := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	if value == "" {
		return configErrorf(setting, "not set: use %s", use)
	}
	return configErrorf(setting, "%q: use %s", value, use)
}

// check refuses what cannot work, before anything is opened.
func (c *Config) check() error {
	if err := oneOf("Store", c.Store, StoreSQLite, StoreDynamoDB); err != nil {
		return err
	}
	if err := oneOf("Artifacts", c.Artifacts, ArtifactsFilesystem, ArtifactsS3); err != nil {
		return err
	}
	switch c.Workflow {
	case WorkflowNone, WorkflowSFN, WorkflowSFNTasks:
	case WorkflowLocal:
		if c.Handlers == nil {
			return configErrorf("Handlers", "the local workflow engine needs the promotion task handlers")
		}
	default:
		return configErrorf("Workflow", "%q: use %s, %s, %s or %s", c.Workflow, WorkflowLocal, WorkflowSFN, WorkflowSFNTasks, WorkflowNone)
	}
	if err := oneOf("Events", c.Events, EventsLocal, EventsEventBridge, EventsNone); err != nil {
		return err
	}
	if c.Events == EventsEventBridge && c.AWS.EventBus == "" {
		return configErrorf("AWS.EventBus", "required with %s events", EventsEventBridge)
	}
	embedded := c.Store == StoreSQLite || c.Artifacts == ArtifactsFilesystem
	if embedded && c.Embedded == nil {
		return configErrorf("Embedded", "%s store or %s artifacts need the embedded backends (package app/embedded), which this binary does not link", StoreSQLite, ArtifactsFilesystem)
	}
	if embedded && c.DataDir == "" {
		return configErrorf("DataDir", "required with %s store or %s artifacts", StoreSQLite, ArtifactsFilesystem)
	}
	if c.Artifacts == ArtifactsFilesystem && c.PublicURL == "" {
		return configErrorf("PublicURL", "required with %s artifacts (the base of their signed URLs)", ArtifactsFilesystem)
	}
	if len(c.Secret) < 32 {
		return configErrorf("Secret", "must be at least 32 bytes")
	}
	if c.Store == StoreDynamoDB && c.AWS.DynamoDBTable == "" {
		return configErrorf("AWS.DynamoDBTable", "required with %s store", StoreDynamoDB)
	}
	if c.Artifacts == ArtifactsS3 && c.AWS.S3Bucket == "" {
		return configErrorf("AWS.S3Bucket", "required with %s artifacts", ArtifactsS3)
	}
	if c.MLflowArtifacts == "" {
		c.MLflowArtifacts = MLflowArtifactsProxy
	}
	if err := oneOf("MLflowArtifacts", c.MLflowArtifacts, MLflowArtifactsProxy, MLflowArtifactsS3); err != nil {
		return err
	}
	if c.MLflowArtifacts == MLflowArtifactsS3 && c.Artifacts != ArtifactsS3 {
		return configErrorf("MLflowArtifacts", "%s needs %s artifacts (clients write run artifacts to the bucket)", MLflowArtifactsS3, ArtifactsS3)
	}
	if c.Workflow == WorkflowSFN && c.AWS.StateMachineARN == "" {
		return configErrorf("AWS.StateMachineARN", "required with the %s workflow", WorkflowSFN)
	}
	if c.Service.AllowFileSources && (c.Store != StoreSQLite || c.Artifacts != ArtifactsFilesystem) {
		return configErrorf("Service.AllowFileSources", "only with %s store and %s artifacts, where a file:// source names the server's own disk", StoreSQLite, ArtifactsFilesystem)
	}
	return nil
}

// Start runs the background work until Close: the outbox relay
// (EventsLocal, EventsEventBridge), the approval reminder sweep
// (EventsLocal), the upload sweep every UploadSweepInterval, the
// in-process verification of large uploads (versions left VERIFYING are
// queued again at once and every VerifyRecoveryInterval), and for the
// local engine first Recover — executions a
// crash interrupted resume, waits whose handler may not have run are
// invoked again with their token — then a Sweep every SweepInterval that
// ends the waits whose timeout passed (by Config.Now) and resumes stalled
// executions. ctx bounds Recover only; the work runs until Close. It
// returns Recover's error, and refuses a second Start or a Start after
// Close.
func (a *App) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("app: start after close")
	}
	if a.started {
		return errors.New("app: started twice")
	}
	if a.Engine != nil {
		if err := a.Engine.Recover(ctx); err != nil {
			return fmt.Errorf("recover workflow executions: %w", err)
		}
	}
	if a.Workflow != nil {
		// Approvals whose workflow never started, or whose decision never
		// reached it (a crash in between), are finished now.
		if err := a.Service.RecoverApprovals(ctx); err != nil {
			return fmt.Errorf("recover pending approvals: %w", err)
		}
	}
	a.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	if a.Relay != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.Relay.Run(runCtx) }()
	}
	if a.verify != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.verify.run(runCtx, a) }()
		// Versions a crash left VERIFYING are verified again; so are those
		// whose verification failed on a storage error.
		recoverVerify := func(ctx context.Context) error { _, err := a.Service.RecoverVerifications(ctx); return err }
		if err := recoverVerify(runCtx); err != nil {
			a.log.Error("verify: recover verifying versions", "err", err)
		}
		a.every(runCtx, VerifyRecoveryInterval, "verify: recover verifying versions", recoverVerify)
	}
	if a.Engine != nil {
		// Sweep ends the waits whose timeout passed and resumes stalled
		// executions.
		a.every(runCtx, a.cfg.SweepInterval, "workflow: sweep executions", a.Engine.Sweep)
	}
	if a.Bus != nil && a.Redeploy != nil && a.Redeploy.SageMaker != nil {
		// No EventBridge brings SageMaker's state changes here: look.
		interval := a.cfg.SageMakerPollInterval
		if interval <= 0 {
			interval = DefaultSageMakerPollInterval
		}
		a.every(runCtx, interval, "redeploy: poll SageMaker updates", a.Redeploy.Poll)
	}
	if a.cfg.UploadSweepInterval > 0 {
		a.every(runCtx, a.cfg.UploadSweepInterval, "uploads: sweep abandoned sessions", func(ctx context.Context) error {
			n, err := a.Service.SweepUploads(ctx)
			if n > 0 {
				a.log.Info("uploads: expired abandoned sessions", "sessions", n)
			}
			return err
		})
	}
	if a.Workflow != nil {
		// A workflow that was unavailable when a promotion was requested or
		// decided catches up without a restart.
		a.every(runCtx, ApprovalRecoveryInterval, "workflow: recover pending approvals", a.Service.RecoverApprovals)
	}
	if a.Bus != nil {
		// Approvals about to expire remind their approvers (on AWS, the
		// notify function on a schedule).
		a.every(runCtx, a.cfg.Notify.ReminderInterval, "notify: approval reminders", a.Notifications.Remind)
	}
	return nil
}

// ApprovalRecoveryInterval is how often a started App runs
// registry.Service.RecoverApprovals (it also runs once in Start).
const ApprovalRecoveryInterval = 30 * time.Second

// every runs fn every interval in the background until ctx is done,
// logging its failures as what.
func (a *App) every(ctx context.Context, interval time.Duration, what string, fn func(context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := fn(ctx); err != nil && ctx.Err() == nil {
					a.log.Error(what, "err", err)
				}
			}
		}
	}()
}

// Close shuts the App down in order: the background work (relay, sweeps),
// then the engine's running executions (each resumes from its current
// state on the next Start), then the adapters, last opened first. Events
// not yet delivered stay in the outbox for the next Start. A second Close
// does nothing.
func (a *App) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	cancel := a.cancel
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	a.wg.Wait()
	var errs []error
	if a.Engine != nil {
		errs = append(errs, a.Engine.Close())
	}
	errs = append(errs, a.closeAdapters())
	return errors.Join(errs...)
}

func (a *App) closeAdapters() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// derive returns a key for one purpose, so page tokens and blob URLs never
// share a key.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return []byte(hex.EncodeToString(m.Sum(nil)))
}

// forwardHandlers passes each call to Handlers, which New sets after the
// service exists and before the engine can run anything.
type forwardHandlers struct{ workflow.Handlers }
