package limp

import (
	_ "github.com/coder/websocket"
	_ "github.com/go-playground/validator/v10"
	_ "github.com/lestrrat-go/jwx/v3/jws"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
	_ "golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite"
)
