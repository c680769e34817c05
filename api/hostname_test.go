package api

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckHost(t *testing.T) {
	good := map[string]string{
		"n1":                    "n1",
		"n1.example.com":        "n1.example.com",
		"n1.example.com.":       "n1.example.com.",
		"axon_server_1":         "axon_server_1", // Docker Compose service names
		"N1-a.Example":          "N1-a.Example",
		"10.0.0.1":              "10.0.0.1",
		"::1":                   "::1",
		"[2001:db8::1]":         "2001:db8::1",
		"fe80::1%eth0":          "fe80::1%eth0",
		"1a.2":                  "1a.2",
		strings.Repeat("a", 63): strings.Repeat("a", 63),
	}
	for in, want := range good {
		got, err := checkHost(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got)
		}
	}
	long := strings.Repeat(strings.Repeat("a", 60)+".", 5) // 305 characters
	for _, in := range []string{"", " n1", "n1 ", "n1..com", ".n1", "-n1", "n1-", "n1!", "é.com",
		"n1:8224", "[10.0.0.1]", "[::1", "1.2.3", "999.1.1.1", strings.Repeat("a", 64), long} {
		_, err := checkHost(in)
		assert.Error(t, err, "%q", in)
	}
}
