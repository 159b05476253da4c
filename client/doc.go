// Package client is a Go client for LIMP v6.0 websocket servers (the Python
// LIMP daemon and limp-go alike).
//
// It speaks the wire protocol of the LIMP specification §2–§4 and §9.1: it
// dials the server's /ws endpoint, waits for the CORE_CONN_READY greeting,
// optionally verifies the client app (conn/verify), and then sends every call
// as a frame {"token": <JWT>, "call_id": <id>} whose HS256 JWT is signed with
// the connection's current session token (the anon token until
// [Client.Auth] or [Client.Reauth] succeeds).
//
// # Concurrency
//
// A [Client] multiplexes any number of concurrent calls over one connection.
// One reader goroutine, owned by the Client, matches responses to pending
// calls by args.call_id; [Client.Close] stops it and waits for it. All methods
// are safe for concurrent use.
//
// # Sessions
//
// Whenever a response carries args.session, the server switches the
// connection's session (spec §2.5), and so does the Client: later calls are
// signed with the new session token, or with the anon token again after
// a signout. Calls already signed with the previous key when the switch
// happens are rejected by the server with CORE_REQ_INVALID_TOKEN; callers
// should not race other calls against Auth, Reauth or Signout.
//
// # Accounts and files
//
// [Client.SignUp] creates a user (user/create with the auth hash),
// [Client.Auth] signs in, [Client.ChangePassword] changes the password
// with current_hash, [Client.Reauth] resumes a cached session on a new
// connection. [Client.Upload] sends a file in chunks; [Client.FileURL] and
// [Client.Download] fetch one over HTTP with the session's X-Auth-Bearer
// and X-Auth-Token headers. See ExampleClient_SignUp and
// ExampleClient_Download.
//
// # Example
//
//	c, err := client.Dial(ctx, "ws://localhost:8081/ws", &client.Options{AppID: "my_app"})
//	if err != nil { ... }
//	defer c.Close()
//	if _, err := c.Auth(ctx, "email", "admin@example.com", "__ADMIN"); err != nil { ... }
//	res, err := client.Read[Blog](ctx, c, "blog", []any{map[string]any{"$limit": 10}})
package client
