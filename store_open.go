package limp

import (
	"context"
	"strings"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo"
	"github.com/limp-go/limp/internal/store/sqlite"
)

// openStore opens the store named by Config.Data: a mongodb:// or
// mongodb+srv:// URI opens the MongoDB store, anything else is a file
// path (or ":memory:") for the embedded SQLite store.
func (a *App) openStore(ctx context.Context) (store.Store, error) {
	data := a.cfg.Data
	if isMongo(data) {
		o := &mongo.Options{Logger: a.log, Locales: a.cfg.Locales}
		if a.cfg.ChangeLogPoll >= 0 {
			// On by default: any node sharing the database may write.
			o.ChangeLog = &mongo.ChangeLogOptions{Poll: a.cfg.ChangeLogPoll}
		}
		return mongo.Open(ctx, data, o)
	}
	return sqlite.Open(ctx, data, &sqlite.Options{Logger: a.log, Durable: a.cfg.Durable, AdaptiveIndexes: a.cfg.AdaptiveIndexes})
}

func isMongo(data string) bool {
	return strings.HasPrefix(data, "mongodb://") || strings.HasPrefix(data, "mongodb+srv://")
}

// explainSQL compiles q for the embedded store without a database file.
func explainSQL(c *schema.Collection, q *query.Query) (*store.Plan, error) {
	return sqlite.Explain(c, q)
}
