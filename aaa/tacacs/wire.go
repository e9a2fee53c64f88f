package tacacs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	tq "github.com/facebookincubator/tacquito"
)

// Packet header (RFC 8907 §4.1).
const (
	headerLen    = 12
	majorVersion = 0xc
	minorDefault = 0x0 // TAC_PLUS_MINOR_VER_DEFAULT: ASCII login, authorization, accounting
	minorOne     = 0x1 // TAC_PLUS_MINOR_VER_ONE: PAP, CHAP, MS-CHAP logins (RFC 8907 §5.4.2)

	// flagUnencrypted marks a body sent in the clear (RFC 8907 §4.1). Over TCP we never set
	// it and refuse replies that do; over TLS it must be set (RFC 9887: no obfuscation
	// inside TLS).
	flagUnencrypted = 0x01
	// flagSingleConnect asks to keep the connection for further sessions (RFC 8907 §4.3).
	flagSingleConnect = 0x04

	// maxBody is the largest reply body accepted (RFC 8907 §4.1 recommends 2^16).
	maxBody = 1 << 16
	// maxSeq is the last sequence number; a session must never wrap (RFC 8907 §4.1).
	maxSeq = 255
)

// header is a decoded packet header.
type header struct {
	version   byte // major<<4 | minor, as on the wire
	typ       tq.HeaderType
	seq       byte
	flags     byte
	sessionID uint32
	length    uint32
}

func parseHeader(b []byte) header {
	return header{
		version:   b[0],
		typ:       tq.HeaderType(b[1]),
		seq:       b[2],
		flags:     b[3],
		sessionID: binary.BigEndian.Uint32(b[4:8]),
		length:    binary.BigEndian.Uint32(b[8:12]),
	}
}

// obfuscate XORs body in place with the pseudo-pad of RFC 8907 §4.5: MD5 over session_id,
// key, version and seq_no, chained with the previous hash. The same call undoes it.
func obfuscate(body []byte, sessionID uint32, secret []byte, version, seq byte) {
	var prefix [4]byte
	binary.BigEndian.PutUint32(prefix[:], sessionID)
	vs := [2]byte{version, seq}
	h := md5.New()
	var pad [md5.Size]byte
	for off := 0; off < len(body); off += md5.Size {
		h.Reset()
		h.Write(prefix[:])
		h.Write(secret)
		h.Write(vs[:])
		if off > 0 {
			h.Write(pad[:])
		}
		h.Sum(pad[:0])
		for i := 0; i < md5.Size && off+i < len(body); i++ {
			body[off+i] ^= pad[i]
		}
	}
}

// newSessionID draws a session id from a cryptographically strong source (RFC 8907 §4.1).
func newSessionID() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics instead).
		panic(err)
	}
	return binary.BigEndian.Uint32(b[:])
}

// conn is one connection to one server. It carries one session at a time; with
// single-connection mode it is kept for the next one.
type conn struct {
	nc     net.Conn
	addr   string
	tls    bool
	secret []byte
	// askSingle is set when single-connection mode is configured for the server; single
	// records whether the server agreed in its first reply (RFC 8907 §4.3).
	askSingle, single bool
	// sessions counts the sessions completed on this connection.
	sessions int
	// broken means the connection must not be reused: an error, a half-finished session,
	// or a late deadline change from a cancelled context.
	broken   bool
	lastUsed time.Time
}

func (c *conn) close() { _ = c.nc.Close() }

// session is one TACACS+ session (one session_id) on a connection.
type session struct {
	ctx     context.Context
	c       *conn
	id      uint32
	typ     tq.HeaderType
	minor   byte
	seq     byte // the last sequence number sent or received
	timeout time.Duration
	// replies counts replies received; a failure before the first one on a reused
	// connection is what the reconnect fallback retries.
	replies int
	// done is set when the final reply of the session has arrived, so the connection is
	// at a packet boundary and may carry the next session.
	done bool
}

func newSession(ctx context.Context, c *conn, typ tq.HeaderType, minor byte, timeout time.Duration) *session {
	return &session{ctx: ctx, c: c, id: newSessionID(), typ: typ, minor: minor, timeout: timeout}
}

// deadline is when the current exchange must be over: the server timeout from now, or the
// context's deadline if that comes first.
func (s *session) deadline() time.Time {
	d := time.Now().Add(s.timeout)
	if cd, ok := s.ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// interruptible runs f with the connection's deadlines forced into the past when the
// context ends, so a blocked read or write returns at once.
func (s *session) interruptible(f func() error) error {
	stop := context.AfterFunc(s.ctx, func() { _ = s.c.nc.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() {
		// The deadline was (or is being) moved; the connection cannot be trusted again.
		s.c.broken = true
	}
	if err != nil {
		if cerr := ctxErr(s.ctx); cerr != nil {
			return fmt.Errorf("%w (%v)", cerr, err)
		}
	}
	return err
}

// ctxErr is ctx.Err(), and DeadlineExceeded already at the deadline: an exchange whose
// deadline was the context's own can time out a moment before the context says so.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// send writes the next client packet (odd sequence numbers, RFC 8907 §4.1) of the session.
// The body is copied before it is obfuscated: the caller's slice is never changed.
func (s *session) send(body []byte) error {
	// The reply to this packet takes the sequence number after it; neither may pass 255.
	if int(s.seq)+2 > maxSeq {
		return fmt.Errorf("%w: session %08x used up its sequence numbers", ErrProtocol, s.id)
	}
	s.seq++
	var flags byte
	if s.c.tls {
		flags |= flagUnencrypted
	}
	if s.c.askSingle {
		flags |= flagSingleConnect
	}
	h := tq.NewHeader(
		tq.SetHeaderVersion(tq.Version{MajorVersion: majorVersion, MinorVersion: s.minor}),
		tq.SetHeaderType(s.typ),
		tq.SetHeaderSeqNo(int(s.seq)),
		tq.SetHeaderFlag(tq.HeaderFlag(flags)),
		tq.SetHeaderSessionID(tq.SessionID(s.id)),
		tq.SetHeaderLen(len(body)),
	)
	hb, err := h.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encoding header: %w", err)
	}
	buf := make([]byte, 0, len(hb)+len(body))
	buf = append(buf, hb...)
	buf = append(buf, body...)
	if !s.c.tls {
		obfuscate(buf[headerLen:], s.id, s.c.secret, hb[0], s.seq)
	}
	return s.interruptible(func() error {
		if err := s.c.nc.SetWriteDeadline(s.deadline()); err != nil {
			return err
		}
		_, err := s.c.nc.Write(buf)
		return err
	})
}

// recv reads the server's next packet of the session, checks its header against the
// session and returns the clear body.
func (s *session) recv() ([]byte, error) {
	var hb [headerLen]byte
	var body []byte
	err := s.interruptible(func() error {
		if err := s.c.nc.SetReadDeadline(s.deadline()); err != nil {
			return err
		}
		if _, err := io.ReadFull(s.c.nc, hb[:]); err != nil {
			return err
		}
		h := parseHeader(hb[:])
		if err := s.check(h); err != nil {
			return err
		}
		body = make([]byte, h.length)
		if _, err := io.ReadFull(s.c.nc, body); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading a %d-byte body: %w", h.length, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := parseHeader(hb[:])
	if !s.c.tls {
		obfuscate(body, s.id, s.c.secret, h.version, h.seq)
	}
	if s.c.sessions == 0 && s.replies == 0 {
		// Only the server's first reply on a connection speaks for single-connection mode
		// (RFC 8907 §4.3).
		s.c.single = s.c.askSingle && h.flags&flagSingleConnect != 0
	}
	s.seq = h.seq
	s.replies++
	return body, nil
}

// check validates a reply header against the session.
func (s *session) check(h header) error {
	switch {
	case h.version>>4 != majorVersion:
		return fmt.Errorf("%w: reply has major version %#x, want %#x", ErrProtocol, h.version>>4, majorVersion)
	case h.version&0xf != minorDefault && h.version&0xf != minorOne:
		return fmt.Errorf("%w: reply has minor version %#x", ErrProtocol, h.version&0xf)
	case h.typ != s.typ:
		return fmt.Errorf("%w: reply is of type %d, the request was of type %d", ErrProtocol, h.typ, s.typ)
	case h.sessionID != s.id:
		return fmt.Errorf("%w: reply is for session %08x, want %08x", ErrProtocol, h.sessionID, s.id)
	case h.seq != s.seq+1:
		return fmt.Errorf("%w: reply has sequence number %d, want %d", ErrProtocol, h.seq, s.seq+1)
	case h.length > maxBody:
		return fmt.Errorf("%w: reply claims a %d-byte body, more than %d", ErrProtocol, h.length, maxBody)
	case s.c.tls && h.flags&flagUnencrypted == 0:
		// RFC 9887: inside TLS every packet carries the unencrypted flag.
		return fmt.Errorf("%w: reply over TLS lacks the unencrypted flag", ErrProtocol)
	case !s.c.tls && h.flags&flagUnencrypted != 0:
		// A clear reply on a plain connection means a server with no key for us, or a
		// downgrade; neither may be believed.
		return fmt.Errorf("%w: reply over TCP is not obfuscated (server has no key for this NAS?)", ErrProtocol)
	}
	return nil
}

// exchange sends body and returns the reply's clear body.
func (s *session) exchange(body []byte) ([]byte, error) {
	if err := s.send(body); err != nil {
		return nil, err
	}
	return s.recv()
}
