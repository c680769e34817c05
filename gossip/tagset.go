package gossip

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// TagSet is a node's placement tags in a canonical, comparable form:
// "name=value" lines sorted by name. NodeInfo stays comparable with it, so
// the registry tells a changed member from an unchanged one with ==. The
// zero value is no tags. Build one with NewTagSet.
type TagSet string

// NewTagSet returns the canonical form of tags. It refuses what the form
// cannot hold: an empty name, a name with '=', a line break in either.
func NewTagSet(tags map[string]string) (TagSet, error) {
	if len(tags) == 0 {
		return "", nil
	}
	names := make([]string, 0, len(tags))
	for name, value := range tags {
		if err := checkTag(name, value); err != nil {
			return "", fmt.Errorf("gossip: %w", err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(tags[name])
	}
	return TagSet(b.String()), nil
}

// checkTag refuses a tag that TagSet cannot hold.
func checkTag(name, value string) error {
	switch {
	case name == "":
		return fmt.Errorf("a tag name is empty")
	case strings.ContainsAny(name, "=\n\r"):
		return fmt.Errorf("tag name %q has '=' or a line break", name)
	case strings.ContainsAny(value, "\n\r"):
		return fmt.Errorf("the value of tag %q has a line break", name)
	case !utf8.ValidString(name) || !utf8.ValidString(value):
		return fmt.Errorf("tag %q is not valid UTF-8", name)
	}
	return nil
}

// Map returns the tags as a map, never nil.
func (t TagSet) Map() map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(string(t), "\n") {
		if name, value, ok := strings.Cut(line, "="); ok {
			out[name] = value
		}
	}
	return out
}

// Len is the number of tags.
func (t TagSet) Len() int {
	if t == "" {
		return 0
	}
	return strings.Count(string(t), "\n") + 1
}

// MarshalJSON writes the tags as a JSON object.
func (t TagSet) MarshalJSON() ([]byte, error) { return json.Marshal(t.Map()) }

// UnmarshalJSON reads a JSON object of tags.
func (t *TagSet) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("gossip: tags: %w", err)
	}
	s, err := NewTagSet(m)
	if err != nil {
		return err
	}
	*t = s
	return nil
}

// nodeTagsOf collects the placement tags from serf tags.
func nodeTagsOf(t map[string]string) (TagSet, error) {
	var m map[string]string
	for k, v := range t {
		if name, ok := strings.CutPrefix(k, tagNodeTag); ok {
			if err := checkTag(name, v); err != nil {
				return "", fmt.Errorf("gossip: node metadata has an invalid tag: %w", err)
			}
			if m == nil {
				m = map[string]string{}
			}
			m[name] = v
		}
	}
	return NewTagSet(m)
}
