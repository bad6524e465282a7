// Command infra is the CDK app of modelreg (cdk.json runs it from infra/,
// its own Go module so that awscdk's compile stays out of the root
// module's vet and race runs). It reads its configuration in one place —
// the context key "modelreg", see Config — and synthesizes the stack,
// checked by cdk-nag's AwsSolutions rules.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	c, err := ParseConfig(app.Node().TryGetContext(jsii.String("modelreg")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	if err := CheckAssets(c); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	st := NewStack(app, c)
	Nag(app, st)
	app.Synth(nil)
}

// CheckAssets reports a function whose bootstrap scripts/build-lambdas
// has not built.
func CheckAssets(c Config) error {
	for _, n := range FunctionNames {
		p := c.BuildDir + "/" + n + "/bootstrap"
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run scripts/build-lambdas (functions/%s must exist)", p, n)
		}
	}
	return nil
}
