package limp_test

import (
	"context"
	"testing"
	"time"

	"github.com/limp-go/limp"
	"github.com/limp-go/limp/limptest"
)

type vStrictUser struct {
	Email string    `json:"email" limp:"type=EMAIL"`
	Tags  []string  `json:"tags" limp:"min=1"`
	Age   int64     `json:"age" validate:"required,gte=18"`
	Born  time.Time `json:"born"`
	Kind  string    `json:"kind" validate:"oneof=a b"`
	Site  string    `json:"site" validate:"url"`
}

func TestVerify18StrictUser(t *testing.T) {
	cfg := limp.Config{Name: "strict2", Locale: "en_AE", User: vStrictUser{},
		AdminDoc:   limp.M{"email": "admin@example.com", "tags": []any{"x"}, "age": int64(30), "born": "2000-01-01T00:00:00", "kind": "a", "site": "https://x.example"},
		QuotaIPMin: -1, QuotaAnonMin: -1}
	app := limp.New(limptest.Config(t, cfg))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = app.Shutdown(context.Background())
}
