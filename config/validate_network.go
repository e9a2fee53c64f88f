package config

// validateAccounting checks the accounting spool, its destinations and exporters.
func (c *Config) validateAccounting(e *collector) {}

// validatePPP checks the PPP settings and the address pools.
func (c *Config) validatePPP(e *collector) {}
