// Package acct owns accounting records: their one shape, the durable spool they are written to
// before an event is acknowledged, the per-destination delivery cursors, crash recovery, and the
// exports (CSV, JSON lines, FreeRADIUS detail files).
//
// # The spool
//
// A Spool is a directory holding an append-only log of records in segment files
// (seg-<first seq>.log, a new one once SegmentSize is reached). Each record is a frame: magic,
// version, kind, payload length, CRC-32C (over header and payload), then the Record as JSON.
// Append returns a record's sequence number only once the record is fsynced; a single writer
// goroutine takes every Append waiting and writes them with one write and one fsync (group
// commit), so concurrent appenders share fsyncs.
//
// The payload is JSON rather than a compact binary encoding because the Record shape is shared
// and will grow: an older or newer nas reads the spool without a migration (unknown fields are
// ignored, missing ones are zero), and an operator can read a damaged spool with standard tools
// when billing depends on it. Encoding costs microseconds, nothing next to the fsync each batch
// waits for, and it is done in the appenders' goroutines, in parallel; the CRC, not the
// encoding, carries integrity. The one cost: strings are stored as UTF-8, so invalid bytes in a
// string field become U+FFFD — identically for every destination and export.
//
// Each destination (a RADIUS accounting group, a TACACS+ group, an exporter) has a cursor, a
// small file under cursors/ replaced atomically (temporary file, fsync, rename, fsync of the
// directory), holding the last sequence number it acknowledged. A Reader hands a destination
// its records in order; Ack moves its cursor. A segment is retired once every registered
// destination's durable cursor is past it: it is moved to archive/ (kept for exports within the
// Retention limits) or deleted; with no destination registered, every closed segment is. A
// destination registered for the first time starts at the head (Options.Destinations registers
// before any Append, so configured destinations miss nothing).
//
// On Open, every live segment is scanned. Bytes that are not a valid frame (bad magic, length
// or checksum) are skipped with a log line and counted in Stats.Corrupt, whether they are a torn
// write at the tail (which is truncated off, and kept under corrupt/ for forensics) or damage in
// the middle (the scan resynchronises on the next valid frame); neither is ever fatal.
//
// # Delivery and duplicates
//
// RunDelivery runs one worker per Destination. A worker delivers strictly in sequence order —
// so a session's Stop never precedes its Start — retrying a failed record with capped
// exponential backoff, and never skips one. A permanent error (ErrPermanent) is logged at error
// level, counted, and the record is appended to deadletter/<dest>.jsonl (fsynced) before the
// worker moves on: nothing is dropped silently. A destination computes anything that depends on
// the time of sending, such as Acct-Delay-Time, from Record.Time (Record.Delay).
//
// Duplicates are possible only as exact re-sends of the same record (same Acct-Session-Id and
// status type, same content, same sequence number): after a crash between a delivery and the
// persistence of its cursor (at most CursorFlushInterval of acknowledgements), the records
// delivered in that window are delivered again; likewise a record whose delivery succeeded at
// the server but whose answer was lost (a timeout), or that was in flight when the NAS shut
// down, is sent again. No record is ever delivered in a different form or out of order.
//
// # Open sessions and crash recovery
//
// The spool keeps a table of open sessions (a Start or Interim-Update without a Stop, with its
// last record), rebuilt on Open from a checkpoint (sessions.json, written before any segment is
// retired) and the live segments. Recover appends, for each session left open by the previous
// run, a Stop with cause NAS-Reboot and the last counters and session time the spool knew.
// NewSessionID makes Acct-Session-Ids unique across restarts from a boot counter kept in the
// spool directory.
//
// # Full disk
//
// When a record cannot be made durable, Append returns an error wrapping ErrSpoolUnavailable,
// the spool logs it once per episode (and its recovery), Health reports it, and the Policy says
// what the NAS does: PolicyRefuse (default) refuses new calls (Admit) and returns each failed
// record to its caller; PolicyAnswer keeps answering and holds records in a bounded memory
// queue (ErrQueued), written in order as soon as the disk takes writes again. When that queue
// is full too, the record is logged in full at error level and counted in Stats.Dropped
// (ErrQueueFull), and Admit refuses new calls after all.
//
// # Exports
//
// Export (and ExportDir, for a spool another process has open) writes the records of the spool
// and its archive in CSV, JSON lines or the FreeRADIUS detail format; FileExporter is a
// Destination writing the same formats to files rotated daily and by size.
package acct
