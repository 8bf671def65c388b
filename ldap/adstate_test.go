package ldap

import (
	"slices"
	"testing"
	"time"

	"github.com/dirbook/dirbook"
)

func TestParseGUID(t *testing.T) {
	raw := []byte{0x8f, 0xf8, 0xf0, 0x8d, 0x01, 0xf2, 0xac, 0x4c, 0x84, 0xf7, 0x33, 0xa0, 0xb7, 0x64, 0xbb, 0x9d}
	const text = "8df0f88f-f201-4cac-84f7-33a0b764bb9d"
	if got := formatGUID(raw); got != text {
		t.Fatalf("formatGUID(%x) = %q, want %q", raw, got, text)
	}
	tests := []struct {
		in string
		ok bool
	}{
		{text, true},
		{"8DF0F88F-F201-4CAC-84F7-33A0B764BB9D", true},
		{"8df0f88ff2014cac84f733a0b764bb9d", false},
		{"8df0f88f-f201-4cac-84f7-33a0b764bb9", false},
		{"8df0f88f-f201-4cac-84f7_33a0b764bb9d", false},
		{"zzf0f88f-f201-4cac-84f7-33a0b764bb9d", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, ok := parseGUID(tt.in)
			if ok != tt.ok {
				t.Fatalf("parseGUID(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if ok && string(b) != string(raw) {
				t.Errorf("parseGUID(%q) = %x, want %x", tt.in, b, raw)
			}
		})
	}
	if got, want := guidFilter([]string{text, "bad"}), `(|(objectGUID=\8f\f8\f0\8d\01\f2\ac\4c\84\f7\33\a0\b7\64\bb\9d))`; got != want {
		t.Errorf("guidFilter = %q, want %q", got, want)
	}
	if err := checkFilter(guidFilter([]string{text})); err != nil {
		t.Errorf("guidFilter does not compile: %v", err)
	}
}

func TestADState(t *testing.T) {
	st := &adState{Version: adStateVersion, Feed: FeedDirSync, Config: "c", DC: "dc", USN: 42, Cookie: []byte{0, 1, 0xff}, Full: 1700000000}
	b := st.encode()
	got, ok := decodeADState(b)
	if !ok || got.USN != 42 || string(got.Cookie) != string(st.Cookie) || got.Feed != FeedDirSync || got.DC != "dc" || got.Full != st.Full {
		t.Errorf("decodeADState(encode(%+v)) = %+v, %v", st, got, ok)
	}
	for _, bad := range []string{"", "garbage", `{"v":2,"feed":"usn"}`, `{"v":1,"feed":"usn","x":1}`, `{"v":1`} {
		if _, ok := decodeADState([]byte(bad)); ok {
			t.Errorf("decodeADState(%q) ok, want not", bad)
		}
	}
}

func TestADContinues(t *testing.T) {
	s := newSource(t, &Options{URL: "ldaps://dc.example", BindDN: "cn=a", BindPassword: "p", Base: "dc=example", ActiveDirectory: true, ADReconcileInterval: time.Hour})
	dse := &rootDSE{usn: 100, dc: "inv"}
	good := adState{Version: adStateVersion, Feed: FeedUSN, Config: s.adConfig(), DC: "inv", USN: 90, Full: time.Now().Unix()}
	tests := []struct {
		name   string
		change func(*adState)
		want   bool
	}{
		{"same", func(*adState) {}, true},
		{"same USN", func(st *adState) { st.USN = 100 }, true},
		{"other feed", func(st *adState) { st.Feed = FeedDirSync; st.Cookie = []byte{1} }, false},
		{"other config", func(st *adState) { st.Config = "x" }, false},
		{"other DC", func(st *adState) { st.DC = "other" }, false},
		{"USN ahead of server", func(st *adState) { st.USN = 101 }, false},
		{"reconcile due", func(st *adState) { st.Full = time.Now().Add(-2 * time.Hour).Unix() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := good
			tt.change(&st)
			if got := s.adContinues(&st, dse); got != tt.want {
				t.Errorf("adContinues(%+v) = %v, want %v", st, got, tt.want)
			}
		})
	}
}

func TestADMemory(t *testing.T) {
	var m adMemory
	m.reset()
	m.record(&dirbook.Entry{ID: "a", Groups: []string{"cn=g1", "cn=g2"}})
	m.record(&dirbook.Entry{ID: "b", Groups: []string{"cn=g2"}})
	m.record(&dirbook.Entry{ID: "c"})
	m.record(&dirbook.Entry{ID: "", Groups: []string{"cn=g1"}})
	if got := m.members([]string{"cn=g2"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("members(g2) = %q, want [a b]", got)
	}
	if got := m.members([]string{"cn=g1", "cn=g3"}); !slices.Equal(got, []string{"a"}) {
		t.Errorf("members(g1, g3) = %q, want [a]", got)
	}
	m.record(&dirbook.Entry{ID: "a", Groups: []string{"cn=g3"}})
	if got := m.members([]string{"cn=g1"}); len(got) != 0 {
		t.Errorf("members(g1) after a left = %q, want none", got)
	}
	state := []byte("s")
	if m.valid(state) {
		t.Errorf("valid before a key was set")
	}
	m.key = [32]byte{1}
	if m.valid(state) {
		t.Errorf("valid with the key of another state")
	}
}
