package main

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/apsql/apsql/engine"
)

// termProgress draws progress bars on a terminal's stderr with
// schollz/progressbar: items done/total, rate and ETA, throttled so that
// workers adding counts never wait on the terminal.
type termProgress struct {
	w io.Writer
}

func newTermProgress(w io.Writer) *termProgress { return &termProgress{w: w} }

func (p *termProgress) Start(label string, total int64, unit string) engine.Tracker {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true),
	}
	if unit == "bytes" {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	b := progressbar.NewOptions64(total, opts...)
	// Start the clock now: the bar otherwise starts it at the first Add,
	// and its first frame shows that batch at millions of items a second.
	_ = b.RenderBlank()
	return &bar{b: b}
}

type bar struct {
	mu sync.Mutex
	b  *progressbar.ProgressBar
}

func (b *bar) Add(n int64) {
	b.mu.Lock()
	b.b.Add64(n)
	b.mu.Unlock()
}

func (b *bar) SetTotal(total int64) {
	b.mu.Lock()
	b.b.ChangeMax64(total)
	b.mu.Unlock()
}

// Describe changes the bar's label (BACKUP counts its files there, on the
// one line whose bar counts bytes).
func (b *bar) Describe(label string) {
	b.mu.Lock()
	b.b.Describe(label)
	b.mu.Unlock()
}

func (b *bar) Done() {
	b.mu.Lock()
	b.b.Finish()
	b.b.Clear()
	b.mu.Unlock()
}
