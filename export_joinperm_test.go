package limp

// SetJoinGuard turns the permission guard on joins on or off, for the
// benchmark of its cost.
func SetJoinGuard(on bool) { joinGuardOff.Store(!on) }
