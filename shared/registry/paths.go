package registry

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// The rules for a new artifact path, beyond ValidatePath's shape: a path
// is what a user reads in a listing and what a download creates on their
// disk, so it must look like what it is, and two paths of one version must
// stay two files on every disk. macOS and Windows disks ignore letter case,
// and macOS ignores the Unicode normal form.
//
// Only paths entering the registry (an upload session) are held to these
// rules; files stored before them stay downloadable.

// invisibleNames name the invisible characters met most often.
var invisibleNames = map[rune]string{
	0x00AD: "SOFT HYPHEN", 0x061C: "ARABIC LETTER MARK", 0x180E: "MONGOLIAN VOWEL SEPARATOR",
	0x200B: "ZERO WIDTH SPACE", 0x200C: "ZERO WIDTH NON-JOINER", 0x200D: "ZERO WIDTH JOINER",
	0x200E: "LEFT-TO-RIGHT MARK", 0x200F: "RIGHT-TO-LEFT MARK",
	0x202A: "LEFT-TO-RIGHT EMBEDDING", 0x202B: "RIGHT-TO-LEFT EMBEDDING", 0x202C: "POP DIRECTIONAL FORMATTING",
	0x202D: "LEFT-TO-RIGHT OVERRIDE", 0x202E: "RIGHT-TO-LEFT OVERRIDE",
	0x2060: "WORD JOINER", 0x2066: "LEFT-TO-RIGHT ISOLATE", 0x2067: "RIGHT-TO-LEFT ISOLATE",
	0x2068: "FIRST STRONG ISOLATE", 0x2069: "POP DIRECTIONAL ISOLATE", 0xFEFF: "ZERO WIDTH NO-BREAK SPACE (BOM)",
	0x00A0: "NO-BREAK SPACE", 0x3000: "IDEOGRAPHIC SPACE", 0x2028: "LINE SEPARATOR", 0x2029: "PARAGRAPH SEPARATOR",
	0x3164: "HANGUL FILLER", 0x115F: "HANGUL CHOSEONG FILLER", 0x1160: "HANGUL JUNGSEONG FILLER", 0xFFA0: "HALFWIDTH HANGUL FILLER",
}

// hiddenRune reports why r may not appear in an artifact path, or "".
// Refused: format characters (Unicode category Cf: bidirectional controls,
// zero-width characters, the BOM), the other default-ignorable code
// points (fillers, variation selectors), spaces other than U+0020, line
// and paragraph separators, private-use characters and noncharacters.
// Control characters are ValidatePath's.
func hiddenRune(r rune) string {
	switch {
	case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r),
		unicode.Is(unicode.Variation_Selector, r):
		return "an invisible or bidirectional formatting character"
	case r != ' ' && unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp):
		return "a space or line break other than the ASCII space"
	case unicode.Is(unicode.Co, r):
		return "a private-use character"
	case unicode.Is(unicode.Noncharacter_Code_Point, r):
		return "a Unicode noncharacter"
	}
	return ""
}

// runeName is "U+202E (RIGHT-TO-LEFT OVERRIDE)", or "U+E000" for a
// character without a name here.
func runeName(r rune) string {
	if n, ok := invisibleNames[r]; ok {
		return fmt.Sprintf("U+%04X (%s)", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}

// ValidateNewPath checks the path of a file about to be stored: the shape
// ValidatePath checks, no invisible, bidirectional or look-alike space
// characters, and Unicode NFC (the form macOS, the web and most editors
// produce; a decomposed "café" would be another file that downloads onto
// the same name). Invalid.
func ValidateNewPath(p string) error {
	if err := ValidatePath(p); err != nil {
		return err
	}
	n := 0
	for _, r := range p {
		n++
		if why := hiddenRune(r); why != "" {
			return Errorf(Invalid, "invalid artifact path %q: %s at character %d is %s, which would make the path look like another",
				p, runeName(r), n, why)
		}
	}
	if !norm.NFC.IsNormalString(p) {
		return Errorf(Invalid, "invalid artifact path %+q: not in Unicode normal form NFC (%+q is): send the NFC form; the two look alike and are one name on macOS",
			p, norm.NFC.String(p))
	}
	return nil
}

// foldKey is p with each character replaced by the smallest one of its
// simple case-folding orbit (unicode.SimpleFold): two paths have the same
// key exactly when strings.EqualFold says they are equal.
func foldKey(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for _, r := range p {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// CheckPathSet checks that the paths of one version (each valid by
// ValidateNewPath, so in NFC) can live side by side on any disk: none
// repeats, none differs from another only by letter case, and no file is
// also the directory of another file, letter case aside. The error names
// both paths and why they collide. Invalid.
func CheckPathSet(paths []string) error {
	type entry struct{ key, path string }
	all := make([]entry, 0, len(paths))
	for _, p := range paths {
		all = append(all, entry{foldKey(p), p})
	}
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		switch {
		case a.path == b.path:
			return Errorf(Invalid, "file %s is listed twice", a.path)
		case a.key == b.key:
			return Errorf(Invalid, "files %q and %q differ only by letter case: they would be one file on macOS and Windows disks; rename one", a.path, b.path)
		}
	}
	// A file that is also a directory: "a" and "A/b". Sorting does not put
	// them side by side ("a-x" sorts between "a" and "a/b"), so look each
	// file's directories up instead.
	byKey := make(map[string]string, len(all))
	for _, e := range all {
		byKey[e.key] = e.path
	}
	for _, e := range all {
		for i := range len(e.path) {
			if e.path[i] != '/' {
				continue
			}
			dir := e.path[:i]
			file, ok := byKey[foldKey(dir)]
			switch {
			case !ok:
			case file == dir:
				return Errorf(Invalid, "file %s cannot also be a directory of %s", file, e.path)
			default:
				return Errorf(Invalid, "file %q and directory %q of %q differ only by letter case: they would collide on macOS and Windows disks; rename one",
					file, dir, e.path)
			}
		}
	}
	return nil
}
