package ldap

import (
	"context"
	"fmt"

	goldap "github.com/go-ldap/ldap/v3"
)

// usn polls by uSNChanged: it reports the people changed since the
// state's USN, the members of the groups changed since, and the removals
// it can see, and returns the state at the USN the server had before.
func (p *adPoll) usn(ctx context.Context) ([]byte, error) {
	from := p.st.USN + 1
	groups, err := p.changedGroups(ctx)
	if err != nil {
		return nil, err
	}
	if len(groups) > 0 && !p.memValid {
		return nil, errADFull
	}
	if len(groups) > 0 {
		p.groupsChanged = true
	}
	if err := p.searchPeople(ctx, fmt.Sprintf("(uSNChanged>=%d)", from)); err != nil {
		return nil, err
	}
	if err := p.regroup(ctx, groups); err != nil {
		return nil, err
	}
	if err := p.leftFilter(ctx, from); err != nil {
		return nil, err
	}
	if err := p.tombstones(ctx); err != nil {
		return nil, err
	}
	next := *p.st
	next.USN = p.dse.usn
	return next.encode(), nil
}

// leftFilter reports the removal of the entries below the base changed
// since the USN from that no longer match the filter.
func (p *adPoll) leftFilter(ctx context.Context, from int64) error {
	if p.s.filter == "(objectClass=*)" {
		return nil
	}
	req := goldap.NewSearchRequest(p.s.base, p.s.scope, goldap.NeverDerefAliases,
		0, 0, false, fmt.Sprintf("(&(!%s)(uSNChanged>=%d))", p.s.filter, from), []string{p.s.idAttr}, nil)
	var ids []string
	err := p.s.search(ctx, p.c, req, func(e *goldap.Entry) error {
		ids = append(ids, identity(p.s.idAttr, e.GetAttributeValues(p.s.idAttr)))
		return nil
	})
	if err != nil {
		return err
	}
	return p.removeAll(ids)
}
