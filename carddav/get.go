package carddav

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// get answers GET and HEAD of a card with the vCard version the Accept
// header asks for (3.0 unless it names text/vcard;version=4.0). The ETag
// is the card's, whatever the version: clients compare it with the
// getetag of listings. If-None-Match (weak comparison) and
// If-Modified-Since give 304, If-Match 412 when it does not match.
func (h *Handler) get(ex *exchange, v *view, t target) {
	w, r := ex.w, ex.r
	card := v.book(t.book).Cards[t.uid]
	version := acceptVersion(r.Header.Values("Accept"))
	tag := `"` + etag(card) + `"`
	hdr := w.Header()
	hdr.Set("ETag", tag)
	hdr.Add("Vary", "Accept")
	modified := v.rev.Time
	if !modified.IsZero() {
		hdr.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}

	if im := r.Header.Get("If-Match"); im != "" && !matchETag(im, tag, false) {
		w.WriteHeader(http.StatusPreconditionFailed)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if matchETag(inm, tag, true) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !modified.IsZero() &&
		!modified.Truncate(time.Second).After(ims) {
		w.WriteHeader(http.StatusNotModified)
		return
	}

	data, current, err := h.render(t.book, card, version)
	if errors.Is(err, errGone) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.logger.WarnContext(r.Context(), "carddav: cannot serve card", logKeyError, err)
		http.Error(w, "cannot render card", http.StatusInternalServerError)
		return
	}
	if current != card.ETag { // changed since the revision being served
		hdr.Set("ETag", `"`+current+`"`)
	}
	ct := vcardContentType
	if version != defaultVersion {
		ct += "; version=" + version
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, data)
	}
}

// acceptVersion returns the vCard version the Accept header values ask
// for: "4.0" when a text/vcard range with version=4.0 has a q above zero
// and not below any range that names version 3.0, "3.0" otherwise.
func acceptVersion(accept []string) string {
	q3, q4 := -1.0, -1.0
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil || mt != "text/vcard" {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil {
					continue
				}
			}
			switch params["version"] {
			case "4.0":
				q4 = max(q4, q)
			case "3.0":
				q3 = max(q3, q)
			}
		}
	}
	if q4 > 0 && q4 >= q3 {
		return "4.0"
	}
	return defaultVersion
}

// matchETag reports whether the If-Match or If-None-Match value list
// holds tag (quoted) or "*". weak selects the weak comparison of
// If-None-Match; with the strong one of If-Match, W/ tags never match.
func matchETag(list, tag string, weak bool) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if p, ok := strings.CutPrefix(part, "W/"); ok {
			if !weak {
				continue
			}
			part = p
		}
		if part == tag {
			return true
		}
	}
	return false
}
