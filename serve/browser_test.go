package serve

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromium finds the browser: it skips the test on a machine without one,
// and fails in CI, where scripts/install-chromium.sh must have put it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: run scripts/install-chromium.sh (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (scripts/install-chromium.sh); the browser test runs in CI")
	return ""
}

// TestBrowser drives the gallery in headless Chromium over an emulated
// library: thumbnails show, the detail pane opens, a facet filters, and two
// photos selected by hand go to the trash after EXPLAIN and a confirmation.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	e := setup(t, 400)
	labeled := e.strings("SELECT id FROM photos ORDER BY id LIMIT 40")
	for i, id := range labeled {
		e.exec(`INSERT INTO labels (source, id, rank, label, prob, model, "labeledAt") VALUES ('node', ?, 1, ?, 0.8, 'test', now())`,
			id, []string{"beach", "mountain", "dog", "sunset"}[i%4])
	}

	shots := os.Getenv("APSQL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1440, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// The first run starts the browser (no timeout on its context).
	if err := chromedp.Do(bctx, chromedp.Navigate(e.srv.URL(e.http.Listener))); err != nil {
		t.Fatalf("start chromium and open the gallery: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, png, 0o644)
		})
	}
	// waitJS polls a JavaScript condition.
	waitJS := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))
	}
	evalInt := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return n
	}

	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`.tile`)),
		// The thumbnails of the first screen arrive and decode.
		waitJS(`document.querySelectorAll('.tile img.loaded').length >= 12`),
		waitJS(`st.facets !== null && document.querySelectorAll('#timeline .year').length > 0`),
		shot("1-grid"),
	)
	if err != nil {
		t.Fatalf("load the grid: %v", err)
	}
	loaded := evalInt(`[...document.querySelectorAll('.tile img')].slice(0, 12).filter(i => i.complete && i.naturalWidth > 0).length`)
	if loaded != 12 {
		t.Fatalf("%d of the first 12 thumbnails decoded (naturalWidth > 0), want 12", loaded)
	}

	// The detail pane of the first photo: its fields and its picture.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.tile[data-i="0"] img`)),
		chromedp.WaitVisible(chromedp.CSS(`#detail`)),
		waitJS(`document.querySelectorAll('#dfields tr').length > 4 && document.querySelector('#dimg').naturalWidth > 0`),
		shot("2-detail"),
	)
	if err != nil {
		t.Fatalf("detail pane: %v", err)
	}
	// The tile shown in the pane is visibly marked: a frame drawn over its
	// picture (the tile's own box-shadow lies under the picture).
	if !markedCurrent(t, ctx, 0) {
		t.Error("the current tile is not visibly marked")
	}
	fields := evalInt(`document.querySelectorAll('#dfields tr').length`)

	// A facet: the label "beach" narrows the grid to its 10 photos.
	err = chromedp.Do(ctx,
		chromedp.KeyEvent(kb.Escape),
		chromedp.Click(chromedp.CSS(`#labels li[title="beach"]`)),
		waitJS(`st.label === 'beach' && st.total === 10 && document.querySelectorAll('.tile img.loaded').length === 10`),
		shot("3-facet"),
	)
	if err != nil {
		t.Fatalf("facet: %v", err)
	}
	total := evalInt(`st.total`)

	// Select two photos (a click on the first's check, a shift-click on
	// the second), then TRASH: EXPLAIN, the confirmation, the run.
	second, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`.tile[data-i="1"] img`)))
	if err == nil {
		err = chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`.tile[data-i="0"] .check`)),
			waitJS(`st.sel.size === 1`),
			chromedp.MouseClickNode(second[0], chromedp.ButtonModifiers(chromedp.ModifierShift)),
			waitJS(`st.sel.size === 2`),
			chromedp.Click(chromedp.CSS(`#selbar [data-act="trash"]`)),
			waitJS(`document.querySelector('#dlgbody table') !== null && !document.querySelector('#dlgok').disabled`),
			shot("4-confirm"),
		)
	}
	if err != nil {
		t.Fatalf("select and explain: %v", err)
	}
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...st.sel]`))
	if err != nil {
		t.Fatal(err)
	}
	okText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#dlgok`)))
	if err != nil {
		t.Fatal(err)
	}
	if okText != "Trash 2 items" {
		t.Errorf("confirmation button %q, want %q", okText, "Trash 2 items")
	}
	if st := e.emu.State(); len(st.TrashIDs) != 0 && slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(st.TrashIDs, id) }) {
		t.Fatal("trashed before the confirmation")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#dlgok`)),
		waitJS(`document.querySelector('#dlgtitle').textContent === 'Done'`),
		shot("5-done"),
	)
	if err != nil {
		t.Fatalf("confirm the trash: %v", err)
	}
	st := e.emu.State()
	if len(ids) != 2 {
		t.Fatalf("selected %v, want 2 ids", ids)
	}
	for _, id := range ids {
		if !slices.Contains(labeled, id) {
			t.Errorf("selected %s is not one of the beach photos", id)
		}
		if !slices.Contains(st.TrashIDs, id) {
			t.Errorf("%s is not in the emulator's trash (trash holds %d)", id, len(st.TrashIDs))
		}
	}
	t.Logf("grid showed %d thumbnails, detail %d fields, facet %d photos, trashed %v (%s)", loaded, fields, total, ids, strconv.Quote(okText))
}

// markedCurrent reports whether tile i is the current one and carries
// the frame drawn over its picture.
func markedCurrent(t *testing.T, ctx context.Context, i int) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const c = document.querySelector('.tile[data-i="`+strconv.Itoa(i)+`"]');
		if (!c || !c.classList.contains('current') || document.querySelectorAll('.tile.current').length !== 1) return false;
		const a = getComputedStyle(c, '::after');
		return a.content !== 'none' && a.position === 'absolute' && parseFloat(a.borderTopWidth) >= 2 && a.borderTopStyle === 'solid';
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestBrowserNarrow: at 800 px wide the grid keeps the width and tiles of
// a fair size (the facets become a drawer, the detail pane lies over the
// grid), the current tile is marked, and a failed query leaves no count
// or facets of the query before.
func TestBrowserNarrow(t *testing.T) {
	exe := chromium(t)
	e := setup(t, 300)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(800, 900))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(e.srv.URL(e.http.Listener))); err != nil {
		t.Fatalf("start chromium and open the gallery: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	shots := os.Getenv("APSQL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	waitJS := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))
	}
	type box struct {
		Width, Scroller, Tile, Cols float64
		FacetsRight                 float64
		Toggle                      bool
	}
	measure := func() box {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.Evaluate[box](`({
			width: window.innerWidth,
			scroller: document.querySelector('#scroller').clientWidth,
			tile: document.querySelector('.tile[data-i="0"]').getBoundingClientRect().width,
			cols: cols,
			facetsRight: document.querySelector('#facets').getBoundingClientRect().right,
			toggle: (document.querySelector('#facettoggle') || {}).offsetWidth > 0,
		})`))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`.tile`)),
		waitJS(`document.querySelectorAll('.tile img.loaded').length >= 8`),
		waitJS(`st.facets !== null && document.querySelectorAll('#timeline .year').length > 0`),
		shot("narrow-1-grid"),
	)
	if err != nil {
		t.Fatalf("load the grid: %v", err)
	}
	b := measure()
	if b.Width != 800 || b.Scroller < 0.9*b.Width || b.Tile < 120 || b.Cols < 4 || b.FacetsRight > 0 || !b.Toggle {
		t.Errorf("at 800 px: %+v; want the grid over ≥90%% of the width, ≥4 columns of ≥120 px, the facets folded away behind a button", b)
	}
	// The facets open as a drawer; a choice closes it.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#facettoggle`)),
		waitJS(`document.querySelector('#facets').getBoundingClientRect().left >= 0`),
		shot("narrow-2-facets"),
		chromedp.Click(chromedp.CSS(`#timeline .yl`)),
		waitJS(`st.year !== 0 && !document.body.classList.contains('facetsopen')`),
		waitJS(`st.facets !== null && document.querySelectorAll('.tile img.loaded').length > 0`),
	)
	if err != nil {
		t.Fatalf("facets drawer: %v", err)
	}
	// The detail pane lies over the grid, which keeps its columns; the
	// tile shown is marked.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.tile[data-i="0"] img`)),
		chromedp.WaitVisible(chromedp.CSS(`#detail`)),
		waitJS(`document.querySelectorAll('#dfields tr').length > 4`),
		chromedp.KeyEvent(kb.ArrowRight),
		waitJS(`st.current === 1`),
		shot("narrow-3-detail"),
	)
	if err != nil {
		t.Fatalf("detail pane: %v", err)
	}
	if d := measure(); d.Cols != b.Cols || d.Tile < 120 {
		t.Errorf("with the detail pane open: %+v; want the grid as before (%v columns)", d, b.Cols)
	}
	if !markedCurrent(t, ctx, 1) {
		t.Error("the current tile is not visibly marked")
	}
	// A failed query: its error, and no count or facets of the query
	// before next to it.
	err = chromedp.Do(ctx,
		chromedp.KeyEvent(kb.Escape),
		chromedp.SetValue(chromedp.CSS(`#q`), `SELECT name FROM nodes`),
		chromedp.Click(chromedp.CSS(`#search button`)),
		waitJS(`!document.querySelector('#error').hidden && st.pending.size === 0`),
		chromedp.Sleep(500*time.Millisecond), // the facets' request fails too
		shot("narrow-4-error"),
	)
	if err != nil {
		t.Fatalf("a failed query: %v", err)
	}
	type after struct {
		Count, Error  string
		Years, Items  int
		Empty, Status bool
	}
	a, err := chromedp.Run(ctx, chromedp.Evaluate[after](`({
		count: document.querySelector('#count').textContent,
		error: document.querySelector('#errmsg').textContent,
		years: document.querySelectorAll('#timeline .year').length,
		items: document.querySelectorAll('#cameras li:not(.none), #labels li:not(.none)').length,
		empty: !document.querySelector('#empty').hidden,
		status: document.querySelector('#status').textContent !== '',
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Count != "" || a.Years != 0 || a.Items != 0 || a.Empty || a.Status || !strings.Contains(a.Error, "id column") {
		t.Errorf("after a failed query: %+v; want its error alone, no count, facets or 'Nothing matches'", a)
	}
	// The next good query fills them again.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#q`), `type:(PHOTOS)`),
		chromedp.Click(chromedp.CSS(`#search button`)),
		waitJS(`st.facets !== null && document.querySelector('#count').textContent !== '' && document.querySelector('#error').hidden`),
	)
	if err != nil {
		t.Fatalf("the query after: %v", err)
	}
}

// TestBrowserDuplicates (issue 20 item 6): the Duplicates view over the
// emulator's near-duplicate families shows the groups side by side, the
// keeper of each marked by the policy chosen; "Trash the others" goes
// through the EXPLAIN and the confirmation, and afterwards the service
// has exactly each keeper left of every group.
func TestBrowserDuplicates(t *testing.T) {
	exe := chromium(t)
	e, _ := dupesSetup(t, 5)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1440, 900))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(e.srv.URL(e.http.Listener))); err != nil {
		t.Fatalf("start chromium and open the gallery: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	shots := os.Getenv("APSQL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, png, 0o644)
		})
	}
	waitJS := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))
	}
	type view struct {
		Groups, Keepers, Cards, Loaded int
		OneKeeperEach                  bool
		Keepers1                       []string
	}
	look := func() view {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[view](`({
			groups: document.querySelectorAll('.dgroup').length,
			keepers: document.querySelectorAll('.dcard.keeper').length,
			cards: document.querySelectorAll('.dcard').length,
			loaded: [...document.querySelectorAll('.dcard img')].filter(i => i.complete && i.naturalWidth > 0).length,
			oneKeeperEach: [...document.querySelectorAll('.dgroup')].every(g => g.querySelectorAll('.dcard.keeper .mark').length === 1),
			keepers1: [...document.querySelectorAll('.dcard.keeper')].map(c => c.dataset.id),
		})`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`.tile`)),
		chromedp.Click(chromedp.CSS(`#dupbtn`)),
		chromedp.WaitVisible(chromedp.CSS(`#dupview`)),
		waitJS(`document.querySelectorAll('.dgroup').length > 0 && !document.querySelector('#duptrash').disabled`),
		waitJS(`[...document.querySelectorAll('.dcard img')].every(i => i.complete)`),
		shot("dup-1-view"),
	)
	if err != nil {
		t.Fatalf("open the Duplicates view: %v", err)
	}
	v := look()
	if v.Groups < 3 || v.Keepers != v.Groups || !v.OneKeeperEach || v.Loaded != v.Cards {
		t.Fatalf("the Duplicates view: %+v; want groups with one keeper marked each and every thumbnail shown", v)
	}
	// Another policy marks the keepers again: the largest of each.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#duppolicy`), "largest"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#duppolicy').dispatchEvent(new Event('change'))`),
		waitJS(`dup.ans !== null && dup.ans.statement.includes('KEEP largest')`),
		shot("dup-2-largest"),
	)
	if err != nil {
		t.Fatalf("change the policy: %v", err)
	}
	v = look()
	want := e.strings(`SELECT arg_max(id, (size, -epoch(coalesce(contentDate, createdDate)))) FROM near_duplicates() JOIN nodes USING (id) GROUP BY group_id ORDER BY group_id`)
	if strings.Join(v.Keepers1, " ") != strings.Join(want, " ") {
		t.Errorf("KEEP largest marks %v, want the largest of each group %v", v.Keepers1, want)
	}
	// Trash the others: the EXPLAIN in the dialog, the confirmation, the run.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#duptrash`)),
		waitJS(`document.querySelector('#dlgbody table') !== null && !document.querySelector('#dlgok').disabled`),
		shot("dup-3-confirm"),
		chromedp.Click(chromedp.CSS(`#dlgok`)),
		waitJS(`document.querySelector('#dlgtitle').textContent === 'Done'`),
		shot("dup-4-done"),
	)
	if err != nil {
		t.Fatalf("trash the others: %v", err)
	}
	for _, id := range v.Keepers1 {
		if _, st, _ := e.emu.PathOf(id); st != "AVAILABLE" {
			t.Errorf("keeper %s is %s on the service", id, st)
		}
	}
	trashed := len(e.emu.State().TrashIDs)
	if trashed != v.Cards-v.Keepers {
		t.Errorf("the service's trash holds %d, want the %d others", trashed, v.Cards-v.Keepers)
	}
	t.Logf("%d groups, %d photos, %d trashed", v.Groups, v.Cards, trashed)
}
