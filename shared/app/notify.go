package app

import (
	"context"

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
	return notify.New(notify.Config{Registry: a.Service, Processed: a.Service,
		Channels: channels, ConsoleURL: nc.ConsoleURL, Now: a.cfg.Now, Logger: a.log})
}
