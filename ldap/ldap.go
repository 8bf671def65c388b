// Package ldap reads people from directories: LDAP and Active Directory
// servers, and LDIF files.
//
// A source reads every person its filter selects below its base and hands
// each over as a dirbook.Entry, with the person's group memberships
// resolved (nested groups included). The go-ldap types stay inside this
// package.
package ldap

import (
	"encoding/hex"
	"strings"
	"sync"
)

// addAttr adds the values of one attribute to m, a map keyed like
// dirbook.Entry.Attrs: lower-case names. The ";binary" transfer option is
// not part of an attribute's name (RFC 4522): "jpegPhoto;binary" is stored
// as "jpegphoto".
//
// The first values of an attribute go into m as they are, without a copy;
// the caller must not change vals afterwards.
func addAttr(m map[string][]string, name string, vals []string) {
	key := attrKey(name)
	if old, ok := m[key]; ok || len(vals) == 0 {
		m[key] = append(old, vals...)
		return
	}
	m[key] = vals[:len(vals):len(vals)] // an append to it copies
}

// attrKeys caches the keys of attribute names: every entry has the same
// dozen, and Attrs maps then share their keys.
var attrKeys struct {
	sync.RWMutex
	m map[string]string
}

// maxAttrKeys bounds attrKeys, against a server sending endless names.
const maxAttrKeys = 4096

// attrKey returns the key of the attribute name in dirbook.Entry.Attrs.
func attrKey(name string) string {
	attrKeys.RLock()
	key, ok := attrKeys.m[name]
	attrKeys.RUnlock()
	if ok {
		return key
	}
	// Clones, so that the cache holds no larger string that name or
	// key may be part of.
	key = strings.Clone(strings.TrimSuffix(strings.ToLower(name), ";binary"))
	attrKeys.Lock()
	if attrKeys.m == nil {
		attrKeys.m = map[string]string{}
	}
	if len(attrKeys.m) < maxAttrKeys {
		attrKeys.m[strings.Clone(name)] = key
	}
	attrKeys.Unlock()
	return key
}

// identity returns the ID of an entry from the values of its identity
// attribute: objectGUID's 16 raw bytes in Active Directory's canonical
// string form, any other value as it is.
func identity(attr string, vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	v := vals[0]
	if strings.EqualFold(attr, "objectGUID") && len(v) == 16 {
		return formatGUID([]byte(v))
	}
	return v
}

// formatGUID renders a Microsoft GUID as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
// in lower case. The first three groups are stored little-endian.
func formatGUID(b []byte) string {
	o := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	o = append(o, b[8:16]...)
	h := hex.EncodeToString(o)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
