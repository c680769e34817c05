package node

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	koanfyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/magiconair/properties"
)

// Both parsers below turn a configuration file into one flat map of
// dotted property names to string values ("axoniq.axonserver.name" stays a
// single key). LoadConfig uses koanf with an empty delimiter, so koanf never
// splits these keys, and properties and YAML files end up with identical
// keys.

// propertiesParser is a koanf.Parser for Java properties files, backed by
// magiconair/properties: '#' and '!' comments, '=', ':' and white-space
// separators, continued lines and \u escapes.
type propertiesParser struct{}

// Unmarshal parses a properties file. Values are taken literally: ${...}
// is not expanded, because Axon Server files are not expected to rely on
// it and a stray "${" must not turn into a load error.
func (propertiesParser) Unmarshal(b []byte) (map[string]any, error) {
	// UTF-8 rather than Java's historic ISO-8859-1: files are written with
	// today's editors, and \u escapes work either way.
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := l.LoadBytes(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, p.Len())
	for _, k := range p.Keys() {
		v, _ := p.Get(k)
		out[k] = v
	}
	return out, nil
}

// Marshal writes a flat map as a properties file, keys sorted.
func (propertiesParser) Marshal(m map[string]any) ([]byte, error) {
	p := properties.NewProperties()
	p.DisableExpansion = true
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, _, err := p.Set(k, fmt.Sprint(m[k])); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := p.Write(&buf, properties.UTF8); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// yamlParser is a koanf.Parser for Spring-style YAML files
// (axonserver.yml): nested maps are flattened into dotted keys, lists get
// Spring's [i] suffixes, and scalars become strings, so that
// "axoniq: {axonserver: {port: 8125}}" yields "axoniq.axonserver.port" =
// "8125", exactly as the properties file would.
type yamlParser struct{}

// Unmarshal parses and flattens a YAML document.
func (yamlParser) Unmarshal(b []byte) (map[string]any, error) {
	nested, err := koanfyaml.Parser().Unmarshal(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any)
	flattenYAML("", nested, out)
	return out, nil
}

// Marshal writes a flat map as nested YAML.
func (yamlParser) Marshal(m map[string]any) ([]byte, error) {
	nested := make(map[string]any)
	for k, v := range m {
		parts := strings.Split(k, ".")
		cur := nested
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = make(map[string]any)
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
	return koanfyaml.Parser().Marshal(nested)
}

// flattenYAML adds v under key prefix to out, descending into maps and
// lists. A YAML null ("domain:" with no value) becomes "", as in Spring.
func flattenYAML(prefix string, v any, out map[string]any) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			flattenYAML(join(k), sub, out)
		}
	case map[any]any:
		for k, sub := range t {
			flattenYAML(join(fmt.Sprint(k)), sub, out)
		}
	case []any:
		for i, sub := range t {
			flattenYAML(prefix+"["+strconv.Itoa(i)+"]", sub, out)
		}
	case nil:
		if prefix != "" {
			out[prefix] = ""
		}
	case string:
		out[prefix] = t
	default:
		out[prefix] = fmt.Sprint(t)
	}
}
