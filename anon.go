package limp

// CodeAnonUpdate is the code of a call that would edit the ANON user
// (user/update, user/add_group or user/delete_group on AnonUserID): 400.
// ANON is defined by the app's configuration (Config.AnonPrivileges and
// the anon token, synced into its document at every start, spec §5.1);
// LIMP let such an update through, stored it, and then ignored it, since
// every anonymous connection's session is built from the configuration.
// Refusing it tells the caller instead of reporting a success that
// changes nothing.
const CodeAnonUpdate = "CORE_USER_ANON_UPDATE"

// refuseAnonEdit refuses a user method whose query selects ANON by _id.
func refuseAnonEdit(c *Call) error {
	for _, v := range c.Query.Values("_id") {
		if id, ok := toID(v); ok && id == AnonUserID {
			return NewError(400, CodeAnonUpdate, "The '__ANON' user cannot be changed by a call: its privileges come from Config.AnonPrivileges.")
		}
	}
	return nil
}
