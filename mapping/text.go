package mapping

import (
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
// time.
func cleanASCII(s string) (ascii, clean bool) {
	const (
		ones  = 0x0101010101010101
		lows  = 0x7f7f7f7f7f7f7f7f
		highs = 0x8080808080808080
	)
	clean = true
	prevSpace := false // the last byte of the previous word is a space
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// Some byte of w is 0x80 or more, less than 0x20, or 0x7f (its
		// xor with 0x7f is zero) when the high bit of a byte is set in
		// one of the terms.
		x := w ^ 0x7f*ones
		if (w|(w-0x20*ones)|(x-ones)&^x)&highs != 0 {
			return false, false
		}
		// spaces has the high bit of every byte of w that is a space.
		y := w ^ 0x20*ones
		spaces := ^((y&lows + lows) | y | lows)
		if spaces&(spaces<<8) != 0 || prevSpace && spaces&0x80 != 0 {
			clean = false
		}
		prevSpace = spaces>>63 != 0
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			return false, false
		}
		if c == ' ' && prevSpace {
			clean = false
		}
		prevSpace = c == ' '
	}
	return true, clean
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
	for _, r := range s {
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
