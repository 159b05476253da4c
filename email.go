package limp

import (
	"bytes"
	"context"
	"encoding/base64"
	"regexp"
	"strings"

	"github.com/limp-go/limp/internal/query"
)

// Case-insensitive EMAIL auth attrs (issue 10 item 7): "admin@x" and
// "ADMIN@x" are one account.
//
//   - New values are stored lower-cased (create and update), and the
//     client's auth hash, which embeds the value as typed, is rebased onto
//     the stored value before it is digested (foldHash).
//   - Uniqueness is checked case-insensitively before a create or an
//     update stores a value, so existing mixed-case values count too; the
//     store's unique index then covers the lower-cased ones against races.
//   - Sign-in finds the account by the value as typed, then lower-cased
//     (both through the index), then, for data stored before this rule,
//     case-insensitively (a scan, only when neither matched); it rebases
//     the hash onto the stored value before verifying it.
//
// Existing users keep signing in: nothing stored is rewritten.

// foldedAuthAttr reports whether auth attr name compares case-insensitively.
func (a *App) foldedAuthAttr(name string) bool {
	at := a.modules["user"].byName[name]
	return at != nil && at.Type == TypeEmail
}

// foldHash returns the client auth hash (spec §4.2) of authVar rebased
// onto the stored value want, when the value it embeds differs from want
// only in case; otherwise hash unchanged. Only plain ASCII values
// (printable, no quote or backslash) are rebased: their JSON encoding is
// the same in every LIMP client.
func foldHash(hash, authVar, want string) string {
	if len(hash) > maxHashLen || !plainASCII(authVar) || !plainASCII(want) {
		return hash
	}
	b, err := base64.RawURLEncoding.DecodeString(hash)
	if err != nil {
		return hash
	}
	prefix := `{"hash":["` + authVar + `","`
	rest, ok := bytes.CutPrefix(b, []byte(prefix))
	if !ok || len(rest) < len(want)+1 || rest[len(want)] != '"' {
		return hash
	}
	got := string(rest[:len(want)])
	if got == want || !strings.EqualFold(got, want) || !plainASCII(got) {
		return hash
	}
	out := make([]byte, 0, len(b))
	out = append(out, prefix...)
	out = append(out, want...)
	out = append(out, rest[len(want):]...)
	return base64.RawURLEncoding.EncodeToString(out)
}

func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// foldAuthValues lower-cases the EMAIL auth attrs of a user doc being
// stored and rebases their hashes; it refuses a value another user holds
// in any case. self are the _ids the write targets (none on create).
func (a *App) foldAuthValues(ctx context.Context, c *Call, self []any) error {
	users := a.modules["user"]
	var stored map[string]any // the updated user, read once if needed
	for _, name := range a.cfg.AuthAttrs {
		if !a.foldedAuthAttr(name) {
			continue
		}
		v, ok := c.Doc[name].(string)
		if h, setHash := c.Doc[name+"_hash"].(string); !ok && setHash && len(self) == 1 {
			// A new hash for the stored value: rebase it onto that value.
			if stored == nil {
				res, err := a.store.Read(ctx, users.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: self[0]}, Limit: 1})
				if err != nil {
					return err
				}
				if len(res.Docs) == 0 {
					continue
				}
				stored = res.Docs[0]
			}
			if sv, ok := stored[name].(string); ok {
				c.Doc[name+"_hash"] = foldHash(h, name, sv)
			}
		}
		if !ok {
			continue
		}
		low := strings.ToLower(v)
		c.Doc[name] = low
		if h, ok := c.Doc[name+"_hash"].(string); ok {
			c.Doc[name+"_hash"] = foldHash(h, name, low)
		}
		var f query.Node = foldedCond(name, low)
		if len(self) > 0 {
			f = query.AndFilter(f, &query.Cond{Path: "_id", Op: query.Nin, Value: self})
		}
		res, err := a.store.Read(ctx, users.coll, &query.Query{Filter: f, Limit: 1, Attrs: []string{"_id"}})
		if err != nil {
			return err
		}
		if res.Total > 0 {
			return users.Errorf(400, CodeDuplicateDoc, "A doc with the same '%s' already exists.", name)
		}
	}
	return nil
}

// foldedCond matches attr name equal to v in any case.
func foldedCond(name, v string) *query.Cond {
	return &query.Cond{Path: name, Op: query.Regex, Value: "^" + regexp.QuoteMeta(v) + "$"}
}

// findAuthUser reads the user whose auth attr key is val: exactly, and
// for EMAIL attrs lower-cased, then in any case (one match only).
func (a *App) findAuthUser(ctx context.Context, key string, val any) (map[string]any, error) {
	users := a.modules["user"]
	read := func(f query.Node, limit int64) ([]map[string]any, error) {
		res, err := a.store.Read(ctx, users.coll, &query.Query{Filter: f, Limit: limit})
		if err != nil {
			return nil, err
		}
		return res.Docs, nil
	}
	docs, err := read(&query.Cond{Path: key, Op: query.Eq, Value: val}, 1)
	s, isStr := val.(string)
	if err != nil || len(docs) > 0 || !isStr || !a.foldedAuthAttr(key) {
		return first1(docs), err
	}
	if low := strings.ToLower(s); low != s {
		if docs, err = read(&query.Cond{Path: key, Op: query.Eq, Value: low}, 1); err != nil || len(docs) > 0 {
			return first1(docs), err
		}
	}
	docs, err = read(foldedCond(key, s), 2)
	if err != nil || len(docs) != 1 {
		return nil, err // none, or legacy values that differ only in case: ambiguous
	}
	return docs[0], nil
}

func first1(docs []map[string]any) map[string]any {
	if len(docs) == 0 {
		return nil
	}
	return docs[0]
}
