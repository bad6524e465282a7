package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"

	"github.com/modelreg/modelreg/shared/registry"
)

// blockedPrefixes are the networks a webhook may not reach unless private
// webhooks are allowed, besides what netip classifies as loopback, private,
// link-local, multicast or unspecified.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT, shared address space
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 onto IPv4, which may be private
}

// blockedAddr says why ip may not be reached, or "" if it may.
func blockedAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "an invalid address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address (incl. the instance metadata service)"
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return "a reserved address (" + p.String() + ")"
		}
	}
	return ""
}

// resolver is what CheckURL resolves host names with (tests replace it).
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var defaultResolver resolver = net.DefaultResolver

// CheckURL vets a webhook URL before it is stored: it must be absolute
// http or https with a host and no user info, and unless allowPrivate
// every address its host resolves to must be public (not loopback,
// private — RFC 1918, fc00::/7 —, link-local — 169.254.0.0/16 with the
// metadata address, fe80::/10 —, unspecified, multicast or reserved).
// Invalid (naming the reason) if not; Unavailable if the name cannot be
// resolved now. The Client re-checks the address it actually connects to,
// so a name that later resolves elsewhere (DNS rebinding) is still refused.
func CheckURL(ctx context.Context, rawURL string, allowPrivate bool) error {
	return checkURL(ctx, defaultResolver, rawURL, allowPrivate)
}

func checkURL(ctx context.Context, r resolver, rawURL string, allowPrivate bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return registry.Errorf(registry.Invalid, "webhook URL %q does not parse", rawURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return registry.Errorf(registry.Invalid, "webhook URL %q: only http and https are allowed", rawURL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return registry.Errorf(registry.Invalid, "webhook URL %q has no host", rawURL)
	}
	if u.User != nil {
		return registry.Errorf(registry.Invalid, "webhook URL %q carries user info: put credentials in the signing secret", rawURL)
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return registry.Wrap(registry.Unavailable, err, "webhook URL %q: cannot resolve %s", rawURL, host)
		}
	}
	if len(addrs) == 0 {
		return registry.Errorf(registry.Unavailable, "webhook URL %q: %s resolves to no address", rawURL, host)
	}
	for _, ip := range addrs {
		if why := blockedAddr(ip); why != "" {
			return registry.Errorf(registry.Invalid, "webhook URL %q: %s is %s, which webhooks may not reach (the local server allows it with --allow-private-webhooks)", rawURL, host, why)
		}
	}
	return nil
}

// BlockedError is the error of a connection the Client refused to make:
// the address is one CheckURL refuses.
type BlockedError struct {
	Address string
	Why     string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("webhook: refusing to connect to %s: %s", e.Address, e.Why)
}

// dialControl refuses connections to blocked addresses; it runs after name
// resolution, on the address about to be connected, so DNS rebinding
// cannot slip past CheckURL.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Address: address, Why: "not an IP address"}
	}
	if why := blockedAddr(ap.Addr()); why != "" {
		return &BlockedError{Address: address, Why: why}
	}
	return nil
}
