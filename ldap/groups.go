package ldap

import (
	"slices"
	"strings"
)

// groupClasses are the object classes (lower case) of the group entries
// whose members are resolved: groupOfNames and groupOfUniqueNames (RFC
// 4519), groupOfMembers (RFC 2307bis), posixGroup (RFC 2307) and Active
// Directory's group.
var groupClasses = []string{"groupofnames", "groupofuniquenames", "groupofmembers", "posixgroup", "group"}

// isGroup reports whether attrs (lower-case names) describe a group.
func isGroup(attrs map[string][]string) bool {
	for _, oc := range attrs["objectclass"] {
		if slices.Contains(groupClasses, strings.ToLower(strings.TrimSpace(oc))) {
			return true
		}
	}
	return false
}

// groupIndex knows every group of a directory and whom it lists as member,
// so that a person's memberships, nested ones included, can be resolved.
// All DNs in it are in the form of canonicalDN.
type groupIndex struct {
	// parents maps the DN of a member (a person or a group) to the DNs of
	// the groups that list it.
	parents map[string][]string
	// byUID maps a lower-case uid to the posixGroups whose memberUid
	// names it.
	byUID map[string][]string
}

func newGroupIndex() *groupIndex {
	return &groupIndex{parents: map[string][]string{}, byUID: map[string][]string{}}
}

// add records the group entry dn with the attributes attrs.
func (g *groupIndex) add(dn string, attrs map[string][]string) {
	gdn := canonicalDN(dn)
	for _, m := range attrs["member"] {
		g.link(canonicalDN(m), gdn)
	}
	for _, m := range attrs["uniquemember"] {
		g.link(canonicalDN(stripUID(m)), gdn)
	}
	for _, u := range attrs["memberuid"] {
		u = strings.ToLower(strings.TrimSpace(u))
		if u != "" && !slices.Contains(g.byUID[u], gdn) {
			g.byUID[u] = append(g.byUID[u], gdn)
		}
	}
	// A group may state its own memberships the Active Directory way.
	for _, p := range attrs["memberof"] {
		g.link(gdn, canonicalDN(p))
	}
}

func (g *groupIndex) link(member, group string) {
	if member == "" || group == "" || slices.Contains(g.parents[member], group) {
		return
	}
	g.parents[member] = append(g.parents[member], group)
}

// groups returns the sorted, normalised DNs of the groups the entry dn
// belongs to, directly or through nested groups. The direct groups are the
// entry's memberOf values and the groups that list dn as member, together:
// slapd's memberof overlay maintains memberOf for groupOfNames only, so a
// person with memberOf may still be listed by a groupOfUniqueNames, or by
// a posixGroup through one of uids.
func (g *groupIndex) groups(dn string, uids, memberOf []string) []string {
	self := canonicalDN(dn)
	// out is also the queue of groups whose parents are still to visit.
	// A person belongs to a few groups: out is searched until it grows
	// long enough for a map to pay.
	var out []string
	var seen map[string]bool
	visit := func(gdn string) {
		if gdn == "" || gdn == self {
			return
		}
		switch {
		case seen != nil:
			if seen[gdn] {
				return
			}
			seen[gdn] = true
		case slices.Contains(out, gdn):
			return
		case len(out) >= 32:
			seen = make(map[string]bool, 2*len(out))
			for _, o := range out {
				seen[o] = true
			}
			seen[gdn] = true
		}
		out = append(out, gdn)
	}
	for _, m := range memberOf {
		visit(canonicalDN(m))
	}
	for _, p := range g.parents[self] {
		visit(p)
	}
	for _, u := range uids {
		for _, p := range g.byUID[strings.ToLower(strings.TrimSpace(u))] {
			visit(p)
		}
	}
	for i := 0; i < len(out); i++ {
		for _, p := range g.parents[out[i]] {
			visit(p)
		}
	}
	slices.Sort(out)
	return out
}

// stripUID removes the optional "#'0101'B" unique identifier that a
// uniqueMember value (nameAndOptionalUID) may carry after the DN.
func stripUID(v string) string {
	if !strings.HasSuffix(v, "'B") {
		return v
	}
	i := strings.LastIndex(v, "#'")
	if i < 0 {
		return v
	}
	bits := v[i+2 : len(v)-2]
	if strings.Trim(bits, "01") != "" {
		return v
	}
	return v[:i]
}

// underBase reports whether the normalised DN dn equals the normalised DN
// base or lies below it. The suffix must start at an RDN boundary: an
// unescaped comma.
func underBase(dn, base string) bool {
	if base == "" || dn == base {
		return true
	}
	if !strings.HasSuffix(dn, base) || len(dn) == len(base) {
		return false
	}
	i := len(dn) - len(base) - 1
	if dn[i] != ',' {
		return false
	}
	// The comma is escaped when an odd number of backslashes precede it.
	n := 0
	for j := i - 1; j >= 0 && dn[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}
