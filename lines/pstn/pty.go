//go:build linux

package pstn

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyLine joins a subscriber's Port to the master side of a host pseudo-terminal.
type ptyLine struct {
	x      *Exchange
	port   *Port
	master *os.File // pollable, so Close interrupts a pending Read or Write
	slave  *os.File // held open so the master never reads EIO between outside openers
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// AttachPTY attaches a subscriber whose modem's DTE side is a host pseudo-terminal: an outside
// program (minicom, pppd in a VM) opens slave and speaks AT to it. The terminal starts in raw
// mode. A pty has no modem-control lines, so the program learns of carrier only from result
// codes, and closing the slave is not a DTR drop: hang up with +++ and ATH (or
// Exchange.Disconnect). closeFn detaches the subscriber and closes the pty.
func (x *Exchange) AttachPTY(number string) (slave string, closeFn func() error, err error) {
	p, err := x.Attach(number)
	if err != nil {
		return "", nil, err
	}
	master, tty, err := pty.Open()
	if err != nil {
		_ = p.Close()
		return "", nil, fmt.Errorf("pstn: open pty for %s: %w", number, err)
	}
	pm, err := pollable(master)
	if err != nil {
		_ = p.Close()
		_ = tty.Close()
		return "", nil, fmt.Errorf("pstn: pty for %s: %w", number, err)
	}
	if err := makeRaw(tty); err != nil {
		_ = p.Close()
		_ = pm.Close()
		_ = tty.Close()
		return "", nil, fmt.Errorf("pstn: raw mode on %s for %s: %w", tty.Name(), number, err)
	}
	l := &ptyLine{x: x, port: p, master: pm, slave: tty}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		_ = p.Close()
		_ = pm.Close()
		_ = tty.Close()
		return "", nil, fmt.Errorf("pstn: attach pty %s: %w", number, ErrClosed)
	}
	x.ptys[l] = struct{}{}
	x.mu.Unlock()
	l.wg.Add(2)
	go l.toModem()
	go l.toTerminal()
	x.log.Info("subscriber on pty", "number", number, "pty", tty.Name())
	return tty.Name(), l.close, nil
}

// pollable re-opens the pty master as a non-blocking, poller-backed file. pty.Open leaves its
// file in blocking mode (it calls Fd), where Close cannot interrupt a Read in progress.
func pollable(master *os.File) (*os.File, error) {
	defer master.Close()
	rc, err := master.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var opErr error
	if err := rc.Control(func(old uintptr) {
		fd, opErr = unix.Dup(int(old))
		if opErr == nil {
			opErr = unix.SetNonblock(fd, true)
		}
	}); err != nil {
		return nil, err
	}
	if opErr != nil {
		return nil, fmt.Errorf("dup pty master: %w", opErr)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), master.Name()), nil
}

// makeRaw is cfmakeraw(3): no echo (the modem echoes), no line editing, no CR/NL mapping,
// 8 bits. Without it the terminal would echo the modem's own output back into it.
func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			opErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR |
			unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		opErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	}); err != nil {
		return err
	}
	return opErr
}

func (l *ptyLine) toModem() {
	defer l.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := l.master.Read(buf)
		if n > 0 {
			if _, werr := l.port.Write(buf[:n]); werr != nil && !errors.Is(werr, ErrFlowTimeout) {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				l.x.log.Warn("pty read failed", "number", l.port.Number(), "err", err)
			}
			return
		}
	}
}

func (l *ptyLine) toTerminal() {
	defer l.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := l.port.Read(buf)
		if n > 0 {
			if _, werr := l.master.Write(buf[:n]); werr != nil {
				if !errors.Is(werr, os.ErrClosed) {
					l.x.log.Warn("pty write failed", "number", l.port.Number(), "err", werr)
				}
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *ptyLine) close() error {
	l.once.Do(func() {
		// Closing the master ends toModem (and a toTerminal write blocked on a full slave
		// queue); closing the port ends toTerminal's Read with io.EOF.
		e1 := l.master.Close()
		e2 := l.port.Close()
		l.wg.Wait()
		e3 := l.slave.Close()
		l.x.mu.Lock()
		delete(l.x.ptys, l)
		l.x.mu.Unlock()
		l.err = errors.Join(e1, e2, e3)
	})
	return l.err
}
