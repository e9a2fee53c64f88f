package config

// validateRADIUS checks the RADIUS server group and the dynamic-authorization listener.
func (c *Config) validateRADIUS(e *collector) {}

// validateTACACS checks the TACACS+ server group.
func (c *Config) validateTACACS(e *collector) {}
