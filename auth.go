package limp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"time"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
)

// tokenDigest is what the sessions collection keeps of a session token:
// its SHA-256, base64url. The token itself is 32 random bytes, so a
// fast hash is enough; a stolen database yields no usable token.
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// parseDatetime parses a stored DATETIME.
func parseDatetime(s string) (time.Time, error) {
	return time.Parse("2006-01-02T15:04:05.999999", s)
}

// sessionByToken returns the live session of user userHex whose token is
// token, or nil if there is none (unknown, expired, or the user may not
// sign in).
func (a *App) sessionByToken(ctx context.Context, userHex, token string) (*Session, error) {
	uid, err := ParseID(userHex)
	if err != nil || uid == AnonUserID || token == "" {
		return nil, nil
	}
	sessions := a.modules["session"]
	res, err := a.store.Read(ctx, sessions.coll, &query.Query{Filter: query.And{
		&query.Cond{Path: "user", Op: query.Eq, Value: uid},
		&query.Cond{Path: "token_hash", Op: query.Eq, Value: tokenDigest(token)},
	}, Limit: 1})
	if err != nil || len(res.Docs) == 0 {
		return nil, err
	}
	return a.loadSession(ctx, res.Docs[0], token)
}

// loadSession builds the Session of a stored session document: its user
// (who must be active), their groups and effective privileges. It returns
// nil if the session expired or the user may not sign in.
func (a *App) loadSession(ctx context.Context, doc map[string]any, token string) (*Session, error) {
	exp, _ := doc["expiry"].(string)
	expiry, err := parseDatetime(exp)
	if err != nil || !time.Now().Before(expiry) {
		return nil, nil
	}
	uid, _ := doc["user"].(oid.ID)
	users := a.modules["user"]
	res, err := a.store.Read(ctx, users.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.Eq, Value: uid}, Limit: 1})
	if err != nil || len(res.Docs) == 0 {
		return nil, err
	}
	user := res.Docs[0]
	if st, _ := user["status"].(string); st != "active" {
		return nil, nil
	}
	s, err := a.sessionFor(ctx, user)
	if err != nil {
		return nil, err
	}
	s.ID, _ = doc["_id"].(oid.ID)
	s.Expiry = expiry
	s.token = token
	s.Doc = M{"_id": s.ID, "user": s.User, "groups": doc["groups"], "host_add": doc["host_add"],
		"user_agent": doc["user_agent"], "expiry": exp, "create_time": doc["create_time"]}
	return s, nil
}

// sessionFor builds a Session for a user document: the user's own
// privileges merged with those of their groups (and the DEFAULT group).
func (a *App) sessionFor(ctx context.Context, user map[string]any) (*Session, error) {
	s := &Session{Privileges: Privileges{}}
	s.UserID, _ = user["_id"].(oid.ID)
	mergePrivileges(s.Privileges, user["privileges"])
	var gids []any
	if gs, ok := user["groups"].([]any); ok {
		for _, g := range gs {
			if id, ok := g.(oid.ID); ok {
				s.Groups = append(s.Groups, id)
				gids = append(gids, id)
			}
		}
	}
	if !slices.Contains(s.Groups, DefaultGroup) {
		gids = append(gids, DefaultGroup)
	}
	groups := a.modules["group"]
	res, err := a.store.Read(ctx, groups.coll, &query.Query{Filter: &query.Cond{Path: "_id", Op: query.In, Value: gids}})
	if err != nil {
		return nil, err
	}
	for _, g := range res.Docs {
		mergePrivileges(s.Privileges, g["privileges"])
	}
	clean := M{}
	for k, v := range user {
		if !a.secretUserAttr(k) {
			clean[k] = v
		}
	}
	clean["privileges"] = privilegesValue(s.Privileges)
	s.User = clean
	return s, nil
}

// secretUserAttr reports whether a user attr never leaves the server
// (credential digests).
func (a *App) secretUserAttr(name string) bool {
	return len(name) > 5 && name[:5] == "hash_" || name == "token_hash"
}

// mergePrivileges adds a stored privileges map into p.
func mergePrivileges(p Privileges, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for mod, l := range m {
		list, _ := l.([]any)
		for _, x := range list {
			if s, ok := x.(string); ok && !slices.Contains(p[mod], s) {
				p[mod] = append(p[mod], s)
			}
		}
	}
}
