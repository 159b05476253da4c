package limp

// setResilienceDefaults fills the defaults of the bounds on slow and
// hostile clients (outbound queue, deadlines, decode limits).
func (c *Config) setResilienceDefaults() {
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MinDataRate <= 0 {
		c.MinDataRate = DefaultMinDataRate
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxFrameValues <= 0 {
		c.MaxFrameValues = DefaultMaxFrameValues
	}
	if c.MaxFrameDepth <= 0 {
		c.MaxFrameDepth = DefaultMaxFrameDepth
	}
}

// CodeRequestTimeout is the code of an HTTP request whose body came slower
// than Config.MinDataRate allows (status 408). limp-go's own; LIMP had no
// body deadline.
const CodeRequestTimeout = "CORE_REQ_TIMEOUT"
