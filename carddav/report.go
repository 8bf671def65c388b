package carddav

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// report answers a REPORT request: sync-collection, addressbook-multiget
// and addressbook-query on a book.
func (h *Handler) report(ex *exchange, v *view, t target, depth int) {
	rep, err := parseBody(h, "REPORT", ex.r.Body, func(r io.Reader) (*report, error) { return parseReport(r, h.maxDepth, h.maxHrefs) })
	if err != nil {
		if errors.Is(err, errTooManyHrefs) {
			ex.kind = kindMultiget
		}
		h.requestError(ex, err)
		return
	}
	switch rep.name {
	case reportSync:
		ex.kind = kindSyncCollection
	case reportMultiget:
		ex.kind = kindMultiget
	case reportQuery:
		ex.kind = kindQuery
	}
	if !rep.supported || t.kind != kindBook {
		// RFC 3253 section 3.6: the report is not supported here.
		writeXMLError(ex.w, http.StatusForbidden, "<D:supported-report/>")
		return
	}
	bs := v.book(t.book)
	switch rep.name {
	case reportSync:
		h.syncCollection(ex, v, bs, rep, depth)
	case reportMultiget:
		h.multiget(ex, v, rep)
	case reportQuery:
		h.query(ex, v, bs, rep, depth)
	}
}

// multiget answers REPORT addressbook-multiget (RFC 6352 section 8.7).
// Every href the login may not read, or that names no card, answers 404
// on its own; the Depth header is ignored, as the RFC says.
func (h *Handler) multiget(ex *exchange, v *view, rep *report) {
	x, c := startMultistatus(ex, v, &rep.props)
	defer func() { _ = x.close() }()
	ctx := ex.r.Context()
	var lastBook *dirbook.BookState
	var lastHref string
	var res resource
	for i, href := range rep.hrefs {
		if i%checkEvery == 0 && (x.failed() || ctx.Err() != nil) {
			return
		}
		bs, card := v.resolve(href)
		if card == nil {
			c.status(escapeString(href), "", "HTTP/1.1 404 Not Found")
			continue
		}
		if bs != lastBook {
			lastBook, lastHref = bs, c.bookHref(bs)
		}
		res = resource{kind: kindObject, book: bs, card: card}
		c.response(lastHref, &res)
	}
	x.s(multistatusEnd)
}

// resolve returns the card an href of a request names, if the login may
// read it. The href is a path or an absolute URL; its host is not looked
// at.
func (v *view) resolve(href string) (*dirbook.BookState, *dirbook.StoredCard) {
	p := href
	if !strings.HasPrefix(href, "/") || strings.ContainsAny(href, "?#") {
		u, err := url.Parse(href)
		if err != nil {
			return nil, nil
		}
		p = u.Path
	} else if strings.Contains(href, "%") {
		var err error
		if p, err = url.PathUnescape(href); err != nil {
			return nil, nil
		}
	}
	if hasDotSegment(p) {
		return nil, nil
	}
	t, ok := v.h.paths.parse(p)
	if !ok || t.kind != kindObject || t.user != v.login {
		return nil, nil
	}
	bs := v.book(t.book)
	if bs == nil {
		return nil, nil
	}
	if c := bs.Cards[t.uid]; c != nil {
		return bs, c
	}
	return nil, nil
}

// query answers REPORT addressbook-query (RFC 6352 section 8.6) on a
// book. Depth 0 asks about the book itself, which is no card: the answer
// is empty. When CARDDAV:limit cuts the answer short, a 507 response for
// the book says so.
func (h *Handler) query(ex *exchange, v *view, bs *dirbook.BookState, rep *report, depth int) {
	if err := checkQuery(&rep.query); err != nil {
		http.Error(ex.w, err.Error(), http.StatusBadRequest)
		return
	}
	x, c := startMultistatus(ex, v, &rep.props)
	defer func() { _ = x.close() }()
	if depth == depthZero {
		x.s(multistatusEnd)
		return
	}
	href := c.bookHref(bs)
	ctx := ex.r.Context()
	matched := 0
	var res resource
	for i, uid := range bs.UIDs {
		if i%checkEvery == 0 && (x.failed() || ctx.Err() != nil) {
			return
		}
		card := bs.Cards[uid]
		if card == nil {
			continue
		}
		if len(rep.query.PropFilters) > 0 {
			content, _, err := h.load(bs.ID, uid)
			if errors.Is(err, errGone) {
				continue
			}
			if err != nil {
				h.logger.Warn("carddav: cannot read card", logKeyError, err)
				continue
			}
			if !matchQuery(&rep.query, mapping.VCard(content, defaultVersion)) {
				continue
			}
		}
		if rep.limit > 0 && matched == rep.limit {
			c.truncated(href)
			break
		}
		matched++
		res = resource{kind: kindObject, book: bs, card: card}
		c.response(href, &res)
	}
	x.s(multistatusEnd)
}
