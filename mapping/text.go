package mapping

import (
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxText bounds the length of a text value in bytes; longer values are
// cut at a rune boundary.
const maxText = 4096

// cleanText makes an attribute value safe for a vCard text value: invalid
// UTF-8 becomes U+FFFD, white space (including line breaks and tabs)
// becomes a single space, other control characters are removed, spaces
// are trimmed and collapsed, and the result is cut to maxText bytes at a
// rune boundary.
func cleanText(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), maxText+utf8.UTFMax))
	space := false  // a space is pending
	badRun := false // the previous byte was invalid UTF-8
	for i := 0; i < len(s) && b.Len() <= maxText; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			if badRun {
				continue
			}
			badRun = true
		} else {
			badRun = false
		}
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return truncate(b.String(), maxText)
}

// isClean reports whether cleanText would return s unchanged.
func isClean(s string) bool {
	if len(s) > maxText {
		return false
	}
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if ascii, clean := cleanASCII(s); ascii {
		return clean
	}
	return isCleanRunes(s)
}

// cleanASCII reports whether s holds only the bytes 0x20 to 0x7e and, if
// so, whether it has no two spaces in a row. It looks at eight bytes at a
// time; the last word overlaps the one before, and a string shorter than
// eight bytes is padded with letters.
func cleanASCII(s string) (ascii, clean bool) {
	if len(s) < 8 {
		w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
		copy(w[:], s)
		bad, pair := checkWord(binary.LittleEndian.Uint64(w[:]))
		return !bad, !pair
	}
	clean = true
	prevSpace := false // the last byte of the previous word is a space
	i := 0
	for ; i+8 <= len(s); i += 8 {
		bad, pair, first, last := checkWordEdges(word(s[i : i+8]))
		if bad {
			return false, false
		}
		if pair || prevSpace && first {
			clean = false
		}
		prevSpace = last
	}
	if i < len(s) {
		// Every pair of neighbours past the last whole word is inside
		// the last eight bytes.
		bad, pair := checkWord(word(s[len(s)-8:]))
		if bad {
			return false, false
		}
		clean = clean && !pair
	}
	return true, clean
}

// word returns the first eight bytes of s, little-endian.
func word(s string) uint64 {
	s = s[:8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// checkWord reports whether some byte of w is not 0x20 to 0x7e, and
// whether two neighbouring bytes of w are spaces.
func checkWord(w uint64) (bad, pair bool) {
	bad, pair, _, _ = checkWordEdges(w)
	return bad, pair
}

// checkWordEdges is checkWord that also reports whether the first and
// the last byte of w are spaces.
func checkWordEdges(w uint64) (bad, pair, first, last bool) {
	const (
		ones  = 0x0101010101010101
		lows  = 0x7f7f7f7f7f7f7f7f
		highs = 0x8080808080808080
	)
	// Some byte of w is 0x80 or more, less than 0x20, or 0x7f (its xor
	// with 0x7f is zero) when the high bit of a byte is set in one of
	// the terms.
	x := w ^ 0x7f*ones
	bad = (w|(w-0x20*ones)|(x-ones)&^x)&highs != 0
	// spaces has the high bit of every byte of w that is a space.
	y := w ^ 0x20*ones
	spaces := ^((y&lows + lows) | y | lows)
	return bad, spaces&(spaces<<8) != 0, spaces&0x80 != 0, spaces>>63 != 0
}

// isCleanRunes is isClean for a string that is not printable ASCII.
func isCleanRunes(s string) bool {
	prevSpace := true // no leading space
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			if c == ' ' {
				if prevSpace {
					return false
				}
				prevSpace = true
			} else {
				prevSpace = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
		prevSpace = false
		i += size
	}
	return !prevSpace || s == ""
}

// truncate cuts s to at most n bytes at a rune boundary and trims a
// trailing space the cut may leave.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.TrimRight(s[:i], " ")
}

// cleanComponent is cleanText for a component of a structured value: ';'
// separates components and go-vcard does not escape it, so it becomes ','.
func cleanComponent(s string) string {
	s = cleanText(s)
	if strings.IndexByte(s, ';') >= 0 {
		s = strings.ReplaceAll(s, ";", ",")
	}
	return s
}

// hasLetter reports whether s contains a letter.
func hasLetter(s string) bool {
	i := 0
	for ; i < len(s) && s[i] < utf8.RuneSelf; i++ {
		if c := s[i] | 0x20; 'a' <= c && c <= 'z' {
			return true
		}
	}
	for _, r := range s[i:] {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
				return true
			}
			continue
		}
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// truncateRunes cuts s to at most n runes and trims a trailing space the
// cut may leave.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return strings.TrimRight(s[:i], " ")
		}
		count++
	}
	return s
}

// titleCase upper-cases the first letter of each word and lower-cases
// the other letters: a letter starts a word unless it follows a letter
// or a digit ("o'brien-smith" becomes "O'Brien-Smith").
func titleCase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inWord := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			if inWord {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToTitle(r))
			}
			inWord = true
		case unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
			inWord = inWord || unicode.IsDigit(r)
		default:
			b.WriteRune(r)
			inWord = false
		}
	}
	return b.String()
}
