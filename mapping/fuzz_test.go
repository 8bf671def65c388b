package mapping

import (
	"bytes"
	"image"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/dirbook/dirbook"
)

// FuzzMap maps hostile attribute values with goldenRules (templates, ADR,
// IMPP, categories, conditions on kinds and dates, photos) and checks
// that every card renders to a vCard go-vcard reads back with the same
// UID, FN and N, holding clean values only.
func FuzzMap(f *testing.F) {
	p := goldenPerson()
	f.Add(p.ID, p.First("displayName"), p.First("cn"), p.First("sn"), p.First("givenName"), p.First("o"),
		p.First("mail"), p.First("telephoneNumber"), p.First("mobile"), "partner", "20301231235959Z", []byte(tinyPNG))
	f.Add("id", "\xff\xfeJana\x00 Doe\r\nX-EVIL:1", "", "Doe;Smith", "Jana,", "a\\b", "a@b,c", "0800-CALL-NOW", "030/1234567",
		"employee", "2026-06-14", []byte("GIF89a"))
	f.Add("u\r\nid", " ", "\t", "", "", "", "", "+49 (0)30 1234-567", "0049 89 123456", "Partner", "someday", []byte(tinyPNG[:20]))
	f.Add("x", "", "", "", "", "", "", "", "", "", "", []byte{})
	f.Add("x", "{sn}", "}{", "{{", "}}", ";;;", ",,,", "+1 650 253 0000 ext. 12", "0", "partner", "0", []byte(pngHeader(1, 1)))
	m := goldenMapper(f)
	f.Fuzz(func(t *testing.T, id, displayName, cn, sn, givenName, o, mail, tel, mobile, kind, expiry string, photo []byte) {
		e := &dirbook.Entry{
			ID:   id,
			Kind: kind,
			Attrs: map[string][]string{
				"displayname":           {displayName},
				"cn":                    {cn},
				"sn":                    {sn},
				"givenname":             {givenName},
				"o":                     {o},
				"ou":                    {cn, o},
				"title":                 {givenName},
				"mail":                  {mail, cn},
				"telephonenumber":       {tel, mobile},
				"mobile":                {mobile},
				"jpegphoto":             {string(photo)},
				"uid":                   {sn},
				"street":                {displayName},
				"description":           {o + tel},
				"birthdate":             {expiry},
				"labeleduri":            {mail},
				"dirbookapprovalexpiry": {expiry},
			},
			Groups: []string{employees, partners},
		}
		res := m.Map(e)
		if id != "" && res.Excluded != "" {
			t.Fatalf("Map().Excluded = %q", res.Excluded)
		}
		for _, w := range res.Warnings {
			for _, v := range []string{tel, mobile, expiry} {
				if len(v) > 3 && strings.Contains(w.Message, v) {
					t.Fatalf("warning %q contains the value %q", w.Message, v)
				}
			}
		}
		for _, card := range res.Cards {
			if card.FN() == "" {
				t.Fatalf("card without FN: %+v", card)
			}
			checkRoundTrip(t, card)
			checkCleanCard(t, card)
		}
		for _, d := range m.Explain(e) {
			if _, in := res.Cards[d.Book]; in != d.In {
				t.Fatalf("Explain() says in %s %v, Map() %v", d.Book, d.In, in)
			}
		}
	})
}

// FuzzEncode renders cards with arbitrary property names, types and
// values, as a card from any source could hold, and checks that the
// output is well-formed and parses back.
func FuzzEncode(f *testing.F) {
	f.Add("u1", "FN", "A", "work", "NOTE", "line1\r\nline2", "image/jpeg", "URL", "https://x/a,b\\c")
	f.Add("u\x00", "ADR", ";;street;city;;;", "x;y", "END", "VCARD", "image/gif", "IMPP", "xmpp:a@b")
	f.Add("", "PHOTO", tinyPNG, "", "N", "Doe;Jana", "image/png", "X-BAD NAME", "\xff")
	f.Fuzz(func(t *testing.T, uid, name1, value1, typ, name2, value2, mediaType, name3, value3 string) {
		card := &dirbook.Card{UID: uid, Props: []dirbook.Prop{
			{Field: "fn", Name: "FN", Values: []string{value1}},
			{Field: "a", Name: name1, Types: []string{typ}, Pref: true, Values: []string{value1, value2}, MediaType: mediaType},
			{Field: "b", Name: name2, Values: []string{value2, value3, value1}},
			{Field: "c", Name: name3, Types: []string{typ, "work"}, Values: []string{value3}, MediaType: mediaType},
		}}
		for _, version := range []string{"3.0", "4.0"} {
			out, err := Encode(card, version)
			if err != nil {
				t.Fatalf("Encode(%s): %v", version, err)
			}
			checkLines(t, out)
			got, err := vcard.NewDecoder(bytes.NewReader(out)).Decode()
			if err != nil {
				t.Fatalf("decode Encode(%s) output: %v\n%q", version, err, out)
			}
			if v := got.Value(vcard.FieldVersion); v != version {
				t.Fatalf("decoded VERSION = %q, want %q", v, version)
			}
			if n := len(got[vcard.FieldUID]); n != 1 {
				t.Fatalf("decoded card has %d UIDs, want 1\n%q", n, out)
			}
		}
	})
}

// FuzzTemplate parses arbitrary templates and renders them: no panic,
// and the value is clean.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{givenName} {sn}", "{{{uid}}}", "xmpp:{uid}@x", "{sn", "}", "{}", "{ cn }", "{cn;lang-de}", "{2.5.4.3}"} {
		f.Add(s, "Jana", "\xff\x00 Doe ")
	}
	f.Fuzz(func(t *testing.T, tmpl, given, sn string) {
		tp, err := parseTemplate(tmpl)
		if err != nil {
			return
		}
		e := &dirbook.Entry{Attrs: map[string][]string{"givenname": {given}, "sn": {sn}}}
		v, ok := tp.render(e)
		if !ok && v != "" || cleanText(v) != v {
			t.Fatalf("render(%q) = %q, %v, want a clean value", tmpl, v, ok)
		}
	})
}

// FuzzParseTime checks that parseTime never panics and that a time it
// accepts in a form that names a UTC instant survives a round trip.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"20260131235959Z", "2026013123,5Z", "20260131235959+0100", "2026-01-31", "20260131",
		"2026-01-31T12:00:00+02:00", "134141184000000000", "0", "9223372036854775807", "2026-02-30", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, never, ok := parseTime(s)
		if !ok && (never || !tm.IsZero()) {
			t.Fatalf("parseTime(%q) = %v, %v, false", s, tm, never)
		}
		if ok && !never && len(s) == 15 && s[14] == 'Z' && isDigits(s[:14]) {
			if again := tm.UTC().Format("20060102150405Z"); again != s {
				t.Fatalf("parseTime(%q) = %v, formats back as %q", s, tm, again)
			}
		}
	})
}

// FuzzPhoto prepares arbitrary bytes as a photo: no panic, and a photo
// that is published is a JPEG within the limits.
func FuzzPhoto(f *testing.F) {
	f.Add([]byte(tinyPNG))
	f.Add([]byte(tinyPNG[:30]))
	f.Add([]byte(pngHeader(300, 200)))
	f.Add([]byte("GIF89a"))
	f.Add([]byte("\xff\xd8\xff\xe0"))
	l := photoLimits{size: 64, bytes: 4096}
	c := newPhotoCache(16)
	f.Fuzz(func(t *testing.T, raw []byte) {
		data, problem := c.photo(string(raw), l)
		if problem != "" {
			if data != "" {
				t.Fatalf("photo() = %d bytes and problem %q", len(data), problem)
			}
			return
		}
		cfg, format, err := image.DecodeConfig(strings.NewReader(data))
		if err != nil || format != "jpeg" || cfg.Width > l.size || cfg.Height > l.size || len(data) > l.bytes {
			t.Fatalf("photo() = %s %dx%d of %d bytes (%v), want a JPEG within %+v", format, cfg.Width, cfg.Height, len(data), err, l)
		}
	})
}
