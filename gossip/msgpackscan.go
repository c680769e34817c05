package gossip

import (
	"encoding/binary"
	"errors"
)

// Errors of msgpackEnd.
var (
	// errShort: the buffer holds only the start of the object.
	errShort = errors.New("gossip: msgpack object is incomplete")
	// errTooLarge: the object would end beyond the limit it was given.
	errTooLarge = errors.New("gossip: msgpack object is larger than allowed")
	// errMsgpack: the bytes are not msgpack memberlist could have written.
	errMsgpack = errors.New("gossip: malformed msgpack")
)

// msgpackMaxDepth bounds the nesting of arrays and maps the guard walks;
// memberlist's messages nest two deep.
const msgpackMaxDepth = 16

// msgpackEnd finds where the msgpack object that starts at b[off] ends,
// without decoding or allocating anything: the guard uses it to find the
// extent of memberlist's messages on a stream before memberlist reads
// them. An object that would end beyond limit (an offset in b) is
// errTooLarge, whatever the buffer holds, so a length claimed in a header
// is refused before anything is read for it. When b ends inside the object
// the error is errShort and the int is the fewest bytes b must hold before
// asking again.
func msgpackEnd(b []byte, off, limit int) (int, error) {
	return msgpackScan(b, off, limit, 0)
}

func msgpackScan(b []byte, off, limit, depth int) (int, error) {
	if depth > msgpackMaxDepth {
		return 0, errMsgpack
	}
	if off+1 > limit {
		return 0, errTooLarge
	}
	if off >= len(b) {
		return off + 1, errShort
	}
	c := b[off]
	var head, size, items int // header bytes, payload bytes, nested objects
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixints, nil, bool
		return off + 1, nil
	case c >= 0x80 && c <= 0x8f: // fixmap
		head, items = 1, 2*int(c&0x0f)
	case c >= 0x90 && c <= 0x9f: // fixarray
		head, items = 1, int(c&0x0f)
	case c >= 0xa0 && c <= 0xbf: // fixstr
		head, size = 1, int(c&0x1f)
	case c == 0xcc, c == 0xd0: // uint8, int8
		head = 2
	case c == 0xcd, c == 0xd1: // uint16, int16
		head = 3
	case c == 0xca, c == 0xce, c == 0xd2: // float32, uint32, int32
		head = 5
	case c == 0xcb, c == 0xcf, c == 0xd3: // float64, uint64, int64
		head = 9
	case c == 0xd4, c == 0xd5, c == 0xd6, c == 0xd7, c == 0xd8: // fixext 1, 2, 4, 8, 16
		head = 2 + 1<<(c-0xd4)
	case c == 0xc4, c == 0xd9: // bin8, str8
		head = 2
	case c == 0xc5, c == 0xda: // bin16, str16
		head = 3
	case c == 0xc6, c == 0xdb: // bin32, str32
		head = 5
	case c == 0xc7: // ext8: length, type
		head = 3
	case c == 0xc8: // ext16
		head = 4
	case c == 0xc9: // ext32
		head = 6
	case c == 0xdc, c == 0xde: // array16, map16
		head = 3
	case c == 0xdd, c == 0xdf: // array32, map32
		head = 5
	default: // 0xc1 is never used
		return 0, errMsgpack
	}
	if off+head > limit {
		return 0, errTooLarge
	}
	if off+head > len(b) {
		return off + head, errShort
	}
	// Lengths that follow the first byte.
	var n int
	switch c {
	case 0xc4, 0xd9, 0xc7:
		n = int(b[off+1])
	case 0xc5, 0xda, 0xc8, 0xdc, 0xde:
		n = int(binary.BigEndian.Uint16(b[off+1:]))
	case 0xc6, 0xdb, 0xc9, 0xdd, 0xdf:
		n = int(binary.BigEndian.Uint32(b[off+1:]))
	}
	switch c {
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb, 0xc7, 0xc8, 0xc9:
		size = n
	case 0xdc, 0xdd:
		items = n
	case 0xde, 0xdf:
		items = 2 * n
	}
	end := off + head
	if size > 0 {
		// Compared before adding, so a 4 GiB claim cannot overflow.
		if size > limit-end {
			return 0, errTooLarge
		}
		end += size
		if end > len(b) {
			return end, errShort
		}
		return end, nil
	}
	// Every nested object takes at least a byte.
	if items > limit-end {
		return 0, errTooLarge
	}
	for range items {
		var err error
		if end, err = msgpackScan(b, end, limit, depth+1); err != nil {
			return end, err
		}
	}
	return end, nil
}
