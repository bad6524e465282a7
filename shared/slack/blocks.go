package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/registry"
)

// Message is an incoming-webhook payload: Text is the fallback that
// notifications and screen readers show, Blocks the Block Kit layout.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks,omitempty"`
}

// JSON is the payload as it is posted: UTF-8 as it is, without the
// HTML-escaping of <, > and & that json.Marshal adds.
func (m Message) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Block is one Block Kit layout block (header, section, context, actions,
// divider).
type Block struct {
	Type     string    `json:"type"`
	Text     *TextObj  `json:"text,omitempty"`
	Fields   []TextObj `json:"fields,omitempty"`
	Elements []Element `json:"elements,omitempty"`
}

// TextObj is a Block Kit text object: "plain_text" or "mrkdwn".
type TextObj struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Element is an element of a context block (a text object) or of an
// actions block (a link button).
type Element struct {
	Type     string `json:"type"`
	Text     any    `json:"text,omitempty"` // string for mrkdwn context, *TextObj for a button
	URL      string `json:"url,omitempty"`
	ActionID string `json:"action_id,omitempty"`
	Style    string `json:"style,omitempty"`
}

// Block Kit limits (api.slack.com/reference/block-kit/blocks).
const (
	maxHeader    = 150
	maxSection   = 3000
	maxField     = 2000
	maxFields    = 10
	maxFallback  = 3000
	maxMetricRow = 8
)

// Build lays n out as a Block Kit message: a header saying what happened,
// the facts as fields (model, version, from → to, requester, reason…),
// the key metrics against the baseline (the current Production version),
// the exact CLI commands that act on it, and a button linking to the
// approval in the console when n has a URL.
func Build(n registry.Notification) Message {
	m := Message{Text: clip(n.Subject, maxFallback)}
	m.Blocks = append(m.Blocks, Block{Type: "header", Text: &TextObj{Type: "plain_text", Text: clip(headline(n), maxHeader), Emoji: true}})

	var fields []TextObj
	field := func(label, value string) {
		if value == "" || len(fields) == maxFields {
			return
		}
		fields = append(fields, mrkdwn(clip("*"+label+"*\n"+value, maxField)))
	}
	field("Model", "`"+esc(n.Model)+"`")
	if n.Version > 0 {
		field("Version", strconv.Itoa(n.Version))
	}
	if n.From != "" || n.To != "" {
		field("Stage", esc(string(orNone(n.From)))+" → "+esc(string(n.To)))
	}
	if n.PreviousVersion > 0 {
		label := "Replaces"
		if n.Kind == registry.NotifyRolledBack {
			label = "Rolled back from"
		}
		field(label, "version "+strconv.Itoa(n.PreviousVersion))
	}
	if n.Requester != "" {
		field("Requested by", esc(n.Requester))
	}
	if n.Actor != "" && n.Actor != n.Requester {
		field(actorLabel(n.Kind), esc(n.Actor))
	}
	if n.Status != "" {
		field("Status", esc(n.Status))
	}
	if n.TargetID != "" {
		field("Deploy target", esc(n.TargetID)+" ("+esc(n.TargetKind)+")")
	}
	if !n.ExpiresAt.IsZero() && (n.Kind == registry.NotifyApprovalRequested || n.Kind == registry.NotifyApprovalReminder) {
		field("Expires", n.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if len(n.Recipients) > 0 {
		label := "For"
		if n.Audience == registry.AudienceApprovers {
			label = "Approvers"
		}
		field(label, esc(strings.Join(n.Recipients, ", ")))
	}
	if len(fields) > 0 {
		m.Blocks = append(m.Blocks, Block{Type: "section", Fields: fields})
	}

	if n.Reason != "" {
		m.Blocks = append(m.Blocks, section("*Reason*\n"+quote(n.Reason)))
	}
	if n.Comment != "" {
		m.Blocks = append(m.Blocks, section("*Comment*\n"+quote(n.Comment)))
	}
	if t := metricsText(n); t != "" {
		m.Blocks = append(m.Blocks, section(t))
	}
	if len(n.Commands) > 0 {
		var b strings.Builder
		b.WriteString("*From the command line*\n```")
		for i, c := range n.Commands {
			if i > 0 {
				b.WriteString("\n")
			}
			// Inside a code block only &, < and > are escaped; the text
			// shows as typed.
			b.WriteString(esc(c))
		}
		b.WriteString("```")
		m.Blocks = append(m.Blocks, section(b.String()))
	}
	if n.URL != "" {
		m.Blocks = append(m.Blocks, Block{Type: "actions", Elements: []Element{{
			Type: "button", Text: &TextObj{Type: "plain_text", Text: buttonLabel(n.Kind)}, URL: n.URL,
			ActionID: "open_approval", Style: "primary",
		}}})
	}
	ctxText := "modelreg"
	if n.ApprovalID != "" {
		ctxText += " · approval `" + esc(n.ApprovalID) + "`"
	}
	if n.Event.ID != "" {
		ctxText += " · event `" + esc(n.Event.ID) + "`"
	}
	m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []Element{{Type: "mrkdwn", Text: ctxText}}})
	return m
}

// headline says in a few words what happened.
func headline(n registry.Notification) string {
	v := fmt.Sprintf("%s v%d", n.Model, n.Version)
	switch n.Kind {
	case registry.NotifyApprovalRequested:
		return ":raised_hand: Approval requested: " + v + " → " + string(n.To)
	case registry.NotifyApprovalReminder:
		return ":hourglass_flowing_sand: Approval expires in " + until(n) + ": " + v + " → " + string(n.To)
	case registry.NotifyApprovalDecided:
		icon := ":x:"
		if n.Status == string(registry.ApprovalApproved) {
			icon = ":white_check_mark:"
		}
		return icon + " " + v + " → " + string(n.To) + ": " + strings.ToLower(n.Status)
	case registry.NotifyPromoted:
		return ":rocket: " + v + " is in " + string(n.To)
	case registry.NotifyRolledBack:
		return ":rewind: " + n.Model + " rolled back to v" + strconv.Itoa(n.Version)
	case registry.NotifyDeploymentFailed:
		return ":rotating_light: Deployment failed: " + v
	}
	return n.Subject
}

// until says how long before the approval expires, in whole hours, as
// of the reminder (the notification's time), as shared/notify.Until does.
func until(n registry.Notification) string {
	if n.Event.Time.IsZero() || n.ExpiresAt.IsZero() {
		return "soon"
	}
	left := n.ExpiresAt.Sub(n.Event.Time)
	d := left.Round(time.Hour)
	switch {
	case left < time.Hour-time.Minute:
		return "less than an hour"
	case d <= time.Hour:
		return "1 hour"
	}
	return strconv.Itoa(int(d.Hours())) + " hours"
}

func actorLabel(k registry.NotificationKind) string {
	switch k {
	case registry.NotifyApprovalDecided:
		return "Decided by"
	case registry.NotifyPromoted:
		return "Approved by"
	case registry.NotifyRolledBack:
		return "Rolled back by"
	}
	return "By"
}

func buttonLabel(k registry.NotificationKind) string {
	if k == registry.NotifyApprovalRequested || k == registry.NotifyApprovalReminder {
		return "Review the approval"
	}
	return "Open the approval"
}

// metricsText is the metrics section: each key metric of the version,
// the baseline's value, and whether it is better.
func metricsText(n registry.Notification) string {
	if len(n.Metrics) == 0 {
		return ""
	}
	var b strings.Builder
	if n.BaselineVersion > 0 {
		fmt.Fprintf(&b, "*Metrics: v%d against v%d*", n.Version, n.BaselineVersion)
	} else {
		fmt.Fprintf(&b, "*Metrics of v%d*", n.Version)
	}
	for i, d := range n.Metrics {
		if i == maxMetricRow {
			fmt.Fprintf(&b, "\n…and %d more", len(n.Metrics)-i)
			break
		}
		fmt.Fprintf(&b, "\n• `%s` %s", esc(d.Name), num(d.Value))
		if d.HasBaseline && n.BaselineVersion > 0 {
			fmt.Fprintf(&b, " (v%d: %s, %s)", n.BaselineVersion, num(d.Baseline), verdict(d))
		}
	}
	return clip(b.String(), maxSection)
}

// verdict says whether d's value beats the baseline's.
func verdict(d registry.MetricDelta) string {
	diff := d.Value - d.Baseline
	if diff == 0 {
		return "same"
	}
	better := (diff > 0) == d.HigherIsBetter
	sign := "+"
	if diff < 0 {
		sign = ""
	}
	word := "worse"
	if better {
		word = "better"
	}
	return sign + num(diff) + " " + word
}

// num formats a metric value compactly and stably (golden files).
func num(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

func orNone(s registry.Stage) registry.Stage {
	if s == "" {
		return registry.StageNone
	}
	return s
}

func mrkdwn(t string) TextObj { return TextObj{Type: "mrkdwn", Text: t} }

func section(t string) Block {
	tx := mrkdwn(clip(t, maxSection))
	return Block{Type: "section", Text: &tx}
}

// quote shows free text as a block quote, escaped.
func quote(s string) string {
	lines := strings.Split(esc(s), "\n")
	return ">" + strings.Join(lines, "\n>")
}

// esc escapes the three characters Slack's mrkdwn gives meaning to
// (<@U…>, <!channel>, links): text from users never pings or links.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most n characters (runes), ending with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
