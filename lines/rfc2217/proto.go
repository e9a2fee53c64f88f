package rfc2217

// Telnet commands (RFC 854, "TELNET COMMAND STRUCTURE").
const (
	cmdSE   byte = 240 // end of subnegotiation parameters
	cmdNOP  byte = 241 // no operation
	cmdDM   byte = 242 // data mark (the data stream part of a Synch)
	cmdBRK  byte = 243 // NVT break
	cmdIP   byte = 244 // interrupt process
	cmdAO   byte = 245 // abort output
	cmdAYT  byte = 246 // are you there
	cmdEC   byte = 247 // erase character
	cmdEL   byte = 248 // erase line
	cmdGA   byte = 249 // go ahead
	cmdSB   byte = 250 // begin subnegotiation (RFC 855)
	cmdWILL byte = 251
	cmdWONT byte = 252
	cmdDO   byte = 253
	cmdDONT byte = 254
	cmdIAC  byte = 255 // interpret as command; doubled to send a data byte 255
)

// Telnet options this client takes part in.
const (
	optBinary  byte = 0  // RFC 856 TRANSMIT-BINARY
	optEcho    byte = 1  // RFC 857 ECHO (refused: a serial line does its own echo)
	optSGA     byte = 3  // RFC 858 SUPPRESS-GO-AHEAD
	optComPort byte = 44 // RFC 2217 COM-PORT-OPTION
)

// RFC 2217 "Command Names and Codes": client-to-server command codes. The access server
// answers each with the same code plus serverOffset.
const (
	comSignature        byte = 0  // §2 version / signature text
	comSetBaudRate      byte = 1  // §2 four octets, network order; 0 asks for the current rate
	comSetDataSize      byte = 2  // §2 5..8; 0 asks
	comSetParity        byte = 3  // §2 see parity* values; 0 asks
	comSetStopSize      byte = 4  // §2 see stop* values; 0 asks
	comSetControl       byte = 5  // §3 see control* values
	comNotifyLineState  byte = 6  // §4 server->client (106): line-state byte
	comNotifyModemState byte = 7  // §4 server->client (107): modem-state byte
	comFlowSuspend      byte = 8  // §5 FLOWCONTROL-SUSPEND: stop sending data
	comFlowResume       byte = 9  // §5 FLOWCONTROL-RESUME
	comSetLineStateMask byte = 10 // §4 which line-state bits to notify (initially 0)
	comSetModemMask     byte = 11 // §4 SET-MODEMSTATE-MASK: which modem bits to notify (initially 255)
	comPurgeData        byte = 12 // PURGE-DATA: 1 receive, 2 transmit, 3 both buffers

	serverOffset byte = 100 // RFC 2217: server-to-client codes are the client codes + 100
)

// SET-PARITY values (RFC 2217 §2).
const (
	parityRequest byte = 0
	parityNone    byte = 1
	parityOdd     byte = 2
	parityEven    byte = 3
	parityMark    byte = 4
	paritySpace   byte = 5
)

// SET-STOPSIZE values (RFC 2217 §2). 1.5 stop bits (3) has no Mode spelling.
const (
	stopRequest byte = 0
	stopOne     byte = 1
	stopTwo     byte = 2
)

// SET-CONTROL values (RFC 2217 §3). They fall into groups; a reply carries a value from the
// group of the request it answers, which is how replies are matched to requests.
const (
	ctlFlowRequest    byte = 0 // outbound (or both) flow control: request
	ctlFlowNone       byte = 1
	ctlFlowXonXoff    byte = 2
	ctlFlowHardware   byte = 3
	ctlBreakRequest   byte = 4
	ctlBreakOn        byte = 5
	ctlBreakOff       byte = 6
	ctlDTRRequest     byte = 7
	ctlDTROn          byte = 8
	ctlDTROff         byte = 9
	ctlRTSRequest     byte = 10
	ctlRTSOn          byte = 11
	ctlRTSOff         byte = 12
	ctlInFlowRequest  byte = 13 // inbound flow control: request
	ctlInFlowNone     byte = 14
	ctlInFlowXonXoff  byte = 15
	ctlInFlowHardware byte = 16
	ctlFlowDCD        byte = 17 // outbound flow control on DCD
	ctlInFlowDTR      byte = 18 // inbound flow control on DTR
	ctlFlowDSR        byte = 19 // outbound flow control on DSR
)

// NOTIFY-MODEMSTATE bits (RFC 2217 §4).
const (
	msCD       byte = 0x80 // receive line signal detect (DCD)
	msRI       byte = 0x40 // ring indicator
	msDSR      byte = 0x20 // data set ready
	msCTS      byte = 0x10 // clear to send
	msDeltaCD  byte = 0x08
	msRITrail  byte = 0x04 // trailing edge ring detector
	msDeltaDSR byte = 0x02
	msDeltaCTS byte = 0x01

	// modemStateMask asks for every modem bit: the states are what ModemStatus reports and
	// the edges make the server notify on every change (RFC 2217 §4, SET-MODEMSTATE-MASK).
	modemStateMask byte = 0xFF
)

// NOTIFY-LINESTATE bits (RFC 2217 §4); only logged.
const (
	lsTimeout     byte = 0x80
	lsTransmitSRE byte = 0x40
	lsTransmitHRE byte = 0x20
	lsBreak       byte = 0x10
	lsFraming     byte = 0x08
	lsParity      byte = 0x04
	lsOverrun     byte = 0x02
	lsDataReady   byte = 0x01
	lsErrors      byte = lsBreak | lsFraming | lsParity | lsOverrun
)

// controlGroup returns the first value of the SET-CONTROL group v belongs to (the group's
// "request" value), so a reply can be matched to the request it answers.
func controlGroup(v byte) byte {
	switch {
	case v <= ctlFlowHardware:
		return ctlFlowRequest
	case v <= ctlBreakOff:
		return ctlBreakRequest
	case v <= ctlDTROff:
		return ctlDTRRequest
	case v <= ctlRTSOff:
		return ctlRTSRequest
	case v <= ctlInFlowHardware:
		return ctlInFlowRequest
	case v == ctlFlowDCD || v == ctlFlowDSR:
		return ctlFlowRequest
	case v == ctlInFlowDTR:
		return ctlInFlowRequest
	}
	return v
}
