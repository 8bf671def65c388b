package ldap

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

func testUUID(b byte) entryUUID {
	var u entryUUID
	for i := range u {
		u[i] = b + byte(i)
	}
	return u
}

func testState() *syncState {
	st := newSyncState([16]byte{1, 2, 3})
	st.peopleCookie = []byte("rid=000,csn=20260101000000.000000Z#000000#000#000000")
	st.groupCookie = []byte("rid=000,csn=20260101000000.000001Z#000000#000#000000")
	st.setPerson(testUUID(1), testUUID(1).String())
	st.setPerson(testUUID(2), "p000002")
	st.setPerson(testUUID(3), "")
	st.setGroup(testUUID(9), &groupSnap{dn: "cn=a,ou=groups,dc=example,dc=com", members: []string{"uid=p1,ou=people,dc=example,dc=com"}, uids: []string{"p2"}})
	st.setGroup(testUUID(8), &groupSnap{dn: "cn=empty,ou=groups,dc=example,dc=com"})
	return st
}

func TestSyncStateRoundTrip(t *testing.T) {
	st := testState()
	enc := st.encode()
	got, err := decodeSyncState(enc)
	if err != nil {
		t.Fatalf("decodeSyncState(encode()) error: %v", err)
	}
	if got.config != st.config || !bytes.Equal(got.peopleCookie, st.peopleCookie) || !bytes.Equal(got.groupCookie, st.groupCookie) {
		t.Errorf("decoded header = %x %q %q, want %x %q %q", got.config, got.peopleCookie, got.groupCookie, st.config, st.peopleCookie, st.groupCookie)
	}
	for _, u := range []entryUUID{testUUID(1), testUUID(2), testUUID(3), testUUID(4)} {
		gotID, gotOK := got.person(u)
		wantID, wantOK := st.person(u)
		if gotID != wantID || gotOK != wantOK {
			t.Errorf("person(%s) = %q, %v; want %q, %v", u, gotID, gotOK, wantID, wantOK)
		}
	}
	if id, _ := got.person(testUUID(1)); id != testUUID(1).String() {
		t.Errorf("person(%s) = %q, want its entryUUID", testUUID(1), id)
	}
	if !maps.EqualFunc(got.groups, st.groups, func(a, b *groupSnap) bool { return a.equal(b) }) {
		t.Errorf("decoded groups = %v, want %v", got.groups, st.groups)
	}
	if again := got.encode(); !bytes.Equal(again, enc) {
		t.Errorf("encode(decode(s)) differs from s")
	}
	// A changed cookie re-encodes the header only.
	got.peopleCookie = []byte("other")
	if got.peopleEnc == nil || got.groupsEnc == nil {
		t.Errorf("decoded state keeps no encoded sections")
	}
	if st2, err := decodeSyncState(got.encode()); err != nil || string(st2.peopleCookie) != "other" {
		t.Errorf("state with a new cookie decodes to %v, %v", st2, err)
	}
	got.dropPerson(testUUID(2))
	if got.peopleEnc != nil {
		t.Errorf("dropPerson kept the encoded people")
	}
}

func TestSyncStateCorrupt(t *testing.T) {
	enc := testState().encode()
	for i := range len(enc) {
		if _, err := decodeSyncState(enc[:i]); err == nil {
			t.Errorf("decodeSyncState of the first %d of %d bytes succeeded, want an error", i, len(enc))
		}
	}
	// A flipped bit gives an error, or, where DEFLATE ignores it
	// (padding), the same state: never another one.
	for i := len(stateMagic); i < len(enc); i++ {
		for bit := range 8 {
			b := slices.Clone(enc)
			b[i] ^= 1 << bit
			if st, err := decodeSyncState(b); err == nil && !bytes.Equal(reencode(st), enc) {
				t.Errorf("decodeSyncState with bit %d of byte %d flipped = another state, want an error", bit, i)
			}
		}
	}
	if _, err := decodeSyncState(append(slices.Clone(enc), 0)); err == nil {
		t.Errorf("decodeSyncState with a trailing byte succeeded, want an error")
	}
}

// reencode encodes st anew, not reusing the sections it was decoded from.
func reencode(st *syncState) []byte {
	st.peopleEnc, st.groupsEnc = nil, nil
	return st.encode()
}

func FuzzSyncState(f *testing.F) {
	f.Add(testState().encode())
	f.Add(newSyncState([16]byte{}).encode())
	f.Add([]byte(stateMagic + "\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeSyncState(b)
		if err != nil {
			return
		}
		again, err := decodeSyncState(st.encode())
		if err != nil {
			t.Fatalf("decodeSyncState(encode(decodeSyncState(b))) error: %v", err)
		}
		if len(again.people) != len(st.people) || len(again.groups) != len(st.groups) {
			t.Errorf("round trip changed the state")
		}
	})
}

func TestParseEntryUUID(t *testing.T) {
	u := testUUID(0x10)
	tests := []struct {
		in string
		ok bool
	}{
		{u.String(), true},
		{"101112131415161718191a1b1c1d1e1f", true},
		{"101112131415161718191A1B1C1D1E1F", true},
		{"", false},
		{"1011", false},
		{"zz1112131415161718191a1b1c1d1e1f", false},
	}
	for _, tt := range tests {
		got, ok := parseEntryUUID(tt.in)
		if ok != tt.ok || (ok && got != u) {
			t.Errorf("parseEntryUUID(%q) = %s, %v; want %s, %v", tt.in, got, ok, u, tt.ok)
		}
	}
}

// TestSyncBatch feeds syncBatch the messages of RFC 4533 as go-ldap
// decodes them.
func TestSyncBatch(t *testing.T) {
	entry := func(dn string) *goldap.Entry { return &goldap.Entry{DN: dn} }
	state := func(s goldap.ControlSyncStateState, u entryUUID, cookie string) []goldap.Control {
		c := &goldap.ControlSyncState{State: s}
		copy(c.EntryUUID[:], u[:])
		if cookie != "" {
			c.Cookie = []byte(cookie)
		}
		return []goldap.Control{c}
	}
	// idSet makes a syncIdSet without naming go-ldap's UUID type.
	idSet := func(deletes bool, us ...entryUUID) *goldap.ControlSyncInfoSyncIdSet {
		set := &goldap.ControlSyncInfoSyncIdSet{RefreshDeletes: deletes}
		set.SyncUUIDs = slices.Grow(set.SyncUUIDs, len(us))[:len(us)]
		for i, u := range us {
			copy(set.SyncUUIDs[i][:], u[:])
		}
		return set
	}
	info := func(i *goldap.ControlSyncInfo) []goldap.Control { return []goldap.Control{i} }
	u1, u2, u3, u4 := testUUID(1), testUUID(2), testUUID(3), testUUID(4)

	type msg struct {
		e *goldap.Entry
		c []goldap.Control
	}
	tests := []struct {
		name         string
		msgs         []msg
		changed      []entryUUID
		deleted      []entryUUID
		present      []entryUUID
		presentPhase bool
		done         bool
		cookie       string
	}{{
		name: "delete phase",
		msgs: []msg{
			{entry("uid=a"), state(goldap.SyncStateAdd, u1, "")},
			{entry("uid=b"), state(goldap.SyncStateModify, u2, "c1")},
			{nil, info(&goldap.ControlSyncInfo{SyncIdSet: idSet(true, u3, u2)})},
			{nil, []goldap.Control{&goldap.ControlSyncDone{Cookie: []byte("c2"), RefreshDeletes: true}}},
		},
		changed: []entryUUID{u1},
		deleted: []entryUUID{u2, u3},
		done:    true,
		cookie:  "c2",
	}, {
		name: "present phase by sync done",
		msgs: []msg{
			{nil, info(&goldap.ControlSyncInfo{SyncIdSet: idSet(false, u1, u2)})},
			{entry("uid=c"), state(goldap.SyncStatePresent, u3, "")},
			{entry("uid=d"), state(goldap.SyncStateAdd, u4, "")},
			{nil, []goldap.Control{&goldap.ControlSyncDone{}}},
		},
		changed:      []entryUUID{u4},
		present:      []entryUUID{u1, u2, u3},
		presentPhase: true,
		done:         true,
	}, {
		name: "refreshAndPersist: refresh present, then persist",
		msgs: []msg{
			{nil, info(&goldap.ControlSyncInfo{RefreshPresent: &goldap.ControlSyncInfoRefreshPresent{Cookie: []byte("c1"), RefreshDone: true}})},
			{entry("uid=a"), state(goldap.SyncStateDelete, u1, "c2")},
			{nil, info(&goldap.ControlSyncInfo{NewCookie: &goldap.ControlSyncInfoNewCookie{}})},
		},
		deleted:      []entryUUID{u1},
		presentPhase: true,
		done:         true,
		cookie:       "c2",
	}, {
		name: "refresh not done",
		msgs: []msg{
			{nil, info(&goldap.ControlSyncInfo{RefreshDelete: &goldap.ControlSyncInfoRefreshDelete{Cookie: []byte("c1"), RefreshDone: false}})},
			{nil, info(&goldap.ControlSyncInfo{NewCookie: &goldap.ControlSyncInfoNewCookie{Cookie: []byte("c3")}})},
		},
		cookie: "c3",
	}, {
		name: "deleted, then added again",
		msgs: []msg{
			{entry("uid=a"), state(goldap.SyncStateDelete, u1, "")},
			{entry("uid=a"), state(goldap.SyncStateAdd, u1, "")},
		},
		changed: []entryUUID{u1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newSyncBatch()
			for _, m := range tt.msgs {
				if err := b.add(m.e, m.c); err != nil {
					t.Fatalf("add error: %v", err)
				}
			}
			if got := sortedUUIDs(b.changed); !slices.Equal(got, tt.changed) {
				t.Errorf("changed = %v, want %v", got, tt.changed)
			}
			if got := sortedUUIDs(b.deleted); !slices.Equal(got, tt.deleted) {
				t.Errorf("deleted = %v, want %v", got, tt.deleted)
			}
			if got := sortedUUIDs(b.present); !slices.Equal(got, tt.present) {
				t.Errorf("present = %v, want %v", got, tt.present)
			}
			if b.presentPhase != tt.presentPhase || b.refreshDone != tt.done || string(b.cookie) != tt.cookie {
				t.Errorf("presentPhase, refreshDone, cookie = %v, %v, %q; want %v, %v, %q", b.presentPhase, b.refreshDone, b.cookie, tt.presentPhase, tt.done, tt.cookie)
			}
		})
	}
	if err := newSyncBatch().add(entry("uid=x"), nil); err == nil {
		t.Errorf("add of an entry without sync state succeeded, want an error")
	}
}

// TestConcerned checks whom a change of group membership concerns,
// through nested groups and memberUid.
func TestConcerned(t *testing.T) {
	graph := groupGraph{
		"cn=all": {dn: "cn=all", members: []string{"cn=sub", "uid=a"}},
		"cn=sub": {dn: "cn=sub", members: []string{"cn=all", "uid=b"}, uids: []string{"c"}},
	}
	a := &concerned{dns: map[string]bool{}, uids: map[string]bool{}}
	a.add(graph, []string{"cn=sub", "uid=d"}, nil)
	if got, want := slices.Sorted(maps.Keys(a.dns)), []string{"uid=a", "uid=b", "uid=d"}; !slices.Equal(got, want) {
		t.Errorf("concerned DNs = %q, want %q", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(a.uids)), []string{"c"}; !slices.Equal(got, want) {
		t.Errorf("concerned uids = %q, want %q", got, want)
	}
	if got, want := missingFrom([]string{"a", "b", "c"}, []string{"b", "d"}), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("missingFrom = %q, want %q", got, want)
	}
}
