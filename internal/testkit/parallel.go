package testkit

import (
	"flag"
	"strconv"
)

// RaiseParallel lets at least n tests that call t.Parallel run at once,
// unless the command line says how many (-parallel). go test's default is
// GOMAXPROCS, made for tests that compute; the tests of a cluster wait on
// timers and the network most of the time. Call it from TestMain, before
// m.Run.
func RaiseParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	f := flag.Lookup("test.parallel")
	if given || f == nil {
		return
	}
	if now, err := strconv.Atoi(f.Value.String()); err == nil && now < n {
		_ = f.Value.Set(strconv.Itoa(n))
	}
}
