// Package signin reads an Amazon session's cookies straight from a web browser's profile.
//
// It finds the profiles of Firefox and of the Chromium family (Chromium,
// Chrome, Brave, Edge) on Linux and macOS, copies a profile's cookie
// database before it reads it (the browser keeps it open and locked),
// decrypts Chromium's values (v10 with the built-in key, v11 with the
// desktop keyring's, macOS with the Keychain's "Safe Storage" key; the
// 32-byte host hash that newer versions put before a value is checked and
// dropped), and writes the session as a cookies.txt file, atomically and
// readable only by its owner.
//
// No cookie value ever reaches an error, a log line or a String method:
// Cookie and Jar print names only.
package signin
