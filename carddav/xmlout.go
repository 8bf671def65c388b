package carddav

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Responses are written as they are made: a multiget of a whole book is
// tens of megabytes, which must not sit in memory. Elements use the
// prefixes D (DAV:), C (CardDAV) and CS (CalendarServer), declared once on
// the root element.

const (
	xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
	// multistatusStart opens every 207 body.
	multistatusStart = xmlHeader + `<D:multistatus xmlns:D="DAV:" xmlns:C="` + nsCardDAV + `" xmlns:CS="` + nsCS + `">` + "\n"
	multistatusEnd   = "</D:multistatus>\n"
	xmlContentType   = "application/xml; charset=utf-8"

	status200 = "<D:status>HTTP/1.1 200 OK</D:status>"
	status404 = "<D:status>HTTP/1.1 404 Not Found</D:status>"
)

// writerSize is the buffer of a response writer: big enough that a
// multiget of thousands of cards makes few writes to the connection.
const writerSize = 32 << 10

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writerSize) }}

// xmlWriter writes a response body through a pooled buffer and remembers
// the first write error, so a long answer stops early when the client is
// gone.
type xmlWriter struct {
	bw  *bufio.Writer
	err error
}

func newXMLWriter(w io.Writer) *xmlWriter {
	x := &xmlWriter{}
	x.bw = writerPool.Get().(*bufio.Writer)
	x.bw.Reset(errRecorder{w: w, err: &x.err})
	return x
}

// close flushes the buffer and returns it to the pool.
func (x *xmlWriter) close() error {
	err := x.bw.Flush()
	x.bw.Reset(nil)
	writerPool.Put(x.bw)
	x.bw = nil
	if x.err != nil {
		return x.err
	}
	return err
}

// failed reports whether a write to the client failed.
func (x *xmlWriter) failed() bool { return x.err != nil }

// errRecorder records the first error of w.
type errRecorder struct {
	w   io.Writer
	err *error
}

func (e errRecorder) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && *e.err == nil {
		*e.err = err
	}
	return n, err
}

func (x *xmlWriter) s(s string) { _, _ = x.bw.WriteString(s) }

func (x *xmlWriter) uint(n uint64) {
	var buf [20]byte
	_, _ = x.bw.Write(strconv.AppendUint(buf[:0], n, 10))
}

// text writes s as XML character data.
func (x *xmlWriter) text(s string) { escapeTo(x.bw, s, false) }

// data writes a vCard as character data, keeping its CRLF line ends:
// an XML parser turns a bare CR into LF, so CR is written as &#13;.
func (x *xmlWriter) data(s string) { escapeTo(x.bw, s, true) }

// stringWriter is what escapeTo writes to.
type stringWriter interface {
	io.StringWriter
	io.ByteWriter
}

// escapeTo writes s as XML character data: &, < and > escaped, CR as
// &#13; when cr is set, and what XML cannot hold (control characters,
// invalid UTF-8, U+FFFE, U+FFFF) as U+FFFD.
func escapeTo(w stringWriter, s string, cr bool) {
	last := 0
	for i := 0; i < len(s); {
		// Skip the bytes that stay as they are: nearly all of a vCard.
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		var esc string
		width := 1
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\r':
			if cr {
				esc = "&#13;"
			}
		case c < 0x20:
			esc = "\uFFFD"
		default: // c >= utf8.RuneSelf
			r, n := utf8.DecodeRuneInString(s[i:])
			width = n
			if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			_, _ = w.WriteString(s[last:i])
			_, _ = w.WriteString(esc)
			last = i + width
		}
		i += width
	}
	_, _ = w.WriteString(s[last:])
}

// plainByte marks the bytes escapeTo writes as they are without looking
// further: ASCII but for &, <, >, CR and the other control characters
// (tab and LF stay).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '&' && c != '<' && c != '>'
	}
	t['\t'], t['\n'] = true, true
	return t
}()

// escapeString returns s as XML character data.
func escapeString(s string) string {
	var b strings.Builder
	escapeTo(&b, s, false)
	return b.String()
}

// hrefEscape writes the unescaped path segment s as it appears in a URL
// path, as url.URL.EscapedPath escapes it, then escaped for XML: the
// ampersand, allowed in a path, is the only character that needs it.
func hrefEscape(w stringWriter, s string) {
	const hex = "0123456789ABCDEF"
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !shouldEscape(c) {
			if c == '&' {
				_, _ = w.WriteString(s[last:i])
				_, _ = w.WriteString("&amp;")
				last = i + 1
			}
			continue
		}
		_, _ = w.WriteString(s[last:i])
		_ = w.WriteByte('%')
		_ = w.WriteByte(hex[c>>4])
		_ = w.WriteByte(hex[c&15])
		last = i + 1
	}
	_, _ = w.WriteString(s[last:])
}

// shouldEscape reports whether url.URL.EscapedPath escapes c: everything
// but letters, digits, "-_.~" and "$&+,/:;=@".
func shouldEscape(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return false
	}
	return true
}

// escapeHref returns the unescaped path p as the XML text of an href.
func escapeHref(p string) string {
	var b strings.Builder
	hrefEscape(&b, p)
	return b.String()
}

// writeXMLError answers with a DAV:error body (RFC 4918 section 16)
// holding the given precondition elements.
func writeXMLError(w http.ResponseWriter, code int, inner string) {
	body := xmlHeader + `<D:error xmlns:D="DAV:" xmlns:C="` + nsCardDAV + `">` + inner + "</D:error>\n"
	w.Header().Set("Content-Type", xmlContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
