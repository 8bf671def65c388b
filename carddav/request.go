package carddav

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-webdav/carddav"
)

// XML namespaces of the elements dirbook reads and writes.
const (
	nsDAV     = "DAV:"
	nsCardDAV = "urn:ietf:params:xml:ns:carddav"
	nsCS      = "http://calendarserver.org/ns/"
)

func davName(local string) xml.Name     { return xml.Name{Space: nsDAV, Local: local} }
func cardDAVName(local string) xml.Name { return xml.Name{Space: nsCardDAV, Local: local} }

// Request limits that are not options: a client has no use for more.
const (
	// maxProps bounds the properties named in one request.
	maxProps = 256
	// maxFilters bounds the prop-filters, text-matches and param-filters of
	// one addressbook-query, together.
	maxFilters = 256
	// maxText bounds the character data of one element (an href, a
	// sync-token, a text-match).
	maxText = 8 << 10
)

// Errors of request parsing that limits raise: errTooManyHrefs gets 403
// (DAV:number-of-matches-within-limits), errTooDeep 400.
var (
	errTooDeep      = errors.New("carddav: request XML nested too deeply")
	errTooManyHrefs = errors.New("carddav: too many hrefs in addressbook-multiget")
)

// badRequestError is a malformed or unusable request body.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return "carddav: " + e.msg }

func badRequest(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

// bodyPool holds the buffered readers of request bodies.
var bodyPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// withBody calls f with a buffered reader of body from the pool.
func withBody[T any](body io.Reader, f func(io.Reader) (T, error)) (T, error) {
	br := bodyPool.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() {
		br.Reset(nil)
		bodyPool.Put(br)
	}()
	return f(br)
}

// maxCachedBody is the largest request body whose parse is remembered.
const maxCachedBody = 4 << 10

// parsedEntries is how many parsed request bodies are remembered.
const parsedEntries = 512

var smallBodyPool = sync.Pool{New: func() any {
	b := make([]byte, maxCachedBody+1)
	return &b
}}

// parseBody parses a request body with parse. Phones poll with the same
// bytes every time (the same PROPFIND, the same sync-collection with the
// current token), so the parse of a small body is remembered, keyed by
// method and body; callers must not change what it returns.
func parseBody[T any](h *Handler, method string, body io.Reader, parse func(io.Reader) (T, error)) (T, error) {
	bp := smallBodyPool.Get().(*[]byte)
	defer smallBodyPool.Put(bp)
	buf := *bp
	n, err := io.ReadFull(body, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		key := method + "\x00" + string(buf[:n])
		if v, ok := h.parsed.Get(key); ok {
			return v.(T), nil
		}
		v, err := parse(bytes.NewReader(buf[:n]))
		if err == nil {
			h.parsed.Add(key, v)
		}
		return v, err
	case err != nil:
		var zero T
		return zero, err
	}
	return withBody(io.MultiReader(bytes.NewReader(buf[:n]), body), parse)
}

// xmlReader walks the tokens of a request body and fails once elements
// nest deeper than maxDepth, before the decoder holds them all.
type xmlReader struct {
	d        *xml.Decoder
	depth    int
	maxDepth int
}

func newXMLReader(r io.Reader, maxDepth int) *xmlReader {
	// The decoder reads through r itself when r is an io.ByteReader;
	// otherwise it allocates a buffer of its own for every request.
	d := xml.NewDecoder(r)
	d.Strict = true
	return &xmlReader{d: d, maxDepth: maxDepth}
}

// token returns the next token, counting depth. CharData is only valid
// until the next call.
func (x *xmlReader) token() (xml.Token, error) {
	t, err := x.d.Token()
	if err != nil {
		return nil, err
	}
	switch t.(type) {
	case xml.StartElement:
		x.depth++
		if x.depth > x.maxDepth {
			return nil, errTooDeep
		}
	case xml.EndElement:
		x.depth--
	}
	return t, nil
}

// root returns the first element of the document, or ok false when the
// document has none (an empty body).
func (x *xmlReader) root() (start xml.StartElement, ok bool, err error) {
	for {
		t, err := x.token()
		if err == io.EOF {
			return xml.StartElement{}, false, nil
		}
		if err != nil {
			return xml.StartElement{}, false, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, true, nil
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) > 0 {
				return xml.StartElement{}, false, badRequest("text outside the root element")
			}
		}
	}
}

// children calls f for each child element of the element just started;
// f must consume the child (skip, text or children). It returns at the
// parent's end.
func (x *xmlReader) children(f func(xml.StartElement) error) error {
	for {
		t, err := x.token()
		if err != nil {
			return eofIsSyntax(err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			if err := f(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// skip consumes the element just started.
func (x *xmlReader) skip() error {
	return x.children(func(xml.StartElement) error { return x.skip() })
}

// text returns the character data of the element just started, trimmed
// of surrounding space; child elements are skipped.
func (x *xmlReader) text() (string, error) {
	s, err := x.rawText()
	return strings.TrimSpace(s), err
}

// rawText returns the character data of the element just started as it
// is; child elements are skipped.
func (x *xmlReader) rawText() (string, error) {
	var b strings.Builder
	for {
		t, err := x.token()
		if err != nil {
			return "", eofIsSyntax(err)
		}
		switch t := t.(type) {
		case xml.CharData:
			if b.Len()+len(t) > maxText {
				return "", badRequest("element text longer than %d bytes", maxText)
			}
			b.Write(t)
		case xml.StartElement:
			if err := x.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

func eofIsSyntax(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func attr(start xml.StartElement, local string) (string, bool) {
	for _, a := range start.Attr {
		if a.Name.Local == local && (a.Name.Space == "" || a.Name.Space == start.Name.Space) {
			return a.Value, true
		}
	}
	return "", false
}

// propMode says which properties a request asks for.
type propMode int

const (
	propsNamed propMode = iota // DAV:prop: the listed ones
	propsAll                   // DAV:allprop (and DAV:include)
	propsNames                 // DAV:propname: names only
)

// addressData is what a CARDDAV:address-data element of a request asks
// for: the vCard version and, optionally, which properties.
type addressData struct {
	// version is "3.0" or "4.0".
	version string
	// props lists upper-case vCard property names to return; nil means
	// all of them.
	props []string
}

// propReq is the property part of a PROPFIND or REPORT request.
type propReq struct {
	mode propMode
	// names lists the requested properties, without duplicates, for
	// propsNamed, and the DAV:include names for propsAll.
	names []xml.Name
	// data is set when names holds CARDDAV:address-data.
	data addressData
}

var (
	nameProp        = davName("prop")
	nameAllProp     = davName("allprop")
	namePropName    = davName("propname")
	nameInclude     = davName("include")
	nameHref        = davName("href")
	nameAddressData = cardDAVName("address-data")
)

// defaultVersion is the vCard version served to clients that do not ask:
// 3.0 is the one every client (iOS included) reads.
const defaultVersion = "3.0"

// parsePropChildren reads the children of a DAV:prop or DAV:include
// element into req.
func (x *xmlReader) parsePropChildren(req *propReq) error {
	return x.children(func(el xml.StartElement) error {
		for _, n := range req.names {
			if n == el.Name {
				return x.skip()
			}
		}
		if len(req.names) >= maxProps {
			return badRequest("more than %d properties requested", maxProps)
		}
		req.names = append(req.names, el.Name)
		if el.Name == nameAddressData {
			d, err := x.parseAddressData(el)
			if err != nil {
				return err
			}
			req.data = d
			return nil
		}
		return x.skip()
	})
}

// errUnsupportedData is the 403 CARDDAV:supported-address-data
// precondition: the client asked for a media type or version dirbook
// does not serve.
var errUnsupportedData = errors.New("carddav: unsupported address data type")

// parseAddressData reads a CARDDAV:address-data request element: its
// content-type and version attributes and CARDDAV:prop children.
func (x *xmlReader) parseAddressData(el xml.StartElement) (addressData, error) {
	d := addressData{version: defaultVersion}
	if ct, ok := attr(el, "content-type"); ok && !strings.EqualFold(strings.TrimSpace(ct), "text/vcard") {
		_ = x.skip()
		return d, errUnsupportedData
	}
	if v, ok := attr(el, "version"); ok {
		switch v = strings.TrimSpace(v); v {
		case "3.0", "4.0":
			d.version = v
		default:
			_ = x.skip()
			return d, errUnsupportedData
		}
	}
	all := false
	err := x.children(func(c xml.StartElement) error {
		switch c.Name {
		case cardDAVName("allprop"):
			all = true
		case cardDAVName("prop"):
			name, _ := attr(c, "name")
			name = strings.ToUpper(strings.TrimSpace(name))
			if name == "" {
				return badRequest("address-data prop without a name")
			}
			if len(d.props) >= maxProps {
				return badRequest("more than %d address-data props", maxProps)
			}
			d.props = append(d.props, name)
		}
		return x.skip()
	})
	if all {
		d.props = nil
	}
	return d, err
}

// parsePropSelector reads a DAV:prop, DAV:allprop or DAV:propname child
// of a request into req; ok is false for other elements, which are left
// unread.
func (x *xmlReader) parsePropSelector(el xml.StartElement, req *propReq) (ok bool, err error) {
	switch el.Name {
	case nameProp:
		req.mode = propsNamed
		return true, x.parsePropChildren(req)
	case nameAllProp:
		req.mode = propsAll
		return true, x.skip()
	case namePropName:
		req.mode = propsNames
		return true, x.skip()
	}
	return false, nil
}

// parsePropfind reads a PROPFIND body. An empty body asks for all
// properties (RFC 4918 section 9.1).
func parsePropfind(r io.Reader, maxDepth int) (*propReq, error) {
	x := newXMLReader(r, maxDepth)
	root, ok, err := x.root()
	if err != nil {
		return nil, err
	}
	req := &propReq{mode: propsAll, data: addressData{version: defaultVersion}}
	if !ok {
		return req, nil
	}
	if root.Name != davName("propfind") {
		return nil, badRequest("PROPFIND body is %s, want DAV:propfind", root.Name.Local)
	}
	seen := false
	err = x.children(func(el xml.StartElement) error {
		if el.Name == nameInclude {
			return x.parsePropChildren(req)
		}
		names := req.names
		ok, err := x.parsePropSelector(el, req)
		if ok {
			if seen {
				return badRequest("propfind with more than one of prop, allprop and propname")
			}
			seen = true
			if req.mode == propsAll {
				req.names = names // keep DAV:include names read before
			}
			return err
		}
		return x.skip()
	})
	if err != nil {
		return nil, err
	}
	if !seen {
		return nil, badRequest("propfind without prop, allprop or propname")
	}
	return req, nil
}

// Report kinds.
const (
	reportMultiget = "addressbook-multiget"
	reportQuery    = "addressbook-query"
	reportSync     = "sync-collection"
)

// report is a parsed REPORT body.
type report struct {
	// name is one of the report kinds above, or the unsupported root
	// element's local name.
	name      string
	supported bool
	props     propReq

	// addressbook-multiget
	hrefs []string

	// addressbook-query
	query carddav.AddressBookQuery

	// sync-collection
	syncToken string
	syncLevel string
	// limit is DAV:limit/DAV:nresults (CARDDAV:limit in a query); 0 when
	// the request sets none.
	limit int
}

// parseReport reads a REPORT body.
func parseReport(r io.Reader, maxDepth, maxHrefs int) (*report, error) {
	x := newXMLReader(r, maxDepth)
	root, ok, err := x.root()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest("REPORT without a body")
	}
	rep := &report{
		name:  root.Name.Local,
		props: propReq{mode: propsNamed, data: addressData{version: defaultVersion}},
	}
	switch root.Name {
	case cardDAVName(reportMultiget):
		rep.supported = true
		err = x.children(func(el xml.StartElement) error {
			if ok, err := x.parsePropSelector(el, &rep.props); ok {
				return err
			}
			if el.Name != nameHref {
				return x.skip()
			}
			if len(rep.hrefs) >= maxHrefs {
				return errTooManyHrefs
			}
			href, err := x.text()
			if err == nil && href != "" {
				rep.hrefs = append(rep.hrefs, href)
			}
			return err
		})
	case cardDAVName(reportQuery):
		rep.supported = true
		err = x.children(func(el xml.StartElement) error {
			if ok, err := x.parsePropSelector(el, &rep.props); ok {
				return err
			}
			switch el.Name {
			case cardDAVName("filter"):
				return x.parseFilter(el, &rep.query)
			case cardDAVName("limit"), davName("limit"):
				rep.limit, err = x.parseLimit()
				return err
			}
			return x.skip()
		})
		rep.query.Limit = rep.limit
	case davName(reportSync):
		rep.supported = true
		rep.props.names = []xml.Name{davName("getetag")}
		err = x.children(func(el xml.StartElement) error {
			if el.Name == nameProp || el.Name == nameAllProp || el.Name == namePropName {
				rep.props.names = nil
				_, err := x.parsePropSelector(el, &rep.props)
				return err
			}
			switch el.Name {
			case davName("sync-token"):
				rep.syncToken, err = x.text()
				return err
			case davName("sync-level"):
				rep.syncLevel, err = x.text()
				return err
			case davName("limit"):
				rep.limit, err = x.parseLimit()
				return err
			}
			return x.skip()
		})
	default:
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// parseLimit reads a DAV:limit or CARDDAV:limit element: its nresults,
// a positive number.
func (x *xmlReader) parseLimit() (int, error) {
	n := 0
	err := x.children(func(el xml.StartElement) error {
		if el.Name.Local != "nresults" {
			return x.skip()
		}
		s, err := x.text()
		if err != nil {
			return err
		}
		v, err := strconv.ParseUint(s, 10, 31)
		if err != nil || v == 0 {
			return badRequest("limit nresults %q is not a positive number", s)
		}
		n = int(v)
		return nil
	})
	if err == nil && n == 0 {
		err = badRequest("limit without nresults")
	}
	return n, err
}

// errUnsupportedCollation is the 403 CARDDAV:supported-collation
// precondition.
var errUnsupportedCollation = errors.New("carddav: unsupported collation")

// parseFilter reads a CARDDAV:filter element into q (RFC 6352 section
// 10.5).
func (x *xmlReader) parseFilter(el xml.StartElement, q *carddav.AddressBookQuery) error {
	test, _ := attr(el, "test")
	q.FilterTest = carddav.FilterTest(test)
	n := 0
	count := func() error {
		n++
		if n > maxFilters {
			return badRequest("filter with more than %d tests", maxFilters)
		}
		return nil
	}
	return x.children(func(el xml.StartElement) error {
		if el.Name != cardDAVName("prop-filter") {
			return x.skip()
		}
		if err := count(); err != nil {
			return err
		}
		var pf carddav.PropFilter
		pf.Name, _ = attr(el, "name")
		if pf.Name == "" {
			return badRequest("prop-filter without a name")
		}
		test, _ := attr(el, "test")
		pf.Test = carddav.FilterTest(test)
		err := x.children(func(c xml.StartElement) error {
			switch c.Name {
			case cardDAVName("is-not-defined"):
				pf.IsNotDefined = true
				return x.skip()
			case cardDAVName("text-match"):
				if err := count(); err != nil {
					return err
				}
				tm, err := x.parseTextMatch(c)
				if err != nil {
					return err
				}
				pf.TextMatches = append(pf.TextMatches, tm)
				return nil
			case cardDAVName("param-filter"):
				if err := count(); err != nil {
					return err
				}
				var param carddav.ParamFilter
				param.Name, _ = attr(c, "name")
				if param.Name == "" {
					return badRequest("param-filter without a name")
				}
				err := x.children(func(p xml.StartElement) error {
					switch p.Name {
					case cardDAVName("is-not-defined"):
						param.IsNotDefined = true
						return x.skip()
					case cardDAVName("text-match"):
						tm, err := x.parseTextMatch(p)
						if err != nil {
							return err
						}
						param.TextMatch = &tm
						return nil
					}
					return x.skip()
				})
				pf.Params = append(pf.Params, param)
				return err
			}
			return x.skip()
		})
		q.PropFilters = append(q.PropFilters, pf)
		return err
	})
}

// parseTextMatch reads a CARDDAV:text-match element. Both collations
// RFC 6352 requires fold case, as dirbook's matching does; others are
// refused.
func (x *xmlReader) parseTextMatch(el xml.StartElement) (carddav.TextMatch, error) {
	var tm carddav.TextMatch
	if c, ok := attr(el, "collation"); ok {
		switch c {
		case "i;unicode-casemap", "i;ascii-casemap":
		default:
			_ = x.skip()
			return tm, errUnsupportedCollation
		}
	}
	if neg, ok := attr(el, "negate-condition"); ok {
		switch neg {
		case "yes":
			tm.NegateCondition = true
		case "no":
		default:
			_ = x.skip()
			return tm, badRequest("text-match negate-condition %q", neg)
		}
	}
	mt, _ := attr(el, "match-type")
	tm.MatchType = carddav.MatchType(mt)
	text, err := x.rawText()
	tm.Text = text
	return tm, err
}
