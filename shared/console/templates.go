package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// funcs are the helpers the templates use. None of them returns
// template.HTML from user input: html/template escapes every user string.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// seg escapes a path segment.
	"seg": url.PathEscape,
	// weblink returns s as a URL when it is an http(s) URL (a link is
	// offered), else "" (shown as text).
	"weblink": func(s string) string {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ""
		}
		return u.String()
	},
	"num":   fmtNum,
	"join":  strings.Join,
	"short": func(s string) string { return s[:min(len(s), 12)] },
	"size":  humanSize,
	"metric": func(v registry.Version, name string) string {
		m, ok := v.Metrics[name]
		if !ok {
			return ""
		}
		return fmtNum(m.Value)
	},
	"has": func(ns []int, n int) bool {
		for _, x := range ns {
			if x == n {
				return true
			}
		}
		return false
	},
	"lower": strings.ToLower,
	"mcell": func(row registry.MetricRow, n int) string {
		if v, ok := row.Values[n]; ok {
			return fmtNum(v)
		}
		return "—"
	},
	"pcell": func(row registry.ParamRow, n int) string {
		if v, ok := row.Values[n]; ok {
			return v
		}
		return "—"
	},
	"perm": func(s string) registry.Permission { return registry.Permission(s) },
}

// humanSize formats a byte count (1.5 MiB) with the exact count beside it
// in the page.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// parsePages parses every page template with the layout and partials.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		page := strings.TrimSuffix(path.Base(n), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		pages[page] = t
	}
	return pages, nil
}
