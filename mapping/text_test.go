package mapping

import (
	"strings"
	"testing"
)

// TestIsClean checks isClean's fast path against the rune by rune check
// for every byte value at every position of strings of several lengths.
func TestIsClean(t *testing.T) {
	for n := 1; n <= 25; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				if pos > 0 && c%2 == 0 { // a space before it: "  " when c is a space
					b[pos-1] = ' '
				}
				s := string(b)
				if got, want := isClean(s), isCleanRunes(s); got != want {
					t.Errorf("isClean(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	for _, s := range []string{"", " ", "a", "a b", "a  b", "abcdefg  hijk", "abcdefgh  ijk", "abcdef  ghijk", "a b c d e f g h i j", "abcdefg h", "abcdefghijklmno  p", " a", "a ", "Ünïcödé", "a\u00a0b", "a\u2028b", "0123456789 abcdef~"} {
		if got, want := isClean(s), isCleanRunes(s); got != want {
			t.Errorf("isClean(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestHasLetter(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"+49 30 1234-567", false},
		{"0800-CALL-NOW", true},
		{"123 ext. 4", true},
		{"@[`{", false},
		{"Z", true},
		{"1 2 3 ä", true},
		{"12 \u0663", false}, // an Arabic-Indic digit
		{"12 \xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := hasLetter(tt.in); got != tt.want {
				t.Errorf("hasLetter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
