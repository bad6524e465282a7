package app_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// outboxBacklog is the number of pending events the outbox benchmark
// drains (issue 8: 10,000).
const outboxBacklog = 10000

// BenchmarkOutbox: outboxBacklog events pending in the outbox (committed
// 100 to a Change before the app starts), drained by the app's relay into
// the local bus; events per second from Start until the last one is
// delivered and the outbox is empty. On SQLite, and on DynamoDB Local when
// MODELREG_DYNAMODB_ENDPOINT is set. Run by `scripts/bench outbox`.
func BenchmarkOutbox(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchOutbox(b, func(b *testing.B) app.Config {
			cfg := localConfig(b.TempDir())
			return cfg
		})
	})
	b.Run("dynamodb", func(b *testing.B) {
		ep := needEnv(b, "MODELREG_DYNAMODB_ENDPOINT")[0]
		benchOutbox(b, func(b *testing.B) app.Config {
			creds := credentials.NewStaticCredentialsProvider("local", "local", "")
			table := fmt.Sprintf("modelreg-bench-%d", time.Now().UnixNano())
			api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: creds}, wire.Service, ep)
			if err != nil {
				b.Fatal(err)
			}
			c := wire.New(api)
			if err := dynamodb.CreateTable(context.Background(), c, table); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { dynamodb.DeleteTable(context.Background(), c, table) })
			return app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsLocal, Secret: secret, Logger: quiet,
				AWS: app.AWS{Config: &aws.Config{Region: "us-east-1", Credentials: creds}, DynamoDBTable: table, DynamoDBEndpoint: ep, S3Bucket: "never-read"}}
		})
	})
}

func benchOutbox(b *testing.B, config func(*testing.B) app.Config) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		cfg := config(b)
		cfg.UploadSweepInterval = -1
		a, err := embedded.New(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		base := time.Now().UTC().Truncate(time.Microsecond)
		for i := 0; i < outboxBacklog; i += 100 {
			ch := &registry.Change{}
			for j := i; j < i+100; j++ {
				ch.Events = append(ch.Events, registry.Event{ID: fmt.Sprintf("ev-%06d", j), Type: registry.EventVersionRegistered,
					Source: registry.EventSource, Time: base.Add(time.Duration(j) * time.Microsecond),
					Detail: registry.EventDetail{Model: "fraud", Version: j + 1, Actor: "bench"}})
			}
			if err := a.Store.Commit(context.Background(), ch); err != nil {
				b.Fatal(err)
			}
		}
		var got atomic.Int64
		done := make(chan struct{})
		a.Bus.Subscribe("bench", registry.EventVersionRegistered, func(_ context.Context, e registry.Event) error {
			if got.Add(1) == outboxBacklog {
				close(done)
			}
			return nil
		})
		b.StartTimer()
		start := time.Now()
		if err := a.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(20 * time.Minute):
			b.Fatalf("delivered %d of %d", got.Load(), outboxBacklog)
		}
		for {
			left, err := a.Store.PendingEvents(context.Background(), time.Now().Add(time.Hour), 1)
			if err != nil {
				b.Fatal(err)
			}
			if len(left) == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		a.Close()
	}
	b.ReportMetric(float64(outboxBacklog*b.N)/total.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}
