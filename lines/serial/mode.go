package serial

import (
	"fmt"
	"strings"
)

// Parity names accepted in Mode.Parity (the config file's `parity` values).
const (
	ParityNone  = "none"
	ParityEven  = "even"
	ParityOdd   = "odd"
	ParityMark  = "mark"
	ParitySpace = "space"
)

// Flow-control names accepted in Mode.FlowControl (the config file's `flowcontrol` values).
const (
	FlowHardware = "hardware" // RTS/CTS
	FlowSoftware = "software" // XON/XOFF
	FlowNone     = "none"
)

// DefaultSpeed is the line speed used when Mode.Speed is zero.
const DefaultSpeed = 115200

// Mode is the framing and flow control of an async line. It is shared by the local serial
// backend and the RFC 2217 backend so one line configuration drives either.
//
// Zero values mean: Speed 115200, DataBits 8, StopBits 1, Parity none, FlowControl none.
// (The config layer applies the IOS default of hardware flow control before it gets here.)
type Mode struct {
	Speed       int    // bits per second
	DataBits    int    // 5-8
	StopBits    int    // 1 or 2
	Parity      string // none | even | odd | mark | space
	FlowControl string // hardware | software | none
}

// Normalize fills in the defaults and checks every field, naming the field that is wrong.
func (m Mode) Normalize() (Mode, error) {
	if m.Speed == 0 {
		m.Speed = DefaultSpeed
	}
	if m.Speed < 0 {
		return m, fmt.Errorf("speed %d: must be a positive number of bits per second", m.Speed)
	}
	if m.DataBits == 0 {
		m.DataBits = 8
	}
	if m.DataBits < 5 || m.DataBits > 8 {
		return m, fmt.Errorf("data-bits %d: must be 5, 6, 7 or 8", m.DataBits)
	}
	if m.StopBits == 0 {
		m.StopBits = 1
	}
	if m.StopBits != 1 && m.StopBits != 2 {
		return m, fmt.Errorf("stop-bits %d: must be 1 or 2", m.StopBits)
	}
	m.Parity = strings.ToLower(strings.TrimSpace(m.Parity))
	switch m.Parity {
	case "":
		m.Parity = ParityNone
	case ParityNone, ParityEven, ParityOdd, ParityMark, ParitySpace:
	default:
		return m, fmt.Errorf("parity %q: must be none, even, odd, mark or space", m.Parity)
	}
	m.FlowControl = strings.ToLower(strings.TrimSpace(m.FlowControl))
	switch m.FlowControl {
	case "":
		m.FlowControl = FlowNone
	case FlowHardware, FlowSoftware, FlowNone:
	default:
		return m, fmt.Errorf("flowcontrol %q: must be hardware, software or none", m.FlowControl)
	}
	return m, nil
}

// String is the usual short form, for logs: "115200 8N1 hardware".
func (m Mode) String() string {
	p := "N"
	if m.Parity != "" {
		p = strings.ToUpper(m.Parity[:1])
	}
	fc := m.FlowControl
	if fc == "" {
		fc = FlowNone
	}
	return fmt.Sprintf("%d %d%s%d %s", m.Speed, m.DataBits, p, m.StopBits, fc)
}
