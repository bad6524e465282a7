package webhook

import (
	"context"
	"net/netip"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if out == nil {
		return nil, &netErr{host}
	}
	return out, nil
}

type netErr struct{ host string }

func (e *netErr) Error() string { return "no such host " + e.host }

func TestCheckURL(t *testing.T) {
	r := fakeResolver{
		"hooks.example.com":  {"93.184.216.34"},
		"dual.example.com":   {"93.184.216.34", "10.1.2.3"}, // one private answer is enough to refuse
		"metadata.internal":  {"169.254.169.254"},
		"v6only.example.com": {"2606:4700::6810:85e5"},
		"ula.example.com":    {"fd12:3456::1"},
	}
	cases := []struct {
		url          string
		allowPrivate bool
		want         registry.Code // "" = accepted
	}{
		{"https://hooks.example.com/deploy", false, ""},
		{"http://hooks.example.com:8080/x?y=1", false, ""},
		{"https://v6only.example.com/", false, ""},
		{"https://93.184.216.34/", false, ""},
		{"ftp://hooks.example.com/", false, registry.Invalid},
		{"file:///etc/passwd", false, registry.Invalid},
		{"gopher://hooks.example.com/", false, registry.Invalid},
		{"https:///nohost", false, registry.Invalid},
		{"hooks.example.com/deploy", false, registry.Invalid},
		{"https://user:pw@hooks.example.com/", false, registry.Invalid},
		{"http://127.0.0.1:9000/", false, registry.Invalid},
		{"http://127.8.8.8/", false, registry.Invalid},
		{"http://[::1]/", false, registry.Invalid},
		{"http://10.0.0.5/", false, registry.Invalid},
		{"http://172.16.0.1/", false, registry.Invalid},
		{"http://172.31.255.255/", false, registry.Invalid},
		{"http://192.168.1.1/", false, registry.Invalid},
		{"http://[fc00::1]/", false, registry.Invalid},
		{"https://ula.example.com/", false, registry.Invalid},
		{"http://169.254.169.254/latest/meta-data/", false, registry.Invalid},
		{"http://metadata.internal/", false, registry.Invalid},
		{"http://[fe80::1]/", false, registry.Invalid},
		{"http://0.0.0.0/", false, registry.Invalid},
		{"http://[::]/", false, registry.Invalid},
		{"http://[::ffff:127.0.0.1]/", false, registry.Invalid},
		{"http://[::ffff:10.0.0.1]/", false, registry.Invalid},
		{"http://100.64.0.1/", false, registry.Invalid},
		{"https://dual.example.com/", false, registry.Invalid},
		{"https://nxdomain.example.com/", false, registry.Unavailable},
		{"http://127.0.0.1:9000/", true, ""},
		{"http://169.254.169.254/", true, ""},
		{"ftp://127.0.0.1/", true, registry.Invalid},
	}
	for _, c := range cases {
		err := checkURL(context.Background(), r, c.url, c.allowPrivate)
		if got := registry.ErrorCode(err); got != c.want {
			t.Errorf("CheckURL(%q, allowPrivate=%v) = %v, want code %q", c.url, c.allowPrivate, err, c.want)
		}
	}
}

func TestDialControl(t *testing.T) {
	for addr, blocked := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:443": true, "10.0.0.1:80": true, "169.254.169.254:80": true,
		"[fe80::1]:80": true, "[::ffff:192.168.0.1]:80": true, "93.184.216.34:443": false,
		"[2606:4700::6810:85e5]:443": false,
	} {
		err := dialControl("tcp", addr, nil)
		if (err != nil) != blocked {
			t.Errorf("dialControl(%s) = %v, want blocked=%v", addr, err, blocked)
		}
	}
}
