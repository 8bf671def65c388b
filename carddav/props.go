package carddav

import (
	"cmp"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/dirbook/dirbook"
)

// respCtx holds what the responses of one multistatus share.
type respCtx struct {
	v *view
	x *xmlWriter
	// data says which address data the request asks for.
	data addressData
	// brief omits the 404 propstats (Brief: t, Prefer: return=minimal).
	brief bool
	req   *propReq
	plans [kindObject + 1]*plan
	// r is the request being answered: a long answer stops when its
	// context ends.
	r *http.Request

	// Made on first use: the escaped href of the login's principal, the
	// revision's time in HTTP format, and the token of the book last
	// asked for.
	principalHref string
	lastMod       string
	tokenBook     *dirbook.BookState
	tokenValue    string
}

func newRespCtx(v *view, x *xmlWriter, r *http.Request, req *propReq) *respCtx {
	return &respCtx{v: v, x: x, data: req.data, brief: isBrief(r), req: req, r: r}
}

// startMultistatus sends the header of a 207 answer and its opening
// element, and returns the writer of its body, which the caller closes,
// and the context of its responses.
func startMultistatus(ex *exchange, v *view, req *propReq) (*xmlWriter, *respCtx) {
	ex.w.Header().Set("Content-Type", xmlContentType)
	ex.w.WriteHeader(http.StatusMultiStatus)
	x := newXMLWriter(ex.w)
	x.s(multistatusStart)
	return x, newRespCtx(v, x, ex.r, req)
}

// principal returns the escaped href of the login's principal.
func (c *respCtx) principal() string {
	if c.principalHref == "" {
		c.principalHref = escapeHref(c.v.h.paths.principal(c.v.login))
	}
	return c.principalHref
}

// lastModified returns the revision's time in HTTP format, "" if unknown.
func (c *respCtx) lastModified() string {
	if c.lastMod == "" && !c.v.rev.Time.IsZero() {
		c.lastMod = c.v.rev.Time.UTC().Format(http.TimeFormat)
	}
	return c.lastMod
}

// token returns the sync token of bs.
func (c *respCtx) token(bs *dirbook.BookState) string {
	if c.tokenBook != bs {
		c.tokenBook, c.tokenValue = bs, c.v.token(bs)
	}
	return c.tokenValue
}

// isBrief reports whether the client asks to leave out properties that
// are not found: Brief: t (Apple) or Prefer: return=minimal (RFC 8144).
func isBrief(r *http.Request) bool {
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Brief")), "t") {
		return true
	}
	for _, v := range r.Header.Values("Prefer") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "return=minimal") {
				return true
			}
		}
	}
	return false
}

// resource is one resource of a response.
type resource struct {
	kind kind
	book *dirbook.BookState
	card *dirbook.StoredCard
	// data is the card rendered as the request asks, length the size of
	// its default rendering (what GET returns); set when the plan needs
	// them.
	data   string
	length int
	// etag is the ETag of data when the card changed after the revision
	// card is from; "" otherwise.
	etag string
}

// propDef is a property dirbook serves on a kind of resource.
type propDef struct {
	name xml.Name
	// all is set for properties that DAV:allprop returns.
	all   bool
	write func(c *respCtx, res *resource)
}

// Property values that never change.
const (
	privilegeSet = "<D:current-user-privilege-set>" +
		"<D:privilege><D:read/></D:privilege>" +
		"<D:privilege><D:read-current-user-privilege-set/></D:privilege>" +
		"</D:current-user-privilege-set>"
	reportSet = "<D:supported-report-set>" +
		"<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>" +
		"<D:supported-report><D:report><C:addressbook-multiget/></D:report></D:supported-report>" +
		"<D:supported-report><D:report><C:addressbook-query/></D:report></D:supported-report>" +
		"</D:supported-report-set>"
	addressDataSet = "<C:supported-address-data>" +
		`<C:address-data-type content-type="text/vcard" version="3.0"/>` +
		`<C:address-data-type content-type="text/vcard" version="4.0"/>` +
		"</C:supported-address-data>"
	vcardContentType = "text/vcard; charset=utf-8"
)

func fixed(s string) func(*respCtx, *resource) {
	return func(c *respCtx, _ *resource) { c.x.s(s) }
}

func principalHref(local string) func(*respCtx, *resource) {
	return func(c *respCtx, _ *resource) {
		c.x.s("<D:" + local + "><D:href>")
		c.x.s(c.principal())
		c.x.s("</D:href></D:" + local + ">")
	}
}

var (
	propCurrentUserPrincipal = propDef{davName("current-user-principal"), true, principalHref("current-user-principal")}
	propPrivileges           = propDef{davName("current-user-privilege-set"), false, fixed(privilegeSet)}
	propOwner                = propDef{davName("owner"), true, principalHref("owner")}
)

// props lists the properties of each kind of resource, in the order
// allprop and propname answers list them.
var props = [kindObject + 1][]propDef{
	kindRoot: {
		{davName("resourcetype"), true, fixed("<D:resourcetype><D:collection/></D:resourcetype>")},
		propCurrentUserPrincipal,
		propPrivileges,
	},
	kindPrincipal: {
		{davName("resourcetype"), true, fixed("<D:resourcetype><D:collection/><D:principal/></D:resourcetype>")},
		{davName("displayname"), true, func(c *respCtx, _ *resource) {
			c.x.s("<D:displayname>")
			c.x.text(c.v.login)
			c.x.s("</D:displayname>")
		}},
		propCurrentUserPrincipal,
		principalURL,
		{cardDAVName("addressbook-home-set"), true, func(c *respCtx, _ *resource) {
			c.x.s("<C:addressbook-home-set><D:href>")
			hrefEscape(c.x.bw, c.v.h.paths.homeSet(c.v.login))
			c.x.s("</D:href></C:addressbook-home-set>")
		}},
		propPrivileges,
	},
	kindHomeSet: {
		{davName("resourcetype"), true, fixed("<D:resourcetype><D:collection/></D:resourcetype>")},
		propCurrentUserPrincipal,
		propOwner,
		propPrivileges,
	},
	kindBook: {
		{davName("resourcetype"), true, fixed("<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>")},
		{davName("displayname"), true, func(c *respCtx, res *resource) {
			name := res.book.Name
			if name == "" {
				name = res.book.ID
			}
			c.x.s("<D:displayname>")
			c.x.text(name)
			c.x.s("</D:displayname>")
		}},
		{cardDAVName("addressbook-description"), true, func(c *respCtx, res *resource) {
			c.x.s("<C:addressbook-description>")
			c.x.text(res.book.Description)
			c.x.s("</C:addressbook-description>")
		}},
		{xml.Name{Space: nsCS, Local: "getctag"}, true, func(c *respCtx, res *resource) {
			c.x.s("<CS:getctag>")
			c.x.text(c.token(res.book))
			c.x.s("</CS:getctag>")
		}},
		{davName("sync-token"), false, func(c *respCtx, res *resource) {
			c.x.s("<D:sync-token>")
			c.x.text(c.token(res.book))
			c.x.s("</D:sync-token>")
		}},
		{cardDAVName("supported-address-data"), true, fixed(addressDataSet)},
		{davName("supported-report-set"), false, fixed(reportSet)},
		propCurrentUserPrincipal,
		propOwner,
		propPrivileges,
	},
	kindObject: {
		{davName("resourcetype"), true, fixed("<D:resourcetype/>")},
		{davName("getetag"), true, func(c *respCtx, res *resource) {
			c.x.s(`<D:getetag>"`)
			c.x.text(cmp.Or(res.etag, etag(res.card)))
			c.x.s(`"</D:getetag>`)
		}},
		{davName("getcontenttype"), true, fixed("<D:getcontenttype>" + vcardContentType + "</D:getcontenttype>")},
		{davName("getcontentlength"), true, func(c *respCtx, res *resource) {
			c.x.s("<D:getcontentlength>")
			c.x.uint(uint64(res.length))
			c.x.s("</D:getcontentlength>")
		}},
		{davName("getlastmodified"), true, func(c *respCtx, _ *resource) {
			c.x.s("<D:getlastmodified>")
			c.x.s(c.lastModified())
			c.x.s("</D:getlastmodified>")
		}},
		propPrivileges,
	},
}

var principalURL = propDef{davName("principal-URL"), true, principalHref("principal-URL")}

// addressDataProp writes a card's address data; it is no property in
// allprop or propname answers (RFC 6352 section 10.4).
var addressDataProp = propDef{nameAddressData, false, func(c *respCtx, res *resource) {
	c.x.s("<C:address-data>")
	c.x.data(res.data)
	c.x.s("</C:address-data>")
}}

// etag returns the card's entity tag without quotes.
func etag(c *dirbook.StoredCard) string {
	return strings.Trim(c.ETag, `"`)
}

// plan is how the request's properties are answered on one kind of
// resource.
type plan struct {
	found []*propDef
	// missing is the inner XML of the 404 propstat.
	missing string
	// names is set for propname: found are written empty.
	names  bool
	data   bool
	length bool
}

// plan returns the plan for kind k, made on first use.
func (c *respCtx) plan(k kind) *plan {
	if p := c.plans[k]; p != nil {
		return p
	}
	p := &plan{names: c.req.mode == propsNames}
	defs := props[k]
	find := func(n xml.Name) *propDef {
		if n == nameAddressData && k == kindObject {
			return &addressDataProp
		}
		for i := range defs {
			if defs[i].name == n {
				if n.Local == "getlastmodified" && c.lastModified() == "" {
					return nil
				}
				return &defs[i]
			}
		}
		return nil
	}
	var missing strings.Builder
	switch c.req.mode {
	case propsAll, propsNames:
		for i := range defs {
			d := &defs[i]
			if (c.req.mode == propsNames || d.all) && (d.name.Local != "getlastmodified" || c.lastModified() != "") {
				p.found = append(p.found, d)
			}
		}
		for _, n := range c.req.names { // DAV:include
			if d := find(n); d != nil && !d.all {
				p.found = append(p.found, d)
			}
		}
	default:
		for i, n := range c.req.names {
			if d := find(n); d != nil {
				p.found = append(p.found, d)
			} else {
				writeEmptyElement(&missing, i, n)
			}
		}
	}
	for _, d := range p.found {
		switch d.name {
		case nameAddressData:
			p.data = !p.names
		case davName("getcontentlength"):
			p.length = !p.names
		}
	}
	p.missing = missing.String()
	c.plans[k] = p
	return p
}

// writeEmptyElement writes an empty element named n; i makes the prefix
// of an unknown namespace unique in the response.
func writeEmptyElement(b *strings.Builder, i int, n xml.Name) {
	if !validName(n.Local) {
		return
	}
	switch n.Space {
	case nsDAV:
		b.WriteString("<D:" + n.Local + "/>")
	case nsCardDAV:
		b.WriteString("<C:" + n.Local + "/>")
	case nsCS:
		b.WriteString("<CS:" + n.Local + "/>")
	case "":
		b.WriteString("<" + n.Local + ` xmlns=""/>`)
	default:
		prefix := "X" + strconv.Itoa(i)
		b.WriteString("<" + prefix + ":" + n.Local + " xmlns:" + prefix + `="`)
		b.WriteString(strings.ReplaceAll(escapeString(n.Space), `"`, "&quot;"))
		b.WriteString(`"/>`)
	}
}

// validName reports whether s is safe to write as an element's local name.
// encoding/xml hands over names as parsed; this keeps a hostile name from
// breaking the response.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80 && c != 0xFFFD:
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// elementTag returns the qualified tag of a property dirbook serves.
func elementTag(n xml.Name) string {
	switch n.Space {
	case nsCardDAV:
		return "C:" + n.Local
	case nsCS:
		return "CS:" + n.Local
	}
	return "D:" + n.Local
}

// response writes one response: href is the escaped href of the
// collection, or of the book a card is in, in which case res.card's
// segment is added.
func (c *respCtx) response(href string, res *resource) {
	p := c.plan(res.kind)
	x := c.x
	if res.card != nil && (p.data || p.length) {
		if err := c.render(res, p); errors.Is(err, errGone) {
			c.status(href, res.card.UID, "HTTP/1.1 404 Not Found")
			return
		} else if err != nil {
			c.v.h.logger.Warn("carddav: cannot render card", logKeyError, err)
			c.status(href, res.card.UID, "HTTP/1.1 500 Internal Server Error")
			return
		}
	}
	x.s("<D:response><D:href>")
	x.s(href)
	if res.card != nil {
		writeMember(x, res.card.UID)
	}
	x.s("</D:href>")
	if len(p.found) > 0 || p.missing == "" {
		x.s("<D:propstat><D:prop>")
		for _, d := range p.found {
			if p.names {
				x.s("<" + elementTag(d.name) + "/>")
			} else {
				d.write(c, res)
			}
		}
		x.s("</D:prop>" + status200 + "</D:propstat>")
	}
	if p.missing != "" && !c.brief {
		x.s("<D:propstat><D:prop>")
		x.s(p.missing)
		x.s("</D:prop>" + status404 + "</D:propstat>")
	}
	x.s("</D:response>\n")
}

// render fills res.data and res.length as the plan needs them.
func (c *respCtx) render(res *resource, p *plan) error {
	h, book := c.v.h, res.book.ID
	var err error
	var tag string
	if p.data {
		if c.data.props != nil {
			res.data, tag, err = h.selectProps(book, res.card, c.data.version, c.data.props)
		} else {
			res.data, tag, err = h.render(book, res.card, c.data.version)
		}
		if err != nil {
			return err
		}
	}
	if p.length {
		s := res.data
		if !p.data || c.data.props != nil || c.data.version != defaultVersion {
			if s, tag, err = h.render(book, res.card, defaultVersion); err != nil {
				return err
			}
		}
		res.length = len(s)
	}
	if tag != res.card.ETag {
		res.etag = tag
	}
	return nil
}

// status writes a response with only a status: a card that is gone or
// cannot be read. uid is "" when href is complete.
func (c *respCtx) status(href, uid, status string) {
	c.x.s("<D:response><D:href>")
	c.x.s(href)
	if uid != "" {
		writeMember(c.x, uid)
	}
	c.x.s("</D:href><D:status>")
	c.x.s(status)
	c.x.s("</D:status></D:response>\n")
}

// truncated writes the 507 response of the collection at href that says
// the request's limit cut the answer short (RFC 6352 section 8.6.1, RFC
// 6578 section 3.6).
func (c *respCtx) truncated(href string) {
	c.x.s("<D:response><D:href>")
	c.x.s(href)
	c.x.s("</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status>" +
		"<D:error><D:number-of-matches-within-limits/></D:error></D:response>\n")
}

// writeMember writes the escaped path segment of the card with the given
// UID.
func writeMember(x *xmlWriter, uid string) {
	hrefEscape(x.bw, escapeSegment(uid))
	x.s(objectSuffix)
}

// checkEvery is how many responses are written between checks that the
// client is still there.
const checkEvery = 256

// propfind answers a PROPFIND request. The root answers for itself only;
// other collections list their members down to the requested depth
// (infinity, the default, is the whole subtree: a home, its books and
// their cards).
func (h *Handler) propfind(ex *exchange, v *view, t target, depth int) {
	req, err := parseBody(h, "PROPFIND", ex.r.Body, func(r io.Reader) (*propReq, error) { return parsePropfind(r, h.maxDepth) })
	if err != nil {
		h.requestError(ex, err)
		return
	}
	ex.kind = [...]string{kindPropfindRoot, kindPropfindPrinc, kindPropfindHome, kindPropfindBook, kindPropfindCard}[t.kind]
	if depth == depthMissing {
		depth = depthInfinity
	}
	x, c := startMultistatus(ex, v, req)
	defer func() { _ = x.close() }()

	home := escapeHref(h.paths.homeSet(v.login))
	books := func(below int) {
		for _, bs := range v.books() {
			c.book(bs, below)
		}
	}
	switch t.kind {
	case kindRoot:
		c.response(escapeHref(h.paths.root()), &resource{kind: kindRoot})
	case kindPrincipal:
		c.response(c.principal(), &resource{kind: kindPrincipal})
		if depth != depthZero {
			c.response(home, &resource{kind: kindHomeSet})
		}
		if depth == depthInfinity {
			books(depthInfinity)
		}
	case kindHomeSet:
		c.response(home, &resource{kind: kindHomeSet})
		if depth != depthZero {
			books(depth)
		}
	case kindBook:
		c.book(v.book(t.book), depth)
	case kindObject:
		bs := v.book(t.book)
		c.response(c.bookHref(bs), &resource{kind: kindObject, book: bs, card: bs.Cards[t.uid]})
	}
	if !x.failed() {
		x.s(multistatusEnd)
	}
}

// bookHref returns the escaped href of a book.
func (c *respCtx) bookHref(bs *dirbook.BookState) string {
	return escapeHref(c.v.h.paths.book(c.v.login, bs.ID))
}

// book writes the response of a book and, unless depth is 0, of its
// cards.
func (c *respCtx) book(bs *dirbook.BookState, depth int) {
	href := c.bookHref(bs)
	c.response(href, &resource{kind: kindBook, book: bs})
	if depth == depthZero {
		return
	}
	ctx := c.r.Context()
	var res resource
	for i, uid := range bs.UIDs {
		card := bs.Cards[uid]
		if card == nil {
			continue
		}
		if i%checkEvery == 0 && (c.x.failed() || ctx.Err() != nil) {
			return
		}
		res = resource{kind: kindObject, book: bs, card: card}
		c.response(href, &res)
	}
}
