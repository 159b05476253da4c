package limp

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Interceptor wraps the handling of client calls, as connect-go's
// interceptors do: it receives the next handler and returns one that runs
// around it, with the call's context and *Call (endpoint, session,
// call_id, query, doc). It may act before next (refuse the call by
// returning an error or a Result without calling next, change the
// context), after it (inspect or replace the Result or error), or both:
//
//	app.Use(func(next limp.Handler) limp.Handler {
//		return func(ctx context.Context, c *limp.Call) (*limp.Result, error) {
//			start := time.Now()
//			res, err := next(ctx, c)
//			metrics.Observe(c.Endpoint, time.Since(start))
//			return res, err
//		}
//	})
//
// Interceptors wrap every client call that reaches a method: websocket and
// HTTP, base and custom methods, after the endpoint is dispatched and
// before permissions, args and hooks run. Frames refused before dispatch
// (bad token, unknown endpoint, quotas), protocol endpoints (conn/verify,
// heart/beat, file/upload) and internal calls (App.Invoke, Call.Invoke,
// reference expansion) do not pass through them. An error returned is
// sent as any method error is (an *Error as is, anything else as a 500).
type Interceptor func(next Handler) Handler

// Use adds interceptors around every client call of every module. The
// first added is the outermost: it sees the call first and the result
// last. App interceptors run outside a module's own (Module.Use). Must be
// called before Start.
func (a *App) Use(ics ...Interceptor) {
	a.interceptors = append(a.interceptors, ics...)
}

// Use adds interceptors around every client call of this module's
// methods, inside the app's (App.Use), in the order given. Must be called
// before Start.
func (m *Module) Use(ics ...Interceptor) {
	m.interceptors = append(m.interceptors, ics...)
}

// buildChains composes, once at start, each module's handler chain: the
// call log (when Config.Debug), the app's interceptors, the module's, and
// the pipeline (App.run).
func (a *App) buildChains() {
	var app []Interceptor
	if a.cfg.Debug {
		app = append(app, CallLog(a.Logger()))
	}
	app = append(app, a.interceptors...)
	for _, m := range a.order {
		h := Handler(a.run)
		for i := len(m.interceptors) - 1; i >= 0; i-- {
			h = m.interceptors[i](h)
		}
		for i := len(app) - 1; i >= 0; i-- {
			h = app[i](h)
		}
		m.chain = h
	}
}

// runClient runs a client call (websocket or HTTP) through its module's
// interceptors and the pipeline, and localises an error's message for the
// caller (l10n.go).
func (a *App) runClient(ctx context.Context, c *Call) (*Result, error) {
	h := c.Module.chain
	if h == nil {
		h = a.run
	}
	res, err := h(ctx, c)
	if err != nil {
		return nil, a.localiseError(c, err)
	}
	if res == nil {
		return nil, errors.New(c.Endpoint + ": an interceptor returned no result and no error")
	}
	return res, nil
}

// CallLog returns the interceptor of the built-in call log: one structured
// line per call, at info level, with the endpoint, the reply's status and
// code, the duration, the caller's user _id and the call_id:
//
//	msg=call endpoint=blog/read status=200 code=BLOG_BLOG_OK duration=1.2ms user=f00000000000000000000011 call_id=abc
//
// --debug (Config.Debug) puts it outermost in every chain; apps may Use it
// with their own logger instead. A reply without args.code logs code "".
func CallLog(log *slog.Logger) Interceptor {
	return func(next Handler) Handler {
		return func(ctx context.Context, c *Call) (*Result, error) {
			start := time.Now()
			res, err := next(ctx, c)
			status, code := replyStatus(res, err)
			var user string
			if c.Session != nil {
				user = c.Session.UserID.Hex()
			}
			log.LogAttrs(ctx, slog.LevelInfo, "call",
				slog.String("endpoint", c.Endpoint),
				slog.Int("status", status),
				slog.String("code", code),
				slog.Duration("duration", time.Since(start)),
				slog.String("user", user),
				slog.Any("call_id", c.CallID))
			return res, err
		}
	}
}

// replyStatus returns the status and args.code a result or error is sent
// with (as wireError maps them, without logging).
func replyStatus(res *Result, err error) (int, string) {
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e):
			return e.Status, e.Code
		case errors.Is(err, context.DeadlineExceeded):
			return 503, "CORE_REQ_TIMEOUT"
		}
		return 500, CodeServerError
	}
	if res == nil {
		return 500, CodeServerError
	}
	code, _ := res.Args["code"].(string)
	return res.Status, code
}
