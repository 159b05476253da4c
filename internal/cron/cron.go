// Package cron parses the schedules of limp-go's jobs (spec §6.18) with
// github.com/robfig/cron/v3's parser, keeping its types out of the root
// package, and evaluates them in UTC.
package cron

import (
	"errors"
	"time"

	rcron "github.com/robfig/cron/v3"
)

// Schedule gives a job's due times.
type Schedule interface {
	// Next returns the first due time strictly after t (UTC), or the zero
	// time when there is none.
	Next(t time.Time) time.Time
}

var parser = rcron.NewParser(rcron.Minute | rcron.Hour | rcron.Dom | rcron.Month | rcron.Dow | rcron.Descriptor)

// Parse parses a standard five-field cron expression (minute hour
// day-of-month month day-of-week) or a descriptor (@yearly, @monthly,
// @weekly, @daily, @hourly, @every <whole minutes>, due at each multiple
// of the interval so that every node agrees on the due times).
// Schedules are in UTC;
// a TZ= or CRON_TZ= prefix is refused.
func Parse(expr string) (Schedule, error) {
	if expr == "" {
		return nil, errors.New("empty schedule")
	}
	if len(expr) > 256 {
		return nil, errors.New("schedule longer than 256 bytes")
	}
	for _, p := range []string{"TZ=", "CRON_TZ="} {
		if len(expr) >= len(p) && expr[:len(p)] == p {
			return nil, errors.New("time zones are not supported: schedules are UTC")
		}
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, err
	}
	if d, ok := s.(rcron.ConstantDelaySchedule); ok {
		// The scheduler looks once a minute, and every node must agree on
		// the due times: @every is aligned to multiples of its interval
		// (since Go's zero time), in whole minutes.
		if d.Delay < time.Minute || d.Delay%time.Minute != 0 {
			return nil, errors.New("@every takes a whole number of minutes")
		}
		return every(d.Delay), nil
	}
	return utc{s}, nil
}

type utc struct{ s rcron.Schedule }

func (u utc) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }

// every is @every d, aligned: due at each multiple of d.
type every time.Duration

func (e every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.UTC().Truncate(d).Add(d)
}
