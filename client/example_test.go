package client_test

import (
	"fmt"

	"github.com/limp-go/limp/client"
)

// Hash computes the auth hash a LIMP server stores for a user: here LIMP's
// historic default ADMIN credentials with the default anon token.
func ExampleHash() {
	h, err := client.Hash(client.HashLevel56, "email", "ADMIN@LIMP.MASAAR.COM", "__ADMIN", client.DefaultAnonToken)
	if err != nil {
		panic(err)
	}
	fmt.Println(h)
	// Output: eyJoYXNoIjpbImVtYWlsIiwiQURNSU5ATElNUC5NQVNBQVIuQ09NIiwiX19BRE1JTiIsIl9fQU5PTl9UT0tFTl9mMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTIiXX0
}

// ReauthHash is what session/reauth compares with the cached session token.
func ExampleReauthHash() {
	fmt.Println(client.ReauthHash("abc-_XYZ"))
	// Output: eyJ0b2tlbiI6ImFiYy1fWFlaIn0
}
