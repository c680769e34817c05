package gossip

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// keyView gives the guard AES-GCM ciphers for the keys memberlist's
// keyring holds now: serf's key operations change the keyring in place,
// and the guard must open what memberlist will open.
type keyView struct {
	ring atomic.Pointer[memberlist.Keyring]

	mu    sync.Mutex
	keys  [][]byte // copies of the keys aeads were made from
	aeads []cipher.AEAD
}

// set makes kr the keyring to follow; nil means gossip in clear.
func (k *keyView) set(kr *memberlist.Keyring) { k.ring.Store(kr) }

// current returns a cipher for each key on the ring, primary first, or
// nil when gossip is not encrypted. The slice is never changed once
// returned.
func (k *keyView) current() []cipher.AEAD {
	kr := k.ring.Load()
	if kr == nil {
		return nil
	}
	keys := kr.GetKeys()
	if len(keys) == 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if sameKeys(keys, k.keys) {
		return k.aeads
	}
	copies := make([][]byte, 0, len(keys))
	aeads := make([]cipher.AEAD, 0, len(keys))
	for _, key := range keys {
		block, err := aes.NewCipher(key)
		if err != nil {
			continue // memberlist refuses such a key before it is installed
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			continue
		}
		copies = append(copies, bytes.Clone(key))
		aeads = append(aeads, gcm)
	}
	k.keys, k.aeads = copies, aeads
	return aeads
}

func sameKeys(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// memberlist's encryption format (security.go): a version byte, a 12-byte
// nonce, then AES-GCM's ciphertext and 16-byte tag; version 0 pads the
// plaintext PKCS7-style to 16 bytes, version 1 does not.
const (
	sealNonce = 12
	sealTag   = 16
	sealBlock = 16
)

// errNoKey says what memberlist says, which operators know.
var errNoKey = errors.New("gossip: no installed keys could decrypt the message")

// openSealed decrypts msg, memberlist's encrypted form with ad as its
// additional data, appending the plaintext to dst. It checks the padding
// memberlist would strip without checking.
func openSealed(aeads []cipher.AEAD, dst, msg, ad []byte) ([]byte, error) {
	if len(msg) == 0 {
		return nil, errors.New("gossip: empty encrypted payload")
	}
	vsn := msg[0]
	if vsn > 1 {
		return nil, fmt.Errorf("gossip: unknown encryption version %d", vsn)
	}
	least := 1 + sealNonce + sealTag
	if vsn == 0 {
		least += sealBlock
	}
	if len(msg) < least {
		return nil, fmt.Errorf("gossip: encrypted payload of %d bytes is too short", len(msg))
	}
	nonce, sealed := msg[1:1+sealNonce], msg[1+sealNonce:]
	for _, a := range aeads {
		plain, err := a.Open(dst, nonce, sealed, ad)
		if err != nil {
			continue
		}
		if vsn == 0 {
			pad := int(plain[len(plain)-1])
			if pad == 0 || pad > sealBlock || pad > len(plain)-len(dst) {
				return nil, errors.New("gossip: bad padding in encrypted payload")
			}
			plain = plain[:len(plain)-pad]
		}
		return plain, nil
	}
	return nil, errNoKey
}
