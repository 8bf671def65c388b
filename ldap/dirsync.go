package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// dirsyncFlags asks for the values added to and removed from linked
// attributes (member;range=1-1 and member;range=0-0) instead of whole
// member lists.
const dirsyncFlags = goldap.DirSyncIncrementalValues

// dirsyncPage runs one DirSync search of the naming context nc from
// cookie and returns its entries, the cookie after them, and whether more
// changes wait.
func (s *Source) dirsyncPage(ctx context.Context, c *conn, nc, filter string, attrs []string, cookie []byte) (*goldap.SearchResult, []byte, bool, error) {
	req := goldap.NewSearchRequest(nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, filter, attrs, []goldap.Control{goldap.NewRequestControlDirSync(dirsyncFlags, 0, cookie)})
	res, err := c.Search(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, false, fmt.Errorf("ldap: dirsync %s at %s: %w", nc, s.url, cerr)
		}
		return nil, nil, false, fmt.Errorf("ldap: dirsync %s at %s: %w", nc, s.url, describe(err))
	}
	ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypeDirSync).(*goldap.ControlDirSync)
	if ctrl == nil {
		return nil, nil, false, fmt.Errorf("ldap: dirsync %s at %s: the answer has no DirSync control", nc, s.url)
	}
	return res, ctrl.Cookie, ctrl.Flags != 0, nil
}

// dirsyncCookie returns a DirSync cookie for the present: it runs DirSync
// from the start with a filter no entry matches.
func (s *Source) dirsyncCookie(ctx context.Context, c *conn, dse *rootDSE) ([]byte, error) {
	var cookie []byte
	for {
		_, next, more, err := s.dirsyncPage(ctx, c, dse.nc, "(!(objectClass=*))", []string{"objectGUID"}, cookie)
		if err != nil {
			return nil, err
		}
		cookie = next
		if !more {
			return cookie, nil
		}
	}
}

// dirsync polls with DirSync from the state's cookie: it reports the
// people changed, those added to or removed from groups (and the members
// of nested groups added or removed), and the deleted ones, and returns
// the state at the cookie the server returned last.
func (p *adPoll) dirsync(ctx context.Context) ([]byte, error) {
	attrs := append(slices.Clone(p.s.attrs), "objectGUID", "isDeleted", "member")
	var changed, deleted, memberDNs, removedDNs, wholeGroups []string
	cookie := p.st.Cookie
	for {
		res, next, more, err := p.s.dirsyncPage(ctx, p.c, p.dse.nc, "(objectClass=*)", attrs, cookie)
		if err != nil {
			var rerr *resultError
			if errors.As(err, &rerr) && ctx.Err() == nil {
				return nil, errADFull // the server refuses the cookie
			}
			return nil, err
		}
		for _, e := range res.Entries {
			raw := rawValue(e, "objectGUID")
			if len(raw) != 16 {
				continue
			}
			guid := formatGUID(raw)
			if strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE") {
				deleted = append(deleted, guid)
				continue
			}
			own := false
			for _, a := range e.Attributes {
				name, r, ranged, err := parseRange(a.Name)
				switch {
				case err != nil:
					return nil, fmt.Errorf("ldap: dirsync at %s: %s: %w", p.s.url, e.DN, err)
				case strings.EqualFold(name, "member") && ranged:
					// Incremental values: range 1-1 holds the
					// added members, 0-0 the removed ones.
					memberDNs = append(memberDNs, a.Values...)
					if r.hi == 0 {
						removedDNs = append(removedDNs, a.Values...)
					}
				case strings.EqualFold(name, "member"):
					wholeGroups = append(wholeGroups, e.DN)
				case strings.EqualFold(name, "objectGUID"), strings.EqualFold(name, "instanceType"), strings.EqualFold(name, "parentGUID"):
				default:
					own = true
				}
			}
			if own {
				changed = append(changed, guid)
			}
		}
		cookie = next
		if !more {
			break
		}
	}
	if len(wholeGroups) > 0 && !p.memValid {
		// The server sent whole member lists: who left is known only
		// from the memberships reported before.
		return nil, errADFull
	}
	if len(memberDNs) > 0 || len(wholeGroups) > 0 {
		p.groupsChanged = true
	}

	if err := p.rereadGUIDs(ctx, changed); err != nil {
		return nil, err
	}
	if err := p.inChain(ctx, memberDNs); err != nil {
		return nil, err
	}
	for _, dn := range removedDNs {
		if err := p.leftGroup(ctx, dn); err != nil {
			return nil, err
		}
	}
	if err := p.regroup(ctx, wholeGroups); err != nil {
		return nil, err
	}
	if p.guidIsID() {
		if err := p.removeAll(deleted); err != nil {
			return nil, err
		}
	}
	next := *p.st
	next.USN = p.dse.usn
	next.Cookie = cookie
	return next.encode(), nil
}

// guidIsID reports whether people are identified by objectGUID, which
// DirSync names changed and deleted objects by.
func (p *adPoll) guidIsID() bool { return strings.EqualFold(p.s.idAttr, "objectGUID") }

// rereadGUIDs reads the objects guids changed again: people are
// reported; groups have their members reported; other objects, when
// people are identified by objectGUID, are reported removed (a person no
// longer matching the filter; other objects were never reported and are
// passed over).
func (p *adPoll) rereadGUIDs(ctx context.Context, guids []string) error {
	// The changed groups among them first, so that the people are
	// reported with the group index read again: a renamed group changes
	// the memberOf of its members.
	var groups []string
	isGroup := map[string]bool{}
	for chunk := range slices.Chunk(guids, adBatch) {
		req := goldap.NewSearchRequest(p.dse.nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			0, 0, false, "(&"+p.s.groupFilter+guidFilter(chunk)+")", []string{"objectGUID"}, nil)
		err := p.s.search(ctx, p.c, req, func(e *goldap.Entry) error {
			groups = append(groups, e.DN)
			if raw := rawValue(e, "objectGUID"); len(raw) == 16 {
				isGroup[formatGUID(raw)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(groups) > 0 {
		p.groupsChanged = true
	}
	for chunk := range slices.Chunk(guids, adBatch) {
		if err := p.searchPeople(ctx, guidFilter(chunk)); err != nil {
			return err
		}
	}
	if err := p.inChain(ctx, groups); err != nil {
		return err
	}
	if !p.guidIsID() {
		return nil
	}
	for _, g := range guids {
		if isGroup[g] {
			continue
		}
		if err := p.remove(g); err != nil {
			return err
		}
	}
	return nil
}

// leftGroup reports the removal of dn, removed from a group, when it is a
// person below the base who no longer matches the filter.
func (p *adPoll) leftGroup(ctx context.Context, dn string) error {
	if !p.guidIsID() || !p.s.inScope(dn) {
		return nil
	}
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"objectGUID"}, nil)
	res, err := p.c.Search(req)
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil // deleted: DirSync reports it
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("ldap: read %s: %w", p.s.url, cerr)
		}
		return fmt.Errorf("ldap: read %s at %s: %w", dn, p.s.url, describe(err))
	}
	for _, e := range res.Entries {
		if raw := rawValue(e, "objectGUID"); len(raw) == 16 {
			if err := p.remove(formatGUID(raw)); err != nil {
				return err
			}
		}
	}
	return nil
}

// guidFilter returns a filter matching the objects with the objectGUIDs
// guids (canonical strings).
func guidFilter(guids []string) string {
	var b strings.Builder
	b.WriteString("(|")
	for _, g := range guids {
		raw, ok := parseGUID(g)
		if !ok {
			continue
		}
		b.WriteString("(objectGUID=")
		for _, c := range raw {
			fmt.Fprintf(&b, "\\%02x", c)
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}
