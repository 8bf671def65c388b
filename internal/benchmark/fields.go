package benchmark

import "strings"

// fields are the mapping fields of testdata/demo/dirbook.yaml but the
// photo, as YAML list items.
const fields = `- name: fn
  property: FN
  from: [displayName, cn]
- name: n
  property: N
  parts: [sn, givenName]
- name: org
  property: ORG
  parts: [o, ou]
- name: title
  property: TITLE
  from: [title]
- name: email
  property: EMAIL
  from: [mail]
  types: [work]
- name: work_phone
  property: TEL
  from: [telephoneNumber]
  types: [work, voice]
  transform: [e164]
- name: mobile
  property: TEL
  from: [mobile]
  types: [cell]
  transform: [e164]
`

// photoField is the mapping field of the people's photos.
const photoField = `- name: photo
  property: PHOTO
  from: [jpegPhoto]
`

// Fields returns the mapping fields of the benchmarks' dirbook
// configurations as YAML list items, every line after indent: those of
// testdata/demo/dirbook.yaml, fn, n, org, title, email, work_phone and
// mobile, phone numbers in E.164, and photo if photo is true.
func Fields(indent string, photo bool) string {
	s := fields
	if photo {
		s += photoField
	}
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(indent)
		b.WriteString(line)
	}
	return b.String()
}
