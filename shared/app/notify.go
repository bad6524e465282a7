package app

import (
	"context"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/localbus"
	"github.com/modelreg/modelreg/shared/notify"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/slack"
)

// notifications builds the notification consumer: a log line always,
// Slack and SNS email when configured.
func (a *App) notifications(ctx context.Context, aws *awsClients) (*notify.Consumer, error) {
	nc := a.cfg.Notify
	channels := []notify.Channel{{Name: "log", Notifier: localbus.LogNotifier{Logger: a.log}}}
	if nc.SlackWebhookURL != "" {
		sc, err := slack.New(nc.SlackWebhookURL, nc.SlackOptions...)
		if err != nil {
			return nil, &ConfigError{Setting: "Notify.SlackWebhookURL", Message: registry.ErrorMessage(err)}
		}
		channels = append(channels, notify.Channel{Name: "slack", Notifier: sc})
	}
	if nc.SNSTopicARN != "" {
		pub, err := aws.sns(ctx, nc.SNSTopicARN, nc.SNSEndpoint)
		if err != nil {
			return nil, err
		}
		channels = append(channels, notify.Channel{Name: "email", Notifier: pub})
	}
	return notify.New(notify.Config{Registry: a.Service, Processed: processedOf(a.Service),
		Channels: channels, ConsoleURL: nc.ConsoleURL, Now: a.cfg.Now, Logger: a.log})
}

// processedOf returns the service's processed-event records.
//
// Until the Store keeps processed-event records (the deploy-targets work
// adds EventProcessed and MarkEventProcessed to registry.Service), the
// records are kept in this process's memory: a redelivery within the
// process is still sent once, but one after a restart may be sent again.
func processedOf(svc *registry.Service) notify.Processed {
	if p, ok := any(svc).(notify.Processed); ok {
		return p
	}
	return &memoryProcessed{done: map[string]time.Time{}, now: svc.Now}
}

type memoryProcessed struct {
	mu   sync.Mutex
	done map[string]time.Time // consumer\x00id → expiry
	now  func() time.Time
}

func (m *memoryProcessed) EventProcessed(_ context.Context, consumer, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.done[consumer+"\x00"+id]
	return ok && m.now().Before(exp), nil
}

func (m *memoryProcessed) MarkEventProcessed(_ context.Context, consumer, id string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done[consumer+"\x00"+id] = m.now().Add(ttl)
	return nil
}
