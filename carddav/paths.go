package carddav

import (
	"net/url"
	"strings"
)

// homeSetName is the path segment of a user's address book home set:
// /<prefix>/<login>/books/.
const homeSetName = "books"

// objectSuffix ends the last path segment of every address object.
const objectSuffix = ".vcf"

// kind says which resource a path names; it follows the depth below the
// prefix.
type kind int

const (
	kindRoot      kind = iota // /dav/
	kindPrincipal             // /dav/<login>/
	kindHomeSet               // /dav/<login>/books/
	kindBook                  // /dav/<login>/books/<book>/
	kindObject                // /dav/<login>/books/<book>/<uid>.vcf
)

// target is a parsed request path. Its strings are decoded: user is a login
// name, book a book ID, uid a card UID.
type target struct {
	kind kind
	user string
	book string
	uid  string
}

// escapeSegment turns a name into one path segment. The paths built here
// are unescaped paths (they are escaped once more into hrefs, and
// r.URL.Path and href paths are compared after one unescaping), so only
// the two characters that would change the path's structure or make
// decoding ambiguous are escaped here: "%" and "/". The wire form of
// "a/b c" is therefore "a%252Fb%20c".
func escapeSegment(s string) string {
	if !strings.ContainsAny(s, "%/") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeSegment reverses escapeSegment. It accepts only the canonical
// form, so every name has exactly one path.
func unescapeSegment(seg string) (string, bool) {
	if seg == "" {
		return "", false
	}
	s, err := url.PathUnescape(seg)
	if err != nil || escapeSegment(s) != seg {
		return "", false
	}
	return s, true
}

// paths builds and parses the paths below one prefix.
type paths struct {
	// prefix is "" or starts with "/" and has no trailing "/".
	prefix string
}

func (p paths) root() string { return p.prefix + "/" }

func (p paths) principal(login string) string {
	return p.prefix + "/" + escapeSegment(login) + "/"
}

func (p paths) homeSet(login string) string {
	return p.principal(login) + homeSetName + "/"
}

func (p paths) book(login, bookID string) string {
	return p.homeSet(login) + escapeSegment(bookID) + "/"
}

func (p paths) object(login, bookID, uid string) string {
	return p.book(login, bookID) + escapeSegment(uid) + objectSuffix
}

// parse parses an unescaped request path. ok is false for paths outside
// the prefix and for paths that name nothing dirbook serves; collections
// may be named with or without their trailing slash.
func (p paths) parse(reqPath string) (t target, ok bool) {
	rest, found := strings.CutPrefix(reqPath, p.prefix+"/")
	if !found {
		if reqPath == p.prefix && p.prefix != "" {
			return target{kind: kindRoot}, true
		}
		return target{}, false
	}
	if rest == "" {
		return target{kind: kindRoot}, true
	}
	trailing := strings.HasSuffix(rest, "/")
	var arr [4]string
	segs := arr[:0]
	for seg := range strings.SplitSeq(strings.TrimSuffix(rest, "/"), "/") {
		if len(segs) == len(arr) {
			return target{}, false
		}
		segs = append(segs, seg)
	}
	user, ok := unescapeSegment(segs[0])
	if !ok {
		return target{}, false
	}
	t = target{kind: kindPrincipal, user: user}
	if len(segs) == 1 {
		return t, true
	}
	if segs[1] != homeSetName {
		return target{}, false
	}
	t.kind = kindHomeSet
	if len(segs) == 2 {
		return t, true
	}
	if t.book, ok = unescapeSegment(segs[2]); !ok {
		return target{}, false
	}
	t.kind = kindBook
	if len(segs) == 3 {
		return t, true
	}
	name, found := strings.CutSuffix(segs[3], objectSuffix)
	if !found || trailing {
		return target{}, false
	}
	if t.uid, ok = unescapeSegment(name); !ok {
		return target{}, false
	}
	t.kind = kindObject
	return t, true
}
