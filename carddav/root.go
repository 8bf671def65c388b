package carddav

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

var (
	nameCurrentUserPrincipal = xml.Name{Space: "DAV:", Local: "current-user-principal"}
	nameResourceType         = xml.Name{Space: "DAV:", Local: "resourcetype"}
)

// propfindReq is the body of a PROPFIND request (RFC 4918 section 14.20).
type propfindReq struct {
	XMLName  xml.Name  `xml:"DAV: propfind"`
	AllProp  *struct{} `xml:"DAV: allprop"`
	PropName *struct{} `xml:"DAV: propname"`
	Prop     *struct {
		Names []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"DAV: prop"`
}

// nameAddressData is the CardDAV property holding a card's vCard.
var nameAddressData = xml.Name{Space: "urn:ietf:params:xml:ns:carddav", Local: "address-data"}

// wantsAddressData reports whether the PROPFIND request r may need the
// cards' vCards: it does unless its body names the properties it wants and
// address-data is not among them. The body is read and put back.
func wantsAddressData(r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	var req propfindReq
	if err := xml.Unmarshal(body, &req); err != nil {
		return true
	}
	switch {
	case req.PropName != nil:
		return false
	case req.AllProp != nil || req.Prop == nil:
		return true
	}
	for _, n := range req.Prop.Names {
		if n.XMLName == nameAddressData {
			return true
		}
	}
	return false
}

// propfindRoot answers a PROPFIND of the root collection.
//
// go-webdav answers a PROPFIND of the root with a response whose href is
// the principal's path, not the root's, which a client that matches hrefs
// to the request URL does not take as the answer for the root. The root is where /.well-known/carddav leads, so dirbook
// answers it itself: a collection with DAV:current-user-principal.
func (h *Handler) propfindRoot(w http.ResponseWriter, r *http.Request, login string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	// An empty body asks for all properties.
	allProp, propName := true, false
	var asked []xml.Name
	if len(bytes.TrimSpace(body)) > 0 {
		var req propfindReq
		if err := xml.Unmarshal(body, &req); err != nil {
			http.Error(w, "malformed propfind request", http.StatusBadRequest)
			return
		}
		switch {
		case req.PropName != nil:
			allProp, propName = false, true
		case req.Prop != nil:
			allProp = false
			for _, n := range req.Prop.Names {
				asked = append(asked, n.XMLName)
			}
		case req.AllProp == nil:
			http.Error(w, "propfind request without prop, allprop or propname", http.StatusBadRequest)
			return
		}
	}

	principal := (&url.URL{Path: h.paths.principal(login)}).EscapedPath()
	values := map[xml.Name]string{
		nameCurrentUserPrincipal: "<D:href>" + escapeString(principal) + "</D:href>",
		nameResourceType:         "<D:collection/>",
	}

	var found, missing strings.Builder
	switch {
	case allProp || propName:
		for _, n := range []xml.Name{nameCurrentUserPrincipal, nameResourceType} {
			v := values[n]
			if propName {
				v = ""
			}
			writeProp(&found, n, v)
		}
	default:
		for i, n := range asked {
			if v, ok := values[n]; ok {
				writeProp(&found, n, v)
			} else {
				writeUnknownProp(&missing, i, n)
			}
		}
	}

	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<D:multistatus xmlns:D="DAV:"><D:response><D:href>`)
	writeEscaped(&b, (&url.URL{Path: h.paths.root()}).EscapedPath())
	b.WriteString(`</D:href>`)
	writePropstat(&b, found.String(), "HTTP/1.1 200 OK")
	writePropstat(&b, missing.String(), "HTTP/1.1 404 Not Found")
	b.WriteString(`</D:response></D:multistatus>` + "\n")

	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusMultiStatus)
	_, _ = io.WriteString(w, b.String())
}

// writeProp writes a DAV: property with the given inner XML.
func writeProp(b *strings.Builder, n xml.Name, inner string) {
	if inner == "" {
		b.WriteString("<D:" + n.Local + "/>")
		return
	}
	b.WriteString("<D:" + n.Local + ">" + inner + "</D:" + n.Local + ">")
}

// writeUnknownProp writes an empty element for a property the root does
// not have, in its own namespace; i makes the namespace prefix unique.
func writeUnknownProp(b *strings.Builder, i int, n xml.Name) {
	if !validName(n.Local) {
		return
	}
	prefix := "X" + strconv.Itoa(i)
	b.WriteString("<" + prefix + ":" + n.Local + " xmlns:" + prefix + `="`)
	writeEscaped(b, n.Space)
	b.WriteString(`"/>`)
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
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// writePropstat writes a propstat element unless props is empty.
func writePropstat(b *strings.Builder, props, status string) {
	if props == "" {
		return
	}
	b.WriteString("<D:propstat><D:prop>" + props + "</D:prop><D:status>" + status + "</D:status></D:propstat>")
}

// writeEscaped writes s with XML special characters escaped.
func writeEscaped(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

func escapeString(s string) string {
	var b strings.Builder
	writeEscaped(&b, s)
	return b.String()
}
