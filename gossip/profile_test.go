package gossip

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDilateScalesEveryTiming: a profile field added later is dilated too,
// or this fails.
func TestDilateScalesEveryTiming(t *testing.T) {
	p := lanProfile()
	d := p.Dilate(3)
	pv, dv := reflect.ValueOf(p), reflect.ValueOf(d)
	durations := 0
	for i := range pv.NumField() {
		f := pv.Type().Field(i)
		if f.Type != reflect.TypeFor[time.Duration]() {
			require.Equal(t, pv.Field(i).Interface(), dv.Field(i).Interface(), f.Name)
			continue
		}
		durations++
		require.Equal(t, 3*pv.Field(i).Interface().(time.Duration), dv.Field(i).Interface().(time.Duration), f.Name)
	}
	require.Equal(t, 12, durations)
	require.Equal(t, p, p.Dilate(1))
}
