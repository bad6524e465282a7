package registry

import (
	"strings"
	"testing"
)

func TestValidateNewPath(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       string // "" when accepted, else a part of the message
	}{
		{name: "plain", path: "model/weights.safetensors"},
		{name: "composed é", path: "caf\u00e9/model.bin"},
		{name: "CJK and emoji", path: "模型/🚀.bin"},
		{name: "Hangul syllables", path: "\ud55c\uad6d\uc5b4.txt"},
		{name: "ASCII space", path: "my model/v 1.bin"},
		{name: "RLO", path: "invoice\u202egpj.exe", want: "U+202E (RIGHT-TO-LEFT OVERRIDE) at character 8 is an invisible or bidirectional"},
		{name: "LRI", path: "a\u2066b", want: "U+2066 (LEFT-TO-RIGHT ISOLATE)"},
		{name: "RLM", path: "a\u200fb", want: "U+200F (RIGHT-TO-LEFT MARK)"},
		{name: "zero width space", path: "model\u200b.bin", want: "U+200B (ZERO WIDTH SPACE) at character 6"},
		{name: "ZWJ", path: "a\u200db", want: "U+200D"},
		{name: "BOM", path: "\ufeffmodel.bin", want: "U+FEFF (ZERO WIDTH NO-BREAK SPACE (BOM)) at character 1"},
		{name: "soft hyphen", path: "mo\u00addel", want: "U+00AD (SOFT HYPHEN)"},
		{name: "tag character", path: "a\U000e0041", want: "U+E0041"},
		{name: "variation selector", path: "a\ufe0f", want: "U+FE0F"},
		{name: "Hangul filler", path: "\u3164.bin", want: "U+3164 (HANGUL FILLER)"},
		{name: "no-break space", path: "a\u00a0b", want: "U+00A0 (NO-BREAK SPACE) at character 2 is a space"},
		{name: "ideographic space", path: "a\u3000b", want: "a space or line break"},
		{name: "line separator", path: "a\u2028b", want: "U+2028 (LINE SEPARATOR)"},
		{name: "private use", path: "a\ue000", want: "U+E000 at character 2 is a private-use"},
		{name: "noncharacter", path: "a\ufffe", want: "noncharacter"},
		{name: "decomposed é", path: "cafe\u0301/model.bin", want: `"cafe\u0301/model.bin": not in Unicode normal form NFC ("caf\u00e9/model.bin" is)`},
		{name: "decomposed Hangul", path: "\u1112\u1161\u11ab", want: "NFC"},
		{name: "compatibility form stays", path: "\ufb01le"}, // "ﬁ" is NFC (NFKC would change it)
		{name: "shape still checked", path: "../x", want: "'.' and '..'"},
		{name: "control still checked", path: "a\x1bb", want: "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateNewPath(tc.path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%q refused: %v", tc.path, err)
				}
				return
			}
			if !IsCode(err, Invalid) || !strings.Contains(ErrorMessage(err), tc.want) {
				t.Fatalf("%q: got %v, want Invalid with %q", tc.path, err, tc.want)
			}
			// The message quotes the path with the character escaped, so it
			// cannot reorder or hide text where it is shown.
			if msg := ErrorMessage(err); strings.ContainsAny(msg, "\u202e\u200b\ufeff\u2066\u200f\u00ad") {
				t.Fatalf("message carries the raw character: %q", msg)
			}
		})
	}
	// Stored files keep their download path: ValidatePath is not stricter.
	if err := ValidatePath("cafe\u0301.bin"); err != nil {
		t.Errorf("ValidatePath refuses a stored non-NFC path: %v", err)
	}
}

func TestCheckPathSet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths []string
		want  string // "" when accepted
	}{
		{name: "distinct", paths: []string{"a.bin", "b.bin", "dir/a.bin", "dir2/a.bin"}},
		{name: "similar but distinct", paths: []string{"a", "a-x", "ab/c", "a.b"}},
		{name: "one", paths: []string{"Model.bin"}},
		{name: "twice", paths: []string{"m.bin", "x", "m.bin"}, want: "file m.bin is listed twice"},
		{name: "case", paths: []string{"Model.bin", "model.bin"}, want: `files "Model.bin" and "model.bin" differ only by letter case`},
		{name: "case in a directory", paths: []string{"Weights/a.bin", "weights/a.bin"}, want: "differ only by letter case"},
		{name: "case beyond ASCII", paths: []string{"ÉTÉ.txt", "été.txt"}, want: "differ only by letter case"},
		{name: "Greek sigma forms", paths: []string{"ΣΟΦΙΑ", "σοφια"}, want: "differ only by letter case"},
		{name: "Kelvin sign", paths: []string{"\u212a.bin", "k.bin"}, want: "differ only by letter case"},
		{name: "file and directory", paths: []string{"a", "a/b"}, want: "file a cannot also be a directory of a/b"},
		{name: "file and directory apart", paths: []string{"a", "a-x", "a/b"}, want: "file a cannot also be a directory of a/b"},
		{name: "file and deep directory", paths: []string{"x/y/z", "x"}, want: "file x cannot also be a directory of x/y/z"},
		{name: "file and directory by case", paths: []string{"Model", "model/b"}, want: `file "Model" and directory "model" of "model/b" differ only by letter case`},
		{name: "file and directory by Kelvin", paths: []string{"\u212a", "k/b"}, want: "differ only by letter case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPathSet(tc.paths)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%q refused: %v", tc.paths, err)
				}
				return
			}
			if !IsCode(err, Invalid) || !strings.Contains(ErrorMessage(err), tc.want) {
				t.Fatalf("%q: got %v, want Invalid with %q", tc.paths, err, tc.want)
			}
		})
	}
}

func TestFoldKeyMatchesEqualFold(t *testing.T) {
	words := []string{"a", "A", "ß", "ẞ", "ss", "k", "K", "\u212a", "σ", "ς", "Σ", "ǅ", "ǆ", "Ǆ", "é", "É", "ﬁ", "İ", "i", "I", "ı"}
	for _, a := range words {
		for _, b := range words {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("%q vs %q: same key %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}
