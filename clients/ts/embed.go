// Package tsclient embeds the build of the TypeScript client
// (clients/ts/dist/index.js, built from clients/ts/src by `npm run
// build`; .ci/ts checks that it is current), so that Go code serves the
// one file there is: the browser console serves it as /console/limp.js.
package tsclient

import _ "embed"

// IndexJS is clients/ts/dist/index.js: the client as one ES module, no
// dependencies.
//
//go:embed dist/index.js
var IndexJS []byte
