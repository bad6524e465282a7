// Package lazyre holds regular expressions that are compiled on first use
// instead of at package initialization. A package-level
// regexp.MustCompile runs in every process that links the package, before
// main: the api Lambda function paid about half a millisecond of each cold
// start for patterns (IAM ARNs, SageMaker names, upload ids) most requests
// never match.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a pattern compiled the first time it is used. It is safe for
// concurrent use.
type Regexp struct {
	src  string
	once sync.Once
	re   *regexp.Regexp
}

// New returns the pattern src, to be compiled on first use. An invalid
// pattern panics there, as regexp.MustCompile does; the tests of every
// package using one exercise each of its patterns.
func New(src string) *Regexp { return &Regexp{src: src} }

// Get returns the compiled pattern.
func (r *Regexp) Get() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.src) })
	return r.re
}

// MatchString reports whether s contains a match of the pattern.
func (r *Regexp) MatchString(s string) bool { return r.Get().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.Get().FindStringSubmatch(s) }

// String returns the source text of the pattern.
func (r *Regexp) String() string { return r.src }
