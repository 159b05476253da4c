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
// @weekly, @daily, @hourly, @every <duration>). Schedules are in UTC;
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
	return utc{s}, nil
}

type utc struct{ s rcron.Schedule }

func (u utc) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }
