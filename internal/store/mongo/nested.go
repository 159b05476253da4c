package mongo

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/store"
)

// errNestedArrays is the error of a write storing a list directly inside
// a list on a server without store.FeatureNestedArrays.
func errNestedArrays() error {
	return &store.UnsupportedError{Feature: store.FeatureNestedArrays, Use: "a value holding a list inside a list"}
}

// hasNestedArray reports whether the BSON value v holds an array directly
// inside an array, at any depth; inArray is true when v is an element of
// an array.
func hasNestedArray(v any, inArray bool) bool {
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if hasNestedArray(e.Value, false) {
				return true
			}
		}
	case bson.A:
		if inArray {
			return true
		}
		for _, e := range x {
			if hasNestedArray(e, true) {
				return true
			}
		}
	}
	return false
}

// updateNestsArrays reports whether u would store a list directly inside a
// list: a $set value holding one, or a list appended to a list. (A $set
// of a list at an array index, "tags.0", is refused by the server.)
func updateNestsArrays(u *store.Update) bool {
	for _, v := range u.Set {
		if b, err := toBSON(v); err == nil && hasNestedArray(b, false) {
			return true
		}
	}
	for _, a := range u.Append {
		if b, err := toBSON(a.Values); err == nil && hasNestedArray(b, false) {
			return true
		}
	}
	return false
}
