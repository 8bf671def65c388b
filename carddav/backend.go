package carddav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/carddav"

	"github.com/dirbook/dirbook"
	"github.com/dirbook/dirbook/mapping"
)

// vcardVersion is the vCard version served: 3.0 is the one every client
// (iOS included) reads.
const vcardVersion = "3.0"

var (
	errNotFound = webdav.NewHTTPError(http.StatusNotFound, dirbook.ErrNotFound)
	errReadOnly = webdav.NewHTTPError(http.StatusForbidden, errors.New("carddav: address books are read-only"))
)

// backend is the go-webdav backend of one request: one login, one
// revision.
type backend struct {
	paths paths
	rev   *dirbook.Revision
	login string
	// noData is set when the request asks for no address-data, so cards
	// need not be rendered (a PROPFIND for ETags, the common listing).
	noData bool
}

var _ carddav.Backend = (*backend)(nil)

func newBackend(p paths, rev *dirbook.Revision, login string) *backend {
	return &backend{paths: p, rev: rev, login: login}
}

// visible reports whether the login may read the book with the given ID
// and the revision has it.
func (b *backend) visible(bookID string) bool {
	return slices.Contains(b.rev.Access[b.login], bookID) && b.rev.Book(bookID) != nil
}

// book returns the visible book at the unescaped path p.
func (b *backend) book(p string) (*dirbook.BookState, error) {
	t, ok := b.paths.parse(p)
	if !ok || t.kind != kindBook || t.user != b.login || !b.visible(t.book) {
		return nil, errNotFound
	}
	return b.rev.Book(t.book), nil
}

// card returns the visible card at the unescaped path p.
func (b *backend) card(p string) (*dirbook.BookState, *dirbook.StoredCard, error) {
	t, ok := b.paths.parse(p)
	if !ok || t.kind != kindObject || t.user != b.login || !b.visible(t.book) {
		return nil, nil, errNotFound
	}
	bs := b.rev.Book(t.book)
	c := bs.Cards[t.uid]
	if c == nil {
		return nil, nil, errNotFound
	}
	return bs, c, nil
}

// object renders a card of bs as go-webdav's address object.
func (b *backend) object(bs *dirbook.BookState, c *dirbook.StoredCard, req *carddav.AddressDataRequest) carddav.AddressObject {
	ao := carddav.AddressObject{
		Path:    b.paths.object(b.login, bs.ID, c.UID),
		ModTime: b.rev.Time,
		ETag:    etag(c),
	}
	if b.noData {
		ao.Card = vcard.Card{vcard.FieldVersion: {{Value: vcardVersion}}}
	} else {
		ao.Card = selectProps(mapping.VCard(&c.Card, vcardVersion), req)
	}
	return ao
}

// etag returns the card's entity tag without quotes; go-webdav adds them.
func etag(c *dirbook.StoredCard) string {
	return strings.Trim(c.ETag, `"`)
}

// serveObject answers a GET or HEAD of the card at t with the bytes
// mapping.Encode writes (folded lines, exact Content-Length). go-webdav's
// own GET writes go-vcard's unfolded output; address-data in PROPFIND and
// REPORT responses still does. http.ServeContent answers If-None-Match,
// If-Modified-Since and ranges.
func (b *backend) serveObject(w http.ResponseWriter, r *http.Request, t target) error {
	c := b.rev.Book(t.book).Cards[t.uid]
	if c == nil {
		http.NotFound(w, r)
		return nil
	}
	data, err := mapping.Encode(&c.Card, vcardVersion)
	if err != nil {
		http.Error(w, "cannot render card", http.StatusInternalServerError)
		return fmt.Errorf("carddav: render card %s: %w", c.UID, err)
	}
	w.Header().Set("Content-Type", vcard.MIMEType+"; charset=utf-8")
	w.Header().Set("ETag", `"`+etag(c)+`"`)
	http.ServeContent(w, r, "", b.rev.Time, bytes.NewReader(data))
	return nil
}

// selectProps keeps only the requested properties (and VERSION) of card,
// as an address-data element with prop children asks.
func selectProps(card vcard.Card, req *carddav.AddressDataRequest) vcard.Card {
	if req == nil || req.AllProp || len(req.Props) == 0 {
		return card
	}
	out := vcard.Card{vcard.FieldVersion: card[vcard.FieldVersion]}
	for _, name := range req.Props {
		name = strings.ToUpper(name)
		if fields, ok := card[name]; ok {
			out[name] = fields
		}
	}
	return out
}

// CurrentUserPrincipal implements webdav.UserPrincipalBackend.
func (b *backend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	return b.paths.principal(b.login), nil
}

// AddressBookHomeSetPath implements carddav.Backend.
func (b *backend) AddressBookHomeSetPath(ctx context.Context) (string, error) {
	return b.paths.homeSet(b.login), nil
}

func (b *backend) addressBook(bs *dirbook.BookState) carddav.AddressBook {
	return carddav.AddressBook{
		Path:        b.paths.book(b.login, bs.ID),
		Name:        bs.Name,
		Description: bs.Description,
		SupportedAddressData: []carddav.AddressDataType{
			{ContentType: vcard.MIMEType, Version: vcardVersion},
		},
	}
}

// ListAddressBooks implements carddav.Backend: the books the login may
// read, in configuration order.
func (b *backend) ListAddressBooks(ctx context.Context) ([]carddav.AddressBook, error) {
	var out []carddav.AddressBook
	for _, bs := range b.rev.Books {
		if slices.Contains(b.rev.Access[b.login], bs.ID) {
			out = append(out, b.addressBook(bs))
		}
	}
	return out, nil
}

// GetAddressBook implements carddav.Backend. Books the login may not
// read do not exist.
func (b *backend) GetAddressBook(ctx context.Context, p string) (*carddav.AddressBook, error) {
	bs, err := b.book(p)
	if err != nil {
		return nil, err
	}
	ab := b.addressBook(bs)
	return &ab, nil
}

// GetAddressObject implements carddav.Backend.
func (b *backend) GetAddressObject(ctx context.Context, p string, req *carddav.AddressDataRequest) (*carddav.AddressObject, error) {
	bs, c, err := b.card(p)
	if err != nil {
		return nil, err
	}
	ao := b.object(bs, c, req)
	return &ao, nil
}

// ListAddressObjects implements carddav.Backend.
func (b *backend) ListAddressObjects(ctx context.Context, p string, req *carddav.AddressDataRequest) ([]carddav.AddressObject, error) {
	bs, err := b.book(p)
	if err != nil {
		return nil, err
	}
	out := make([]carddav.AddressObject, 0, len(bs.UIDs))
	for _, uid := range bs.UIDs {
		if c := bs.Cards[uid]; c != nil {
			out = append(out, b.object(bs, c, req))
		}
	}
	return out, nil
}

// QueryAddressObjects implements carddav.Backend (REPORT
// addressbook-query).
func (b *backend) QueryAddressObjects(ctx context.Context, p string, q *carddav.AddressBookQuery) ([]carddav.AddressObject, error) {
	bs, err := b.book(p)
	if err != nil {
		return nil, err
	}
	if err := checkQuery(q); err != nil {
		return nil, webdav.NewHTTPError(http.StatusBadRequest, err)
	}
	var out []carddav.AddressObject
	for _, uid := range bs.UIDs {
		c := bs.Cards[uid]
		if c == nil {
			continue
		}
		card := mapping.VCard(&c.Card, vcardVersion)
		if !matchQuery(q, card) {
			continue
		}
		out = append(out, carddav.AddressObject{
			Path:    b.paths.object(b.login, bs.ID, c.UID),
			ModTime: b.rev.Time,
			ETag:    etag(c),
			Card:    selectProps(card, &q.DataRequest),
		})
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

// CreateAddressBook implements carddav.Backend; it always refuses.
func (b *backend) CreateAddressBook(ctx context.Context, ab *carddav.AddressBook) error {
	return errReadOnly
}

// DeleteAddressBook implements carddav.Backend; it always refuses.
func (b *backend) DeleteAddressBook(ctx context.Context, p string) error {
	return errReadOnly
}

// PutAddressObject implements carddav.Backend; it always refuses.
func (b *backend) PutAddressObject(ctx context.Context, p string, card vcard.Card, opts *carddav.PutAddressObjectOptions) (*carddav.AddressObject, error) {
	return nil, errReadOnly
}

// DeleteAddressObject implements carddav.Backend; it always refuses.
func (b *backend) DeleteAddressObject(ctx context.Context, p string) error {
	return errReadOnly
}
