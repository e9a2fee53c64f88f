// Package pstn owns the simulated telephone network: an exchange of subscriber lines, each
// with an emulated Hayes-compatible modem whose DTE side is a lines.Port (or a host
// pseudo-terminal), so that the access server, its callers and its tests run without
// hardware. It models call progress (ringing, busy, no answer, intercept, no dial tone),
// modem-control lines, and a data path with optional latency and bit errors.
//
// # Exchange
//
// Dialling a free subscriber rings it: RING to its DTE every Options.RingPeriod, with RI on for
// the first half of each period. When it answers (ATA, or auto-answer after S0 rings) both
// modems train for Options.TrainingDelay, then both print CONNECT and raise DCD. Other
// outcomes for the caller:
//
//	called line off-hook, ringing or in a call  BUSY (X3, X4; NO CARRIER with X0-X2), at once
//	not answered after Options.NoAnswerRings    NO ANSWER (X3, X4; else NO CARRIER); ringing stops
//	unallocated number                          NO CARRIER after one ring period (intercept)
//	no dial tone (Exchange.SetDialTone)         NO DIALTONE (X2, X4); blind dialling (X0, X1, X3)
//	                                            gives NO CARRIER after one ring period
//	no carrier within S7 seconds                NO CARRIER
//
// A hang-up on either side (ATH, DTR drop with &D2/&D3, Port.Hangup, Port.Close,
// Exchange.Disconnect, Exchange.Close) reaches the other modem at once, as V.42's disconnect
// would: its DCD goes off, it prints NO CARRIER and returns to command state on-hook. S10 is
// stored but not used. Every modem that goes on-hook drops DSR for Options.DSRDrop (the event
// IOS's `callback nodsr-wait` waits for); otherwise DSR is on while the modem is powered. CTS is
// on except while a Write waits for the flow-control window (see Port.Write).
//
// The data path carries bytes unchanged unless Options.BitErrorRate flips bits, delays them by
// Options.Latency, and has no rate limit. Data arriving while the modem is in online command
// state is lost. Bytes for a DTE that does not read are held up to 4×MaxBuffered and then
// dropped, as an overrun would.
//
// # Command set
//
// A command line starts with AT (any case) and ends with S3 (CR); characters before AT are
// ignored, spaces and control characters inside are ignored, S5 (backspace) deletes. A/ (no
// CR) repeats the last line. Several commands may share a line (AT&F E0 V1 S0=0); they run left
// to right, and the first that fails ends the line with ERROR. An unknown command is an error.
// In command state every character is echoed when E1.
//
//	A        answer a ringing line (NO CARRIER if none rings)
//	Bn       0-1, accepted
//	D...     dial; digits, * # A-D are sent; T P W ! @ R - ( ) . / are accepted and ignored;
//	         ',' pauses S8 s; L first redials the last number; ';' returns OK in command state
//	         off-hook so that a later D continues the same number (ATDT555; then ATD1234)
//	En       echo 0 off, 1 on (default 1)
//	Hn       H0 hang up, H1 off-hook (a ringing caller gets NO CARRIER)
//	In       0 "SIMV34", 1 "000", 2 nothing, 3 model and revision, 4 the subscriber number
//	Ln, Mn   0-3, accepted (speaker)
//	On       return to data state from online command state, printing CONNECT; NO CARRIER
//	         if no call is up
//	P, T     pulse or tone, accepted
//	Qn       0 result codes on, 1 quiet (no result codes, RING included)
//	Sn?      print register n as three digits; Sn=v set (0-255); Sn select; ? and =v alone use
//	         the selected register
//	Vn       0 numeric, 1 verbose (default 1)
//	Wn       connect message: 0 CONNECT 33600 (default); 1, 2 extended, in the USRobotics
//	         form CONNECT 33600/ARQ/V34/LAPM (on a noisy line, no error control: CONNECT
//	         33600/V34)
//	Xn       0 CONNECT without rate, BUSY and NO DIALTONE not detected; 1 adds the rate;
//	         2 adds NO DIALTONE; 3 adds BUSY and NO ANSWER (blind dials); 4 all (default)
//	Zn       hang up and restore the stored profile (&W, else factory)
//	&Cn      0 DCD always on, 1 DCD follows carrier (default 1)
//	&Dn      DTR off: 0 ignored, 1 online command state, 2 hang up (default), 3 hang up and Z
//	&F       factory profile (does not hang up)
//	&Kn, &Sn flow control 0-6, DSR mode 0-1: accepted, not modelled
//	&W       store the current profile for Z
//	+VCID=n  caller ID, 0 off, 1 formatted (2, unformatted, gives ERROR); +VCID? +VCID=?
//	#CID=n   the same, Rockwell spelling
//	+FCLASS=0  data mode (other classes ERROR); +FCLASS? and +FCLASS=? print 0
//	+GMI, +GMM, +GMR  manufacturer, model, revision
//
// Extended commands may be followed by ';' and further commands. A line longer than 256
// characters gives ERROR.
//
// Result codes (V0 numeric / V1 verbose): 0 OK, 1 CONNECT, 2 RING, 3 NO CARRIER, 4 ERROR,
// 6 NO DIALTONE, 7 BUSY, 8 NO ANSWER. With X1-X4 CONNECT carries the line rate
// (Options.ConnectSpeed): verbose "CONNECT 33600", numeric the Rockwell-family code for that
// rate (84 for 33600, 91 for 31200, 64 for 28800, ...; 1 for a rate without one). Verbose
// results are framed S3 S4 (CR LF) before and after; numeric ones are the digits and S3.
// Information text (S-register values, I, caller ID) is framed like verbose results.
//
// S registers: S0 auto-answer after n rings (0 off), S1 ring count, S2 escape character (43,
// above 127 disables escape), S3 CR, S4 LF, S5 backspace, S6 dial-tone wait, S7 carrier wait
// in seconds (50), S8 comma pause in seconds (2), S12 escape guard time in 1/50 s (50); the
// others (0-255) are stored.
//
// Escape: in data state, S12 guard time without data, three S2 characters each within the
// guard time of the previous, and S12 without data again switch the modem to online command
// state with OK; the call stays up. The three characters are transmitted like any data. With
// S12=0 there is no guard time. ATO returns to data state, ATH hangs up.
//
// Any character other than CR, LF or NUL from the DTE while the modem dials or answers
// aborts the attempt with NO CARRIER, as does a BREAK.
//
// Caller ID (+VCID=1 or #CID=1): between the first and the second RING the modem prints, in
// the formatted form of Rockwell-family modems,
//
//	DATE = MMDD
//	TIME = HHMM
//	NMBR = <calling number>
//	NAME = <name set with Exchange.SetCallerName, else the calling number>
//
// each line ending CR LF, after an empty line. With S0=1 the modem answers before the caller
// ID arrives, as real ones do; use S0=2.
package pstn
