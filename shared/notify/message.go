package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// ErrNothingToSay is Message's answer for an event that needs no message
// after all (an approval request that was decided before it was handled).
var ErrNothingToSay = errors.New("nothing to say")

// maxMetrics is how many key metrics a message shows.
const maxMetrics = 8

// Message builds the notification for e (an event Wanted says yes to),
// reading the approval, the model's policy and the versions' metrics
// from the registry. What no longer exists (a deleted model or version)
// leaves its facts out; other read errors are returned. An approval
// request that is no longer PENDING, or that the model's policy approves
// by itself, needs no message: ErrNothingToSay.
func (c *Consumer) Message(ctx context.Context, e registry.Event) (registry.Notification, error) {
	d := e.Detail
	n := registry.Notification{Event: e, Model: d.Model, Version: d.Version, From: d.From, To: d.To,
		Actor: d.Actor, Reason: d.Reason, ApprovalID: d.ApprovalID, PreviousVersion: d.PreviousVersion}
	var ap registry.Approval
	if d.ApprovalID != "" {
		var err error
		if ap, err = c.cfg.Registry.GetApproval(ctx, d.ApprovalID); err != nil && !registry.IsCode(err, registry.NotFound) {
			return n, err
		}
	}
	m, err := c.cfg.Registry.GetModel(ctx, d.Model)
	if err != nil && !registry.IsCode(err, registry.NotFound) {
		return n, err
	}
	switch {
	case e.Type == registry.EventApprovalRequested:
		if (ap.ID != "" && ap.Status != registry.ApprovalPending) || ap.AutoApproved || m.Policy.Approval == registry.ApprovalAuto {
			// Nothing for approvers to do: decided already (its decision
			// is news of its own), or the policy approves by itself.
			return n, ErrNothingToSay
		}
		c.approvalFacts(&n, ap, m)
		n.Kind = registry.NotifyApprovalRequested
		n.Subject = fmt.Sprintf("[modelreg] %s v%d → %s: approval requested by %s", n.Model, n.Version, n.To, n.Requester)
		if err := c.metrics(ctx, &n, m.Policy); err != nil {
			return n, err
		}

	case e.Type == registry.EventApprovalDecided:
		c.approvalFacts(&n, ap, m)
		n.Kind, n.Audience = registry.NotifyApprovalDecided, registry.AudienceRequester
		n.Recipients = nil
		if n.Requester != "" {
			n.Recipients = []string{n.Requester}
		}
		n.Actor, n.Comment, n.Status = d.Actor, d.Reason, d.Status
		n.Reason, n.Commands, n.ExpiresAt = ap.Reason, nil, time.Time{}
		if ap.ID == "" {
			// The approval is gone: the event names the decider, not the requester.
			n.Requester, n.Recipients = "", nil
		}
		n.Subject = fmt.Sprintf("[modelreg] %s v%d → %s: %s", n.Model, n.Version, n.To, decided(d.Status, d.Actor))

	case e.Type == registry.EventStageChanged && d.Rollback:
		n.Kind, n.Audience = registry.NotifyRolledBack, registry.AudienceTeam
		if n.PreviousVersion == 0 {
			if n.PreviousVersion, err = c.rolledBackFrom(ctx, e); err != nil {
				return n, err
			}
		}
		n.BaselineVersion = n.PreviousVersion
		n.Subject = fmt.Sprintf("[modelreg] %s rolled back to v%d by %s", n.Model, n.Version, n.Actor)
		if n.PreviousVersion > 0 {
			n.Subject += fmt.Sprintf(" (from v%d)", n.PreviousVersion)
		}
		if err := c.metrics(ctx, &n, m.Policy); err != nil {
			return n, err
		}

	case e.Type == registry.EventStageChanged:
		n.Kind, n.Audience = registry.NotifyPromoted, registry.AudienceTeam
		n.Requester = ap.RequestedBy
		if n.PreviousVersion == 0 {
			n.PreviousVersion = ap.ArchivedVersion
		}
		n.BaselineVersion = n.PreviousVersion
		n.Subject = fmt.Sprintf("[modelreg] %s v%d is in %s (%s)", n.Model, n.Version, n.To, decided("approved", n.Actor))
		n.URL = c.approvalURL(n.ApprovalID)
		if err := c.metrics(ctx, &n, m.Policy); err != nil {
			return n, err
		}

	case e.Type == registry.EventDeploymentFailed:
		n.Kind, n.Audience = registry.NotifyDeploymentFailed, registry.AudienceTeam
		n.Status = string(registry.DeploymentFailed)
		n.TargetID, n.TargetKind, n.DeploymentID = d.TargetID, d.TargetKind, d.DeploymentID
		n.Subject = fmt.Sprintf("[modelreg] %s v%d: deployment to %s (%s) failed", n.Model, n.Version, n.TargetID, n.TargetKind)
		n.Commands = []string{"modelreg deployments " + n.Model}
		if n.DeploymentID != "" {
			n.Commands = append(n.Commands, "modelreg deployments "+n.Model+" redeliver "+n.DeploymentID)
		}

	default:
		return n, registry.Errorf(registry.Invalid, "notify: no message for %q events", e.Type)
	}
	n.Text = Text(n)
	return n, nil
}

// reminder builds the reminder for ap at now.
func (c *Consumer) reminder(ctx context.Context, ap registry.Approval, now time.Time) (registry.Notification, error) {
	n := registry.Notification{Event: registry.Event{Time: now}, Model: ap.Model, Version: ap.Version, ApprovalID: ap.ID}
	m, err := c.cfg.Registry.GetModel(ctx, ap.Model)
	if err != nil && !registry.IsCode(err, registry.NotFound) {
		return n, err
	}
	c.approvalFacts(&n, ap, m)
	n.Kind = registry.NotifyApprovalReminder
	n.Subject = fmt.Sprintf("[modelreg] reminder: %s v%d → %s expires in %s (requested by %s)",
		n.Model, n.Version, n.To, Until(ap.ExpiresAt, now), n.Requester)
	if err := c.metrics(ctx, &n, m.Policy); err != nil {
		return n, err
	}
	n.Text = Text(n)
	return n, nil
}

// approvalFacts fills in what the approval and the model say: requester,
// reason, the stage move, the expiry, who may decide, the version it would
// replace, the commands and the console link.
func (c *Consumer) approvalFacts(n *registry.Notification, ap registry.Approval, m registry.Model) {
	n.Audience = registry.AudienceApprovers
	n.Recipients = slices.Clone(m.Policy.Approvers)
	if ap.ID != "" {
		n.Requester, n.Reason, n.ExpiresAt = ap.RequestedBy, ap.Reason, ap.ExpiresAt
		n.To = ap.TargetStage
	} else {
		n.Requester = n.Actor
	}
	if n.To == "" {
		n.To = registry.StageProduction
	}
	if n.From == "" {
		// Only a version in Staging may be asked for Production.
		n.From = registry.StageStaging
	}
	switch {
	case m.ProductionVersion != 0 && m.ProductionVersion != n.Version:
		n.PreviousVersion = m.ProductionVersion
	case ap.ArchivedVersion != 0:
		n.PreviousVersion = ap.ArchivedVersion
	}
	n.BaselineVersion = n.PreviousVersion
	n.Commands = []string{"modelreg approvals approve " + n.ApprovalID, "modelreg approvals reject " + n.ApprovalID}
	n.URL = c.approvalURL(n.ApprovalID)
}

func (c *Consumer) approvalURL(id string) string {
	if c.cfg.ConsoleURL == "" || id == "" {
		return ""
	}
	return c.cfg.ConsoleURL + "/approvals/" + id
}

// decided says how an approval ended, for a subject.
func decided(status, actor string) string {
	word := strings.ToLower(status)
	switch {
	case status == string(registry.ApprovalExpired), status == string(registry.ApprovalFailed):
		return word
	case actor == registry.ActorPolicy:
		return word + " by the model's policy"
	case actor != "":
		return word + " by " + actor
	}
	return word
}

// rolledBackFrom finds, in the audit entry of a rollback event, the
// version Production was rolled back from (0 if the trail does not say).
func (c *Consumer) rolledBackFrom(ctx context.Context, e registry.Event) (int, error) {
	if e.Detail.AuditID == "" {
		return 0, nil
	}
	h, err := c.cfg.Registry.History(ctx, e.Detail.Model, e.Detail.Version, "", 50)
	if registry.IsCode(err, registry.NotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for _, a := range h.Items {
		if a.ID == e.Detail.AuditID {
			v, _ := strconv.Atoi(a.Details["rolled_back_from"])
			return v, nil
		}
	}
	return 0, nil
}

// metrics fills in n.Metrics: the version's key metrics — those the
// policy checks first, then the others by name — each beside
// n.BaselineVersion's value (the registry's comparison), at most
// maxMetrics.
func (c *Consumer) metrics(ctx context.Context, n *registry.Notification, p registry.Policy) error {
	if n.Version <= 0 {
		return nil
	}
	var rows []registry.MetricRow
	if n.BaselineVersion > 0 && n.BaselineVersion != n.Version {
		cmp, err := c.cfg.Registry.Compare(ctx, n.Model, []int{n.Version, n.BaselineVersion}, "")
		switch {
		case err == nil:
			rows = cmp.Metrics
		case registry.IsCode(err, registry.NotFound):
			n.BaselineVersion = 0 // gone since: show the version's own
		default:
			return err
		}
	}
	if rows == nil {
		n.BaselineVersion = 0
		v, err := c.cfg.Registry.GetVersion(ctx, n.Model, n.Version)
		if registry.IsCode(err, registry.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for name, m := range v.Metrics {
			rows = append(rows, registry.MetricRow{Name: name, Values: map[int]float64{v.Number: m.Value}, HigherIsBetter: registry.HigherIsBetter(name)})
		}
	}
	rank := map[string]int{}
	for _, r := range p.Metrics {
		if _, ok := rank[r.Metric]; !ok {
			rank[r.Metric] = len(rank)
		}
	}
	for _, spec := range p.MustBeatProduction {
		name, _, _ := strings.Cut(spec, ":")
		if _, ok := rank[name]; !ok {
			rank[name] = len(rank)
		}
	}
	slices.SortFunc(rows, func(a, b registry.MetricRow) int {
		ra, oka := rank[a.Name]
		rb, okb := rank[b.Name]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	n.Metrics = nil
	for _, r := range rows {
		val, ok := r.Values[n.Version]
		if !ok {
			continue
		}
		if len(n.Metrics) == maxMetrics {
			break
		}
		base, has := r.Values[n.BaselineVersion]
		n.Metrics = append(n.Metrics, registry.MetricDelta{Name: r.Name, Value: val, HasBaseline: has && n.BaselineVersion > 0,
			Baseline: base, HigherIsBetter: r.HigherIsBetter})
	}
	return nil
}

// Until says how long is left before t, as of now, in whole hours
// ("24 hours", "1 hour", "less than an hour").
func Until(t, now time.Time) string {
	d := t.Sub(now).Round(time.Hour)
	switch {
	case t.Sub(now) < time.Hour-time.Minute:
		return "less than an hour"
	case d <= time.Hour:
		return "1 hour"
	}
	return strconv.Itoa(int(d.Hours())) + " hours"
}

// Text is the plain-text form of n: the email body and the log line's
// text.
func Text(n registry.Notification) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	switch n.Kind {
	case registry.NotifyApprovalRequested:
		line("%s version %d is waiting for approval to go %s → %s.", n.Model, n.Version, n.From, n.To)
	case registry.NotifyApprovalReminder:
		line("Reminder: the request to move %s version %d %s → %s expires in %s, at %s.", n.Model, n.Version, n.From, n.To,
			Until(n.ExpiresAt, n.Event.Time), n.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	case registry.NotifyApprovalDecided:
		line("The request to move %s version %d %s → %s was %s.", n.Model, n.Version, n.From, n.To, decided(n.Status, n.Actor))
	case registry.NotifyPromoted:
		line("%s version %d is in %s, %s.", n.Model, n.Version, n.To, decided("approved", n.Actor))
	case registry.NotifyRolledBack:
		line("%s was rolled back to version %d by %s.", n.Model, n.Version, n.Actor)
	case registry.NotifyDeploymentFailed:
		line("The deployment of %s version %d to %s (%s) failed.", n.Model, n.Version, n.TargetID, n.TargetKind)
	default:
		line("%s", n.Subject)
	}
	b.WriteString("\n")
	fact := func(label, value string) {
		if value != "" {
			line("%-14s %s", label+":", value)
		}
	}
	fact("Model", n.Model)
	if n.Version > 0 {
		fact("Version", strconv.Itoa(n.Version))
	}
	if n.PreviousVersion > 0 {
		label := "Replaces"
		if n.Kind == registry.NotifyRolledBack {
			label = "Rolled back from"
		}
		fact(label, "version "+strconv.Itoa(n.PreviousVersion))
	}
	fact("Requested by", n.Requester)
	if n.Actor != n.Requester {
		fact("By", n.Actor)
	}
	if n.Kind == registry.NotifyApprovalRequested || n.Kind == registry.NotifyApprovalReminder {
		if !n.ExpiresAt.IsZero() {
			fact("Expires", n.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
		}
		who := strings.Join(n.Recipients, ", ")
		if who == "" {
			who = "any approver or admin"
		}
		fact("Who decides", who)
	}
	fact("Deploy target", n.TargetID)
	fact("Approval", n.ApprovalID)
	if n.Reason != "" {
		line("\nReason:\n%s", indent(n.Reason))
	}
	if n.Comment != "" {
		line("\nComment:\n%s", indent(n.Comment))
	}
	if len(n.Metrics) > 0 {
		if n.BaselineVersion > 0 {
			line("\nMetrics (version %d against version %d):", n.Version, n.BaselineVersion)
		} else {
			line("\nMetrics (version %d):", n.Version)
		}
		for _, d := range n.Metrics {
			s := fmt.Sprintf("  %s %s", d.Name, num(d.Value))
			if d.HasBaseline {
				s += fmt.Sprintf(" (was %s: %s)", num(d.Baseline), better(d))
			}
			line("%s", s)
		}
	}
	if len(n.Commands) > 0 {
		line("\nFrom the command line:")
		for _, cmd := range n.Commands {
			line("  %s", cmd)
		}
	}
	if n.URL != "" {
		line("\nOpen: %s", n.URL)
	}
	return b.String()
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func num(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// better says how d's value compares with the baseline's.
func better(d registry.MetricDelta) string {
	diff := d.Value - d.Baseline
	switch {
	case diff == 0:
		return "same"
	case (diff > 0) == d.HigherIsBetter:
		return "better"
	}
	return "worse"
}
