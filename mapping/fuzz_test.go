package mapping

import (
	"strings"
	"testing"

	"github.com/dirbook/dirbook"
)

// FuzzMap maps hostile attribute values and checks that every card
// renders to a vCard go-vcard reads back with the same UID, FN and N.
func FuzzMap(f *testing.F) {
	p := person()
	f.Add(p.ID, p.First("displayName"), p.First("cn"), p.First("sn"), p.First("givenName"), p.First("o"),
		p.First("mail"), p.First("telephoneNumber"), p.First("mobile"), []byte(tinyPNG))
	f.Add("id", "\xff\xfeJana\x00 Doe\r\nX-EVIL:1", "", "Doe;Smith", "Jana,", "a\\b", "a@b,c", "0800-CALL-NOW", "030/1234567", []byte("GIF89a"))
	f.Add("u\r\nid", " ", "\t", "", "", "", "", "+49 (0)30 1234-567", "0049 89 123456", []byte(tinyPNG[:20]))
	f.Add("x", "", "", "", "", "", "", "", "", []byte{})
	m := mustCompile(f, demoRules())
	f.Fuzz(func(t *testing.T, id, displayName, cn, sn, givenName, o, mail, tel, mobile string, photo []byte) {
		e := &dirbook.Entry{
			ID: id,
			Attrs: map[string][]string{
				"displayname":     {displayName},
				"cn":              {cn},
				"sn":              {sn},
				"givenname":       {givenName},
				"o":               {o},
				"ou":              {cn},
				"title":           {givenName},
				"mail":            {mail, cn},
				"telephonenumber": {tel, mobile},
				"mobile":          {mobile},
				"jpegphoto":       {string(photo)},
			},
			Groups: []string{employees, partners},
		}
		res := m.Map(e)
		if id != "" && res.Excluded != "" {
			t.Fatalf("Map().Excluded = %q", res.Excluded)
		}
		for _, w := range res.Warnings {
			for _, v := range []string{tel, mobile} {
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
		}
	})
}
