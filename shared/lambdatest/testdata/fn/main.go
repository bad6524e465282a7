// Command fn is the function lambdatest's own tests run: it answers
// {"echo": X} with X and the invocation's context, {"fail": MSG} with a
// function error, {"panic": MSG} by panicking. LAMBDATEST_INIT_ERROR set
// makes it post to init/error and exit during init; LAMBDATEST_EXIT makes
// it exit at once with status 3.
package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Echo  any    `json:"echo"`
	Fail  string `json:"fail"`
	Panic string `json:"panic"`
}

type response struct {
	Echo        any    `json:"echo"`
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	DeadlineIn  bool   `json:"deadline_in_future"`
	Function    string `json:"function_name"`
}

func handle(ctx context.Context, r request) (response, error) {
	if r.Panic != "" {
		panic(r.Panic)
	}
	if r.Fail != "" {
		return response{}, errors.New(r.Fail)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	d, ok := ctx.Deadline()
	return response{Echo: r.Echo, RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn,
		DeadlineIn: ok && d.After(time.Now()), Function: lambdacontext.FunctionName}, nil
}

func main() {
	if os.Getenv("LAMBDATEST_EXIT") != "" {
		os.Exit(3)
	}
	if os.Getenv("LAMBDATEST_INIT_ERROR") != "" {
		req, _ := http.NewRequest(http.MethodPost, "http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error",
			strings.NewReader(`{"errorType":"ConfigError","errorMessage":"MODELREG_X is not set"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}
	lambda.Start(handle)
}
