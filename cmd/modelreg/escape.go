package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// clean makes s safe to print as one field of a line on a terminal: what
// is not printable — C0 and C1 controls (ESC, NUL, CR…), DEL, bidi
// overrides and isolates, zero-width and other format characters, invalid
// UTF-8 — is shown escaped (\x1b, \u202e), and so are newline and tab
// (\n, \t), so a value can neither start a fake line or column nor send
// escape sequences to the terminal. Every text printer of the CLI passes
// server-provided text through it (see outf); JSON output is not escaped.
func clean(s string) string {
	return escape(s, false)
}

// cleanLines is clean for multi-line text the CLI writes itself (error
// messages with a hint on a second line): newlines stay, the rest is
// escaped.
func cleanLines(s string) string {
	return escape(s, true)
}

func escape(s string, keepNewlines bool) string {
	if safe(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// safe reports whether s prints as it is.
func safe(s string, keepNewlines bool) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return false
			}
		}
		if !unicode.IsPrint(r) && !(keepNewlines && r == '\n') {
			return false
		}
	}
	return true
}

// outf is fmt.Fprintf for text output: every string-like argument
// (strings and named string types such as stages, Stringers, errors) goes
// through clean first, so no field can forge a line, a column or a
// terminal escape. The format itself is the CLI's own text.
func outf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format, cleanArgs(args)...)
}

func cleanArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = clean(v)
		case error:
			out[i] = clean(v.Error())
		case fmt.Stringer:
			out[i] = clean(v.String())
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				out[i] = clean(rv.String())
			} else {
				out[i] = a
			}
		}
	}
	return out
}
