package main

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/lambdatest"
)

// initRuns is how many cold starts each measurement takes the median of.
const initRuns = 20

// coldStarts starts bin initRuns times with env and returns the init times
// (process start → first Runtime API next) and, per start, the Secrets
// Manager time the function logged.
func coldStarts(b *testing.B, bin string, env []string) (inits, secrets []time.Duration) {
	b.Helper()
	arch := lambdatest.Arch{GOARCH: "amd64"}
	for range initRuns {
		f, err := lambdatest.StartProcess(bin, arch, lambdatest.Options{Name: "api", Env: env})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		d, err := f.WaitInit(ctx)
		cancel()
		if err != nil {
			b.Fatalf("%v\n%s", err, f.Stderr())
		}
		inits = append(inits, d)
		wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
		f.WaitOutput(wctx, `"secretsmanager_ms":`)
		wcancel()
		if m := secretsMS.FindStringSubmatch(f.Stderr()); m != nil {
			ms, _ := strconv.ParseFloat(m[1], 64)
			secrets = append(secrets, time.Duration(ms*float64(time.Millisecond)))
		}
		f.Stop()
	}
	return inits, secrets
}

var secretsMS = regexp.MustCompile(`"secretsmanager_ms":([0-9.]+)`)

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkInit measures the api function's init natively on amd64: the
// built bootstrap (scripts/build-lambdas' flags) from process start to its
// first Runtime API next request, median of 20 cold starts, with the
// deployment's secret given by value (no network call: what init costs
// without the secrets fetch) beside the floor of aws-lambda-go (the
// harness's echo function, in the same run). With moto
// (MODELREG_MOTO_ENDPOINT), 20 more cold starts read the secret from
// Secrets Manager: the fetch's own median as the function logs it, and
// the init including it. Goal: init-ms ≤ 5.
func BenchmarkInit(b *testing.B) {
	if testing.Short() {
		b.Skip("builds and starts binaries")
	}
	bin := lambdatest.Build(b, ".", "amd64")
	floor := lambdatest.Build(b, "../../shared/lambdatest/testdata/fn", "amd64")
	env := []string{"MODELREG_DYNAMODB_TABLE=bench", "MODELREG_S3_BUCKET=bench", "MODELREG_SECRET=" + string(make32()),
		"MODELREG_IAM_ROLES=" + roles, "MODELREG_STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:bench",
		"MODELREG_VERIFY_FUNCTION=verify", "MODELREG_WEBHOOK_KMS_KEY=arn:aws:kms:us-east-1:123456789012:key/bench",
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_REGION=us-east-1"}
	for b.Loop() {
		floorInits, _ := coldStarts(b, floor, nil)
		inits, _ := coldStarts(b, bin, env)
		b.ReportMetric(ms(median(inits)), "init-ms")
		b.ReportMetric(ms(median(floorInits)), "floor-ms")
		b.ReportMetric(float64(median(inits))/float64(median(floorInits)), "init/floor")
		if os.Getenv("MODELREG_MOTO_ENDPOINT") == "" {
			b.Log("MODELREG_MOTO_ENDPOINT unset: the Secrets Manager fetch is not measured")
			continue
		}
		arn := lambdatest.MotoSecret(b, string(make32()))
		withSM := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "MODELREG_SECRET=") })
		withSM = append(withSM, "MODELREG_SECRET_ARN="+arn, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+os.Getenv("MODELREG_MOTO_ENDPOINT"))
		smInits, fetches := coldStarts(b, bin, withSM)
		if len(fetches) != initRuns {
			b.Fatalf("%d of %d cold starts logged their Secrets Manager call", len(fetches), initRuns)
		}
		b.ReportMetric(ms(median(fetches)), "secrets-fetch-ms")
		b.ReportMetric(ms(median(smInits)), "init-with-fetch-ms")
	}
}

func make32() []byte {
	k := make([]byte, 40)
	for i := range k {
		k[i] = 'a' + byte(i%26)
	}
	return k
}
