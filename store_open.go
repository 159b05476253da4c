package limp

import (
	"context"
	"errors"
	"strings"

	"github.com/limp-go/limp/internal/store"
	"github.com/limp-go/limp/internal/store/mongo"
)

// openStore opens the store named by Config.Data: a mongodb:// or
// mongodb+srv:// URI opens the MongoDB store, anything else is a file
// path (or ":memory:") for the embedded SQLite store.
func (a *App) openStore(ctx context.Context) (store.Store, error) {
	data := a.cfg.Data
	if strings.HasPrefix(data, "mongodb://") || strings.HasPrefix(data, "mongodb+srv://") {
		return mongo.Open(ctx, data, &mongo.Options{Logger: a.log, Locales: a.cfg.Locales})
	}
	return nil, errors.ErrUnsupported
}
