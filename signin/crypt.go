package signin

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"unicode/utf8"
)

// ErrNoKeyring: the password that encrypts a Chromium profile's cookies
// could not be had (no keyring tool, a locked keyring, no entry).
var ErrNoKeyring = errors.New("no keyring password")

// ErrDecrypt: no key decrypted a cookie value.
var ErrDecrypt = errors.New("cannot decrypt")

// keyring finds and keeps the keys of one browser's cookie values.
type keyring struct {
	env     Env
	browser string
	// v11 is the keyring's keys (Linux v11, macOS v10), looked up once.
	v11     [][]byte
	v11Err  error
	v11Done bool
}

func newKeyring(env Env, browser string) *keyring { return &keyring{env: env, browser: browser} }

// deriveKey is Chromium's PBKDF2-HMAC-SHA1 key of 16 bytes, salt "saltysalt".
func deriveKey(password string, iterations int) []byte {
	k, err := pbkdf2.Key(sha1.New, password, []byte("saltysalt"), iterations, 16)
	if err != nil {
		panic(err) // only for lengths FIPS mode refuses; 16 bytes is not one
	}
	return k
}

// safeStorage is the name Chromium-family browsers give their keyring
// entries: "<name> Safe Storage" (Keychain, KWallet's "<name> Keys").
func safeStorage(browser, goos string) string {
	switch browser {
	case "chrome":
		return "Chrome"
	case "brave":
		return "Brave"
	case "edge":
		if goos == "darwin" {
			return "Microsoft Edge"
		}
	}
	return "Chromium"
}

// secretApps are the application attributes a browser's password has in
// the Secret Service (libsecret), most likely first.
func secretApps(browser string) []string {
	switch browser {
	case "chrome":
		return []string{"chrome"}
	case "brave":
		return []string{"brave", "chromium"}
	case "edge":
		return []string{"microsoft-edge", "chromium"}
	}
	return []string{"chromium"}
}

// output runs a keyring tool and returns its first line; the password it
// prints never reaches an error.
func output(ctx context.Context, name string, args ...string) (string, bool) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", false
	}
	s := strings.TrimRight(string(out), "\r\n")
	return s, s != ""
}

// keychainKeys looks up the browser's password: the macOS Keychain, or on
// Linux the Secret Service (secret-tool) and KWallet (kwallet-query).
func (k *keyring) keychainKeys(ctx context.Context) ([][]byte, error) {
	if k.v11Done {
		return k.v11, k.v11Err
	}
	k.v11Done = true
	name := safeStorage(k.browser, k.env.goos())
	if k.env.goos() == "darwin" {
		if _, err := exec.LookPath("security"); err != nil {
			k.v11Err = fmt.Errorf("%w: the macOS security tool is not on PATH, so the Keychain's %q cannot be read", ErrNoKeyring, name+" Safe Storage")
			return nil, k.v11Err
		}
		pw, ok := output(ctx, "security", "find-generic-password", "-w", "-a", name, "-s", name+" Safe Storage")
		if !ok {
			k.v11Err = fmt.Errorf("%w: the Keychain gave no %q password (access denied, or %s never stored one): allow apsql in the Keychain prompt, or export the cookies with a cookie extension", ErrNoKeyring, name+" Safe Storage", BrowserTitle(k.browser))
			return nil, k.v11Err
		}
		k.v11 = [][]byte{deriveKey(pw, 1003)}
		return k.v11, nil
	}
	var tools []string
	if _, err := exec.LookPath("secret-tool"); err == nil {
		tools = append(tools, "secret-tool")
		for _, app := range secretApps(k.browser) {
			if pw, ok := output(ctx, "secret-tool", "lookup", "application", app); ok {
				k.v11 = append(k.v11, deriveKey(pw, 1))
			}
		}
	}
	if _, err := exec.LookPath("kwallet-query"); err == nil {
		tools = append(tools, "kwallet-query")
		if pw, ok := output(ctx, "kwallet-query", "--read-password", name+" Safe Storage", "--folder", name+" Keys", "kdewallet"); ok && !strings.HasPrefix(pw, "Failed to read") {
			k.v11 = append(k.v11, deriveKey(pw, 1))
		}
	}
	switch {
	case len(tools) == 0:
		k.v11Err = fmt.Errorf("%w: %s keeps the key of these cookies (v11) in the desktop keyring, and neither secret-tool (package libsecret-tools) nor kwallet-query is installed: install one, or export the cookies with a cookie extension", ErrNoKeyring, BrowserTitle(k.browser))
	case len(k.v11) == 0:
		k.v11Err = fmt.Errorf("%w: %s keeps the key of these cookies (v11) in the desktop keyring, and %s found no %q entry (a locked keyring, or no desktop session?): unlock the keyring by logging in to the desktop, or export the cookies with a cookie extension", ErrNoKeyring, BrowserTitle(k.browser), strings.Join(tools, " and "), name+" Safe Storage")
	}
	return k.v11, k.v11Err
}

// decrypt returns the plain value of Chromium's encrypted_value.
func (k *keyring) decrypt(ctx context.Context, enc []byte, host string, version int) (string, error) {
	prefix, ct := string(enc[:min(3, len(enc))]), enc[min(3, len(enc)):]
	var keys [][]byte
	switch {
	case k.env.goos() == "darwin" && prefix == "v10":
		var err error
		if keys, err = k.keychainKeys(ctx); err != nil {
			return "", err
		}
	case k.env.goos() == "linux" && prefix == "v10":
		// The built-in password, and the empty one that some builds use.
		keys = [][]byte{deriveKey("peanuts", 1), deriveKey("", 1)}
	case k.env.goos() == "linux" && prefix == "v11":
		kk, err := k.keychainKeys(ctx)
		if err != nil {
			return "", err
		}
		keys = append(kk, deriveKey("", 1))
	case prefix == "v20":
		return "", fmt.Errorf("%w: the value is app-bound (v20), which only %s itself can read: export the cookies with a cookie extension", ErrDecrypt, BrowserTitle(k.browser))
	default:
		return "", fmt.Errorf("%w: the value is encrypted in a form apsql does not know (it starts %q): export the cookies with a cookie extension", ErrDecrypt, strings.ToValidUTF8(prefix, "?"))
	}
	for _, key := range keys {
		if v, ok := decryptCBC(key, ct, host, version); ok {
			return v, nil
		}
	}
	if prefix == "v11" {
		return "", fmt.Errorf("%w: the keyring's password does not decrypt it (a keyring of another browser or user?): export the cookies with a cookie extension", ErrDecrypt)
	}
	return "", fmt.Errorf("%w: the %s key does not decrypt it: export the cookies with a cookie extension", ErrDecrypt, prefix)
}

// iv is Chromium's fixed initialisation vector: 16 spaces.
var iv = bytes.Repeat([]byte{' '}, aes.BlockSize)

// decryptCBC decrypts AES-128-CBC with PKCS#7 padding. From version 24 on,
// the plain text starts with the SHA-256 of the cookie's host, which is
// checked and dropped. A wrong key shows as bad padding, a wrong hash or
// text that is not UTF-8.
func decryptCBC(key, ct []byte, host string, version int) (string, bool) {
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return "", false
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", false
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	n := int(pt[len(pt)-1])
	if n == 0 || n > aes.BlockSize || n > len(pt) || !bytes.Equal(pt[len(pt)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return "", false
	}
	pt = pt[:len(pt)-n]
	if version >= 24 {
		h := sha256.Sum256([]byte(host))
		if len(pt) < len(h) || !bytes.Equal(pt[:len(h)], h[:]) {
			return "", false
		}
		pt = pt[len(h):]
	}
	if !utf8.Valid(pt) {
		return "", false
	}
	return string(pt), true
}
