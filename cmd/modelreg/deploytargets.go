package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

func init() {
	commands["deploy-targets"] = command{"list, add, remove or rotate the secret of a model's deploy targets (changes: admin)", runDeployTargets}
	commands["deployments"] = command{"list a model's deployments, or show or redeliver one", runDeployments}
	verbHelps["deploy-targets"] = verbHelp{
		about: `Manages where model NAME's Production version is deployed whenever it changes
(a promotion or a rollback):
  NAME [list]                               the targets (secrets as fingerprints)
  NAME add webhook URL --secret-env VAR     POST a signed JSON body to URL; the
                                            signing secret is read from the
                                            environment variable VAR, sent once
                                            and never shown again
  NAME add sagemaker ENDPOINT --image URI --role ARN [--instance-type T]
       [--artifact PATH]                    point a SageMaker endpoint at the
                                            version (--artifact: which file of
                                            the version; default its only one)
  NAME remove ID                            stop deploying there
  NAME rotate-secret ID --secret-env VAR    replace a webhook's secret
Adding, removing and rotating need the admin role. Receivers check the
Modelreg-Signature header (t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret, t.body)))
and reject timestamps older than 5 minutes. Make a secret with, e.g.,
export WEBHOOK_SECRET=$(openssl rand -hex 32).`,
		example: `modelreg deploy-targets fraud_model add webhook https://deploy.example.com/hook --secret-env WEBHOOK_SECRET`,
	}
	verbHelps["deployments"] = verbHelp{
		about: `Shows the deployments of model NAME: one per deploy target and change of
Production, with its outcome (STARTED, SUCCEEDED, FAILED and why).
  NAME                 list, newest first
  NAME show ID         one deployment
  NAME redeliver ID    deliver that deployment's version to its target again
                       (publisher; only the version now in Production)`,
		example: `modelreg deployments fraud_model redeliver dp-0123456789abcdef0123`,
	}
}

// secretFromEnv reads a secret from the caller's environment variable
// named by --secret-env. Neither the secret nor the flag's value is ever
// printed, not even in an error: a secret pasted in place of the
// variable's name must not end up in a terminal or a CI log.
func secretFromEnv(flagValue, action string) (string, error) {
	if flagValue == "" {
		return "", usagef("%s needs --secret-env VAR: the NAME of the environment variable that holds the webhook's signing secret", action)
	}
	if !envNameRE.MatchString(flagValue) {
		return "", usagef("--secret-env takes the NAME of an environment variable (e.g. WEBHOOK_SECRET), not the secret itself")
	}
	v, ok := os.LookupEnv(flagValue)
	if !ok {
		return "", usagef("--secret-env: the environment variable it names is not set (give the variable's NAME, e.g. WEBHOOK_SECRET, and export it)")
	}
	if v == "" {
		return "", usagef("--secret-env: the environment variable it names is empty")
	}
	return v, nil
}

// envNameRE is what an environment variable's name looks like.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func runDeployTargets(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("deploy-targets", "NAME [list] | NAME add webhook URL --secret-env VAR | NAME add sagemaker ENDPOINT --image URI --role ARN | NAME remove ID | NAME rotate-secret ID --secret-env VAR")
	secretEnv := fs.String("secret-env", "", "add webhook, rotate-secret: the environment variable holding the signing secret")
	image := fs.String("image", "", "add sagemaker: the inference image URI")
	role := fs.String("role", "", "add sagemaker: the execution role ARN SageMaker assumes")
	instanceType := fs.String("instance-type", "", "add sagemaker: instance type (default "+registry.DefaultInstanceType+")")
	artifact := fs.String("artifact", "", "add sagemaker: the version's file to serve (default: its only file)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("deploy-targets takes a model NAME, then list, add, remove or rotate-secret")
	}
	name, action := pos[0], "list"
	if len(pos) > 1 {
		action = pos[1]
	}
	sagemakerFlags := []string{"image", "role", "instance-type", "artifact"}
	refuse := func(flags ...string) error {
		for _, f := range flags {
			if flagSet(fs, f) {
				return usagef("deploy-targets %s takes no --%s", action, f)
			}
		}
		return nil
	}
	c := g.client()
	switch action {
	case "list":
		if len(pos) > 2 {
			return usagef("deploy-targets NAME list takes no more arguments")
		}
		if err := refuse(append(sagemakerFlags, "secret-env")...); err != nil {
			return err
		}
		targets, err := c.ListDeployTargets(ctx, name)
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, targets)
		}
		return printDeployTargets(out, targets)
	case "add":
		if len(pos) != 4 {
			return usagef("deploy-targets NAME add takes a kind and where: add webhook URL, or add sagemaker ENDPOINT")
		}
		req := httpapi.DeployTargetRequest{Kind: pos[2]}
		switch pos[2] {
		case "webhook":
			if err := refuse(sagemakerFlags...); err != nil {
				return err
			}
			secret, err := secretFromEnv(*secretEnv, "add webhook")
			if err != nil {
				return err
			}
			req.URL, req.Secret = pos[3], secret
		case "sagemaker":
			if err := refuse("secret-env"); err != nil {
				return err
			}
			if *image == "" || *role == "" {
				return usagef("add sagemaker needs --image URI and --role ARN")
			}
			req.Endpoint, req.ImageURI, req.RoleARN, req.InstanceType, req.ArtifactPath = pos[3], *image, *role, *instanceType, *artifact
		default:
			return usagef("unknown deploy target kind %q: use webhook or sagemaker", pos[2])
		}
		t, err := c.AddDeployTarget(ctx, name, req)
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, t)
		}
		outf(out, "Added deploy target %s (%s) to %s\n", t.ID, t.Kind, name)
		return printDeployTargets(out, []httpapi.DeployTarget{t})
	case "remove":
		if len(pos) != 3 {
			return usagef("deploy-targets NAME remove takes the target ID")
		}
		if err := refuse(append(sagemakerFlags, "secret-env")...); err != nil {
			return err
		}
		if err := c.RemoveDeployTarget(ctx, name, pos[2]); err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, map[string]string{"removed": pos[2]})
		}
		outf(out, "Removed deploy target %s of %s\n", pos[2], name)
		return nil
	case "rotate-secret":
		if len(pos) != 3 {
			return usagef("deploy-targets NAME rotate-secret takes the target ID")
		}
		if err := refuse(sagemakerFlags...); err != nil {
			return err
		}
		secret, err := secretFromEnv(*secretEnv, "rotate-secret")
		if err != nil {
			return err
		}
		t, err := c.RotateTargetSecret(ctx, name, pos[2], secret)
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, t)
		}
		outf(out, "Rotated the secret of %s: fingerprint %s\n", t.ID, t.SecretFingerprint)
		return nil
	}
	return usagef("unknown deploy-targets action %q: use list, add, remove or rotate-secret", action)
}

// printDeployTargets writes targets as a table; a webhook's secret shows
// as its fingerprint only.
func printDeployTargets(out io.Writer, targets []httpapi.DeployTarget) error {
	w := table(out)
	fmt.Fprintln(w, "ID\tKIND\tWHERE\tDETAILS\tCREATED")
	for _, t := range targets {
		where, details := t.URL, "secret "+t.SecretFingerprint
		if t.Kind == string(registry.TargetSageMaker) {
			where = "endpoint " + t.Endpoint
			details = fmt.Sprintf("image %s role %s %s", t.ImageURI, t.RoleARN, t.InstanceType)
			if t.ArtifactPath != "" {
				details += " artifact " + t.ArtifactPath
			}
		}
		outf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, where, details, ts(t.CreatedAt))
	}
	return w.Flush()
}

func runDeployments(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("deployments", "NAME [show ID | redeliver ID]")
	limit := fs.Int("limit", 100, "list: show at most this many (0: all)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("deployments takes a model NAME, and optionally show ID or redeliver ID")
	}
	name := pos[0]
	c := g.client()
	if len(pos) == 1 {
		var all []httpapi.Deployment
		token := ""
		for {
			page, err := c.ListDeployments(ctx, name, token, registry.MaxPageSize)
			if err != nil {
				return err
			}
			all = append(all, page.Items...)
			if token = page.NextPageToken; token == "" || (*limit > 0 && len(all) >= *limit) {
				break
			}
		}
		if *limit > 0 && len(all) > *limit {
			all = all[:*limit]
		}
		if g.json() {
			return printJSON(out, all)
		}
		return printDeployments(out, all)
	}
	if len(pos) != 3 {
		return usagef("deployments NAME %s takes a deployment ID", pos[1])
	}
	switch pos[1] {
	case "show":
		d, err := c.GetDeployment(ctx, name, pos[2])
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, d)
		}
		return printDeployment(out, d)
	case "redeliver":
		id, err := c.RedeliverDeployment(ctx, name, pos[2])
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, httpapi.RedeliveryAccepted{EventID: id})
		}
		outf(out, "Redelivery of %s requested (event %s); see 'modelreg deployments %s'\n", pos[2], id, name)
		return nil
	}
	return usagef("unknown deployments action %q: use show or redeliver", pos[1])
}

func printDeployments(out io.Writer, ds []httpapi.Deployment) error {
	w := table(out)
	fmt.Fprintln(w, "ID\tVERSION\tTARGET\tSTATUS\tATTEMPTS\tSTARTED\tREASON")
	for _, d := range ds {
		reason := d.Reason
		if reason == "" {
			reason = "-"
		}
		if r := []rune(reason); len(r) > 60 {
			reason = string(r[:59]) + "…"
		}
		outf(w, "%s\tv%d\t%s (%s)\t%s\t%d\t%s\t%s\n", d.ID, d.Version, d.TargetID, d.TargetKind, d.Status, d.Attempts, ts(d.StartedAt), reason)
	}
	return w.Flush()
}

func printDeployment(out io.Writer, d httpapi.Deployment) error {
	w := table(out)
	outf(w, "Deployment:\t%s\n", d.ID)
	outf(w, "Model:\t%s\n", d.Model)
	prev := "none"
	if d.PreviousVersion > 0 {
		prev = fmt.Sprintf("v%d", d.PreviousVersion)
	}
	outf(w, "Version:\tv%d (replacing %s)\n", d.Version, prev)
	outf(w, "Target:\t%s (%s)\n", d.TargetID, d.TargetKind)
	outf(w, "Status:\t%s after %d attempt(s)\n", d.Status, d.Attempts)
	if d.Reason != "" {
		outf(w, "Reason:\t%s\n", d.Reason)
	}
	if d.External != "" {
		outf(w, "External:\t%s\n", d.External)
	}
	outf(w, "Event:\t%s\n", d.EventID)
	if d.Actor != "" {
		outf(w, "Caused by:\t%s\n", d.Actor)
	}
	outf(w, "Started:\t%s\n", ts(d.StartedAt))
	outf(w, "Updated:\t%s\n", ts(d.UpdatedAt))
	return w.Flush()
}
