package limp
import (
 _ "github.com/coder/websocket"
 _ "go.mongodb.org/mongo-driver/v2/mongo"
 _ "github.com/lestrrat-go/jwx/v3/jws"
 _ "github.com/go-playground/validator/v10"
 _ "modernc.org/sqlite"
 _ "golang.org/x/crypto/argon2"
)
