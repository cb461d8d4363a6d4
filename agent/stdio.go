package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// RunStdio serves one client on stdin and stdout until it leaves or ctx
// ends.
func (s *Server) RunStdio(ctx context.Context) error {
	return s.RunIO(ctx, os.Stdin, os.Stdout)
}

// maxLine bounds one message from the client.
const maxLine = 16 << 20

// RunIO serves one client on newline-delimited JSON-RPC over in and out.
// A line that is not a JSON-RPC message gets a JSON-RPC error (parse
// error, invalid request) and the server goes on: the SDK's own stdio
// transport would end the session on it.
func (s *Server) RunIO(ctx context.Context, in io.Reader, out io.Writer) error {
	w := &lockedWriter{w: out}
	r := &guard{r: bufio.NewReaderSize(in, 64<<10), w: w}
	return s.mcp.Run(ctx, &mcp.IOTransport{Reader: r, Writer: w})
}

// lockedWriter writes whole messages, one at a time (the SDK writes a
// message in one Write; so does guard).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Close() error { return nil }

// guard passes on the lines that are JSON-RPC messages and answers the
// others itself.
type guard struct {
	r       *bufio.Reader
	w       *lockedWriter
	pending []byte
}

func (g *guard) Close() error { return nil }

func (g *guard) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		line, err := g.line()
		if len(line) > 0 {
			if msg := g.check(line); msg != nil {
				g.reply(msg)
			} else {
				g.pending = append(line, '\n')
			}
		}
		if err != nil && len(g.pending) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// line reads one line without its end; a line longer than maxLine is
// answered (refused) and skipped.
func (g *guard) line() ([]byte, error) {
	var buf []byte
	long := false
	for {
		chunk, err := g.r.ReadSlice('\n')
		if !long {
			buf = append(buf, chunk...)
			if len(buf) > maxLine {
				long, buf = true, nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if long {
			g.reply(errorReply(nil, jsonrpc.CodeInvalidRequest, fmt.Sprintf("message longer than %d MiB: refused", maxLine>>20)))
			if err != nil {
				return nil, err
			}
			long = false
			continue
		}
		return bytes.TrimSpace(buf), err
	}
}

// check returns the error reply to line, or nil when line is a message.
func (g *guard) check(line []byte) []byte {
	if !json.Valid(line) {
		return errorReply(nil, jsonrpc.CodeParseError, "parse error: the line is not JSON (send one JSON-RPC 2.0 message per line)")
	}
	if line[0] != '{' {
		return errorReply(nil, jsonrpc.CodeInvalidRequest, "invalid request: send one JSON-RPC 2.0 object per line (batches are not supported)")
	}
	if _, err := jsonrpc.DecodeMessage(line); err != nil {
		var head struct {
			ID json.RawMessage `json:"id"`
		}
		json.Unmarshal(line, &head)
		return errorReply(head.ID, jsonrpc.CodeInvalidRequest, "invalid request: "+err.Error())
	}
	return nil
}

func errorReply(id json.RawMessage, code int, msg string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg}})
	return append(b, '\n')
}

func (g *guard) reply(b []byte) { g.w.Write(b) }
