package status

import (
	"reflect"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// runSize estimates the bytes a kept run holds: the struct and everything
// it points to (strings, slices, maps, pointers), by walking its value, so
// a field added to verdict.Run is counted without a change here. Shared
// data (a time.Time's location, constant strings) is counted too: an
// over-estimate, which errs on the side of the budget.
func runSize(r *verdict.Run) int64 {
	v := reflect.ValueOf(r).Elem()
	return int64(v.Type().Size()) + indirect(v)
}

var timeType = reflect.TypeFor[time.Time]()

// indirect is the size of the data v points to, not v itself.
func indirect(v reflect.Value) int64 {
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len())
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		e := v.Elem()
		return int64(e.Type().Size()) + indirect(e)
	case reflect.Slice:
		if v.IsNil() {
			return 0
		}
		n := int64(v.Cap()) * int64(v.Type().Elem().Size())
		for i := range v.Len() {
			n += indirect(v.Index(i))
		}
		return n
	case reflect.Map:
		// A map slot costs about twice its key and value (buckets, load
		// factor, control bytes).
		n := int64(48)
		it := v.MapRange()
		for it.Next() {
			n += 2*int64(it.Key().Type().Size()+it.Value().Type().Size()) + indirect(it.Key()) + indirect(it.Value())
		}
		return n
	case reflect.Struct:
		if v.Type() == timeType {
			return 0 // its *Location is shared
		}
		var n int64
		for i := range v.NumField() {
			n += indirect(v.Field(i))
		}
		return n
	case reflect.Array:
		var n int64
		for i := range v.Len() {
			n += indirect(v.Index(i))
		}
		return n
	case reflect.Interface:
		if v.IsNil() {
			return 0
		}
		e := v.Elem()
		return int64(e.Type().Size()) + indirect(e)
	}
	return 0
}
