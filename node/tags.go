package node

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/rosterhq/roster/gossip"
)

// Placement tags, as in Axon Server EE: axoniq.axonserver.tags.<name>=<value>
// in a file, AXONIQ_AXONSERVER_TAGS_<NAME>=<value> in the environment. A
// client that sends tags is placed on the node with the most tags of the
// same name and value. Tags are keys with a variable suffix: they are not
// in the key table, and no unknown-key warning fires for them.

// tagPrefix is the property prefix of a tag.
const tagPrefix = "axoniq.axonserver.tags."

// tagEnvPrefix is the environment variables' prefix of a tag.
const tagEnvPrefix = "AXONIQ_AXONSERVER_TAGS_"

const (
	maxTagName  = 64
	maxTagValue = 128
)

// tagKey returns the canonical property of a file key that sets a tag, and
// false for other keys. The prefix is matched as Spring's relaxed binding
// does (case, '-' and '_' ignored); the tag name keeps its spelling.
func tagKey(key string) (string, bool) {
	parts := strings.SplitN(key, ".", 4)
	if len(parts) != 4 || relaxedKey(parts[0]+"."+parts[1]+"."+parts[2]+".") != relaxedKey(tagPrefix) {
		return "", false
	}
	return tagPrefix + parts[3], true
}

// tagFromEnv returns the tag an environment variable sets, by Spring's
// rule for map keys: the rest of the name in lower case, '_' read as '.'
// (AXONIQ_AXONSERVER_TAGS_REGION sets tag region).
func tagFromEnv(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, tagEnvPrefix)
	if !ok || rest == "" {
		return "", false
	}
	return tagPrefix + strings.ReplaceAll(strings.ToLower(rest), "_", "."), true
}

// tagEnvironment reads the tag variables from environ ("NAME=value").
func tagEnvironment(environ []string) (map[string]any, map[string]string) {
	vals, origin := map[string]any{}, map[string]string{}
	for _, kv := range environ {
		name, v, _ := strings.Cut(kv, "=")
		if key, ok := tagFromEnv(name); ok {
			vals[key] = v
			origin[key] = "by environment variable " + name
		}
	}
	return vals, origin
}

// tags checks the tags: names of 1-64 letters, digits, '.', '-'
// or '_', values of at most 128 printable characters.
func (v *validator) tags(tags map[string]string) {
	names := make([]string, 0, len(tags))
	for n := range tags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		val := tags[n]
		if len(n) > maxTagName || !validTagName(n) {
			v.addf(tagPrefix+n, val, "has an invalid tag name %q (allowed: 1-%d letters, digits, '.', '-' or '_')", n, maxTagName)
			continue
		}
		if len(val) > maxTagValue || strings.ContainsFunc(val, func(r rune) bool { return !unicode.IsPrint(r) }) {
			v.addf(tagPrefix+n, val, "is not a valid tag value (allowed: at most %d printable characters)", maxTagValue)
		}
	}
}

func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '.' && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// tagSet is the gossiped form of the configured tags.
func (c Config) tagSet() (gossip.TagSet, error) {
	s, err := gossip.NewTagSet(c.Tags)
	if err != nil {
		return "", fmt.Errorf("config: %s*: %w", tagPrefix, err)
	}
	return s, nil
}
