package limp

import (
	"errors"
	"fmt"
	"strings"
)

// Error is the one error type that crosses the wire. A handler or hook that
// returns an *Error sends exactly that status, code and message to the
// client; any other error becomes a 500 CORE_SERVER_ERROR with an error id,
// logged once with its cause, and the cause never reaches the client.
type Error struct {
	// Status is the HTTP-like status (400, 401, 403, 404, 413, 429, 500;
	// 1008 for in-band policy messages).
	Status int
	// Code is the LIMP code, e.g. "CORE_SESSION_FORBIDDEN" or
	// "BLOG_BLOG_INVALID_ATTR".
	Code string
	// Msg is the human text.
	Msg string
	// Args are extra reply args (besides code and call_id).
	Args M

	cause error
}

// Error implements error.
func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s (%d %s): %v", e.Msg, e.Status, e.Code, e.cause)
	}
	return fmt.Sprintf("%s (%d %s)", e.Msg, e.Status, e.Code)
}

// Unwrap returns the error's cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// NewError returns an *Error with a full code (e.g. "CORE_REQ_NO_ENDPOINT").
func NewError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg}
}

// Errorf returns an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the LIMP code of err: its *Error's code, or
// CORE_SERVER_ERROR for any other non-nil error, or "" for nil.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeServerError
}

// Daemon-level codes (spec §3.5). Module-level codes are prefixed with the
// module's package and name, e.g. "BLOG_BLOG_" + CodeMissingAttr.
const (
	CodeConnReady           = "CORE_CONN_READY"
	CodeConnOK              = "CORE_CONN_OK"
	CodeConnClosed          = "CORE_CONN_CLOSED"
	CodeHeartbeatOK         = "CORE_HEARTBEAT_OK"
	CodeInvalidToken        = "CORE_REQ_INVALID_TOKEN"
	CodeNoVerify            = "CORE_REQ_NO_VERIFY"
	CodeIPQuotaHit          = "CORE_REQ_IP_QUOTA_HIT"
	CodeSessionQuotaHit     = "CORE_REQ_SESSION_QUOTA_HIT"
	CodeNoEndpoint          = "CORE_REQ_NO_ENDPOINT"
	CodeInvalidPath         = "CORE_REQ_INVALID_PATH"
	CodeInvalidModule       = "CORE_REQ_INVALID_MODULE"
	CodeInvalidMethod       = "CORE_REQ_INVALID_METHOD"
	CodeGetMethod           = "CORE_REQ_GET_METHOD"
	CodeAlreadyAuthed       = "CORE_SESSION_ALREADY_AUTHED"
	CodeAnonSignout         = "CORE_SESSION_ANON_SIGNOUT"
	CodeForbidden           = "CORE_SESSION_FORBIDDEN"
	CodeInvalidWatch        = "CORE_WATCH_INVALID_WATCH"
	CodeServerError         = "CORE_SERVER_ERROR"
	CodeRequestTooLarge     = "CORE_REQ_TOO_LARGE"
	CodeSessionExpired      = "CORE_SESSION_SESSION_EXPIRED"
	CodeInvalidSession      = "CORE_SESSION_INVALID_SESSION"
	CodeInvalidCreds        = "CORE_SESSION_INVALID_CREDS"
	CodeInvalidUser         = "CORE_SESSION_INVALID_USER"
	CodeInvalidReauthHash   = "CORE_SESSION_INVALID_REAUTH_HASH"
	CodeAnonReauth          = "CORE_SESSION_ANON_REAUTH"
	CodeInvalidXAuth        = "CORE_SESSION_INVALID_XAUTH"
	CodeSessionAuthThrottle = "CORE_SESSION_AUTH_THROTTLED"
	// CodeStoreUnsupported (status 501, args.feature naming it) answers a
	// call needing an optional database server feature the deployment
	// lacks, e.g. `$search` on a server without text indexes (see README,
	// "MongoDB-compatible servers"). Not a LIMP code: LIMP assumes MongoDB.
	CodeStoreUnsupported = "CORE_STORE_UNSUPPORTED"
)

// Module-level code suffixes; see Module.Error.
const (
	CodeMissingAttr        = "MISSING_ATTR"
	CodeInvalidAttr        = "INVALID_ATTR"
	CodeConvertInvalidAttr = "CONVERT_INVALID_ATTR"
	CodeInvalidQuery       = "INVALID_QUERY"
	CodeInvalidDoc         = "INVALID_DOC"
	CodeDuplicateDoc       = "DUPLICATE_DOC"
	CodeMultiDuplicate     = "MULTI_DUPLICATE"
	CodeNotFound           = "NOT_FOUND"
)

// Exact messages of the daemon-level errors (spec §3.5). Their typos are
// LIMP's; clients may match on them.
const (
	msgInvalidToken   = "Request token is not accepted."
	msgNoEndpoint     = "Request missing endpoint."
	msgInvalidPath    = "Endpoint path is invalid."
	msgInvalidModule  = "Endpoint module is invalid."
	msgInvalidMethod  = "Endpoint method is invalid."
	msgGetMethod      = "Endpoint method is a GET method."
	msgAlreadyAuthed  = "You are already authed."
	msgAnonSignout    = "Singout is not allowed for '__ANON' user."
	msgForbidden      = "You don't have permissions to access this endpoint."
	msgServerError    = "Unexpected error has occured."
	msgIPQuota        = "You have hit calls quota from this IP."
	msgSessionQuota   = "You have hit calls quota."
	msgInvalidWatch   = "Watch is invalid."
	msgSessionExpired = "Session had expired."
)

var (
	errInvalidToken  = NewError(403, CodeInvalidToken, msgInvalidToken)
	errNoEndpoint    = NewError(400, CodeNoEndpoint, msgNoEndpoint)
	errInvalidPath   = NewError(400, CodeInvalidPath, msgInvalidPath)
	errInvalidModule = NewError(400, CodeInvalidModule, msgInvalidModule)
	errInvalidMethod = NewError(400, CodeInvalidMethod, msgInvalidMethod)
	errGetMethod     = NewError(400, CodeGetMethod, msgGetMethod)
	errAlreadyAuthed = NewError(400, CodeAlreadyAuthed, msgAlreadyAuthed)
	errAnonSignout   = NewError(400, CodeAnonSignout, msgAnonSignout)
	errForbidden     = NewError(403, CodeForbidden, msgForbidden)
	errIPQuota       = NewError(429, CodeIPQuotaHit, msgIPQuota)
	errSessionQuota  = NewError(429, CodeSessionQuotaHit, msgSessionQuota)
	errInvalidWatch  = NewError(400, CodeInvalidWatch, msgInvalidWatch)
	errNoVerify      = NewError(1008, CodeNoVerify, msgInvalidToken)
	errAuthThrottled = NewError(429, CodeSessionAuthThrottle, "Too many failed sign-ins; try again later.")
)

// codePrefix returns "PKG_MODULE_" for a module.
func codePrefix(pkg, module string) string {
	return strings.ToUpper(pkg) + "_" + strings.ToUpper(module) + "_"
}
