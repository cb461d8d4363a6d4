// apsql gallery: a virtualised thumbnail grid over a query's result, with
// facets, a detail pane and actions on a selection. Plain JS, no build.
'use strict';

const $ = (s) => document.querySelector(s);
const csrf = document.querySelector('meta[name=csrf]').content;
const downloadDir = document.querySelector('meta[name=download-dir]').content;
const PAGE = 200;
const GAP = 6;
const MAXH = 12e6; // browsers cap an element's height; beyond it the scroll is scaled
const dpr = window.devicePixelRatio || 1;

const st = {
  q: '', year: 0, month: 0, camera: null, label: '',
  gen: 0, total: -1, known: 0, pages: new Map(), pending: new Set(),
  sel: new Set(), all: false, anchor: -1, current: -1, facets: null, failed: false,
};
let cols = 5, tileW = 180, rowH = 186;
const scroller = $('#scroller'), spacer = $('#spacer'), tilesEl = $('#tiles');
const cells = new Map(); // index → element

const fmt = (n) => Number(n).toLocaleString('en-US');
const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    // CSSOM, not the style attribute: the page's CSP allows no inline style.
    else if (k === 'style') e.style.cssText = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function params(extra) {
  const p = new URLSearchParams();
  p.set('q', st.q);
  if (st.year) p.set('year', st.year);
  if (st.month) p.set('month', st.month);
  if (st.camera) { p.set('make', st.camera.make); p.set('model', st.camera.model); }
  if (st.label) p.set('label', st.label);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p;
}

function queryObject() {
  return Object.fromEntries(params().entries());
}

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts));
  const body = await r.json().catch(() => ({ error: r.status + ' ' + r.statusText }));
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), { caret: body.caret, status: r.status });
  return body;
}

function post(path, body) {
  return api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Csrf-Token': csrf },
    body: JSON.stringify(body),
  });
}

function showError(e) {
  const box = $('#error');
  if (!e) { box.hidden = true; return; }
  $('#errmsg').textContent = e.message;
  $('#errcaret').textContent = e.caret || '';
  box.hidden = false;
}

// ---- the grid ----

function layout() {
  const w = scroller.clientWidth - 2 * GAP;
  cols = Math.max(2, Math.floor((w + GAP) / (Math.min(220, Math.max(150, w / 7)) + GAP)));
  tileW = Math.floor((w - (cols - 1) * GAP) / cols);
  rowH = tileW + GAP;
}

function count() {
  return st.total >= 0 ? st.total : st.known;
}

function itemAt(i) {
  const p = st.pages.get(Math.floor(i / PAGE));
  return p ? p[i % PAGE] : undefined;
}

function render() {
  const n = count();
  const rows = Math.ceil(n / cols);
  const realH = rows * rowH + GAP;
  const h = Math.min(realH, MAXH);
  spacer.style.height = h + 'px';
  const view = scroller.clientHeight;
  const scale = realH > MAXH ? (realH - view) / (h - view) : 1;
  const top = scroller.scrollTop;
  const vtop = top * scale;
  const first = Math.max(0, Math.floor(vtop / rowH) - 1);
  const last = Math.min(rows, Math.ceil((vtop + view) / rowH) + 1);
  $('#empty').hidden = !(st.total === 0 && !st.failed);
  const want = new Set();
  for (let r = first; r < last; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (i >= n) break;
      want.add(i);
      let cell = cells.get(i);
      const it = itemAt(i);
      if (!cell || (it && cell.dataset.id !== it.id)) {
        if (cell) cell.remove();
        cell = makeCell(i, it);
        cells.set(i, cell);
        tilesEl.append(cell);
      }
      cell.style.transform = `translate(${GAP + c * (tileW + GAP)}px, ${top + GAP + r * rowH - vtop}px)`;
      cell.style.width = tileW + 'px';
      cell.style.height = tileW + 'px';
      paintSel(cell, i);
      if (!it) ensurePage(Math.floor(i / PAGE));
    }
  }
  for (const [i, cell] of cells) {
    if (!want.has(i)) { cell.remove(); cells.delete(i); }
  }
  document.body.classList.toggle('selecting', st.all || st.sel.size > 0);
}

function makeCell(i, it) {
  const cell = el('div', { class: 'tile', 'data-i': i });
  if (!it) return cell;
  cell.dataset.id = it.id;
  const img = el('img', { alt: it.name || it.id, draggable: 'false' });
  img.addEventListener('load', () => img.classList.add('loaded'));
  img.addEventListener('error', () => cell.append(el('div', { class: 'noimg' }, it.name || it.id)));
  img.src = `/thumb/${encodeURIComponent(it.id)}?s=${dpr > 1.5 || tileW > 256 ? 512 : 256}`;
  cell.append(img, el('div', { class: 'check', title: 'Select' }));
  if (it.video) cell.append(el('div', { class: 'badge' }, '▶ ' + duration(it.duration)));
  if (it.favorite) cell.append(el('div', { class: 'fav' }, '♥'));
  if (it.missing) cell.append(el('div', { class: 'badge' }, 'not in nodes'));
  cell.title = `${it.name || it.id}${it.date ? '\n' + it.date.slice(0, 10) : ''}`;
  return cell;
}

function duration(s) {
  if (!s) return '';
  s = Math.round(s);
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

function paintSel(cell, i) {
  const it = itemAt(i);
  cell.classList.toggle('sel', !!it && (st.all || st.sel.has(it.id)));
  cell.classList.toggle('current', i === st.current);
}

async function ensurePage(p) {
  if (st.pages.has(p) || st.pending.has(p)) return;
  const gen = st.gen;
  st.pending.add(p);
  try {
    const t0 = performance.now();
    const page = await api('/api/grid?' + params({ offset: p * PAGE, limit: PAGE }));
    if (gen !== st.gen) return;
    st.pages.set(p, page.items);
    if (page.total >= 0) st.total = page.total;
    st.known = Math.max(st.known, page.offset + page.items.length + (page.more ? PAGE : 0));
    if (p === 0) {
      $('#status').textContent = `first page in ${Math.round(performance.now() - t0)} ms (server ${page.ms} ms) · ${page.mode}`;
    }
    updateCount();
    render();
  } catch (e) {
    if (gen === st.gen) {
      showError(e);
      if (p === 0) { st.failed = true; st.total = 0; clearResult(); render(); }
    }
  } finally {
    st.pending.delete(p);
  }
}

// clearResult empties what described the last result (its count, its
// facets, its timing) after the query failed: none of it is this one's.
function clearResult() {
  st.facets = null;
  $('#count').textContent = '';
  $('#status').textContent = '';
  for (const id of ['#timeline', '#cameras', '#labels']) $(id).replaceChildren();
  $('#timeline').append(el('div', { class: 'muted' }, '—'));
}

function updateCount() {
  const n = st.total >= 0 ? fmt(st.total) : fmt(st.known - PAGE) + '+';
  $('#count').textContent = `${n} ${st.total === 1 ? 'item' : 'items'}`;
}

// run starts the current query from the top.
function run() {
  st.gen++;
  st.pages.clear();
  st.pending.clear();
  st.total = -1;
  st.known = 0;
  st.sel.clear();
  st.all = false;
  st.anchor = -1;
  st.current = -1;
  st.failed = false;
  $('#facets').classList.add('stale');
  for (const c of cells.values()) c.remove();
  cells.clear();
  scroller.scrollTop = 0;
  showError(null);
  updateSel();
  saveHash();
  renderChips();
  layout();
  ensurePage(0).then(loadFacets);
  render();
}

async function loadFacets() {
  const gen = st.gen;
  if (st.failed) return;
  try {
    const f = await api('/api/facets?' + params());
    if (gen !== st.gen) return;
    st.facets = f;
    $('#facets').classList.remove('stale');
    st.total = f.total;
    st.known = f.total;
    updateCount();
    renderFacets();
    render();
  } catch (e) {
    if (gen === st.gen) { showError(e); st.failed = true; clearResult(); render(); }
  }
}

// ---- facets ----

function renderFacets() {
  const f = st.facets;
  const tl = $('#timeline');
  tl.replaceChildren();
  const years = new Map();
  for (const m of f.timeline) {
    if (!years.has(m.year)) years.set(m.year, new Array(12).fill(0));
    years.get(m.year)[m.month - 1] = m.n;
  }
  const max = Math.max(1, ...f.timeline.map((m) => m.n));
  if (!years.size) tl.append(el('div', { class: 'muted' }, 'no dates'));
  for (const [y, months] of [...years.entries()].sort((a, b) => b[0] - a[0])) {
    const bars = el('div', { class: 'bars' });
    months.forEach((n, mi) => {
      const on = st.year === y && st.month === mi + 1;
      bars.append(el('div', {
        class: 'bar' + (n ? '' : ' zero') + (on ? ' on' : ''),
        style: `height:${n ? Math.max(8, Math.round(100 * n / max)) : 6}%`,
        title: `${monthNames[mi]} ${y}: ${fmt(n)}`,
        'data-year': y, 'data-month': mi + 1,
        onclick: n ? () => setFacet({ year: y, month: mi + 1 }) : null,
      }));
    });
    const total = months.reduce((a, b) => a + b, 0);
    tl.append(el('div', { class: 'year' },
      el('div', { class: 'yl' + (st.year === y && !st.month ? ' on' : ''), onclick: () => setFacet({ year: y, month: 0 }), 'data-year': y }, String(y)),
      bars,
      el('div', { class: 'yn' }, fmt(total))));
  }
  facetList($('#cameras'), f.cameras, cameraName,
    (c) => st.camera && st.camera.make === c.make && st.camera.model === c.model,
    (c) => setFacet({ camera: { make: c.make, model: c.model } }), 'no camera data');
  facetList($('#labels'), f.labels, (l) => l.label, (l) => st.label === l.label,
    (l) => setFacet({ label: l.label }), 'no labels yet (LABEL WHERE … USING model)');
}

// cameraName is "Canon EOS 5D Mark II", not "Canon Canon EOS 5D Mark II".
function cameraName(c) {
  const make = c.make || '', model = c.model || '';
  if (model.toLowerCase().startsWith(make.toLowerCase().split(' ')[0])) return model || 'unknown camera';
  return [make, model].filter(Boolean).join(' ') || 'unknown camera';
}

function facetList(ul, list, name, isOn, click, none) {
  ul.replaceChildren();
  if (!list.length) { ul.append(el('li', { class: 'none' }, none)); return; }
  const max = Math.max(...list.map((x) => x.n));
  for (const x of list) {
    ul.append(el('li', { class: isOn(x) ? 'on' : '', onclick: () => click(x), title: name(x) },
      el('div', { class: 'fill', style: `width:${Math.round(100 * x.n / max)}%` }),
      el('span', {}, name(x)), el('span', { class: 'n' }, fmt(x.n))));
  }
}

function setFacet(f) {
  if ('year' in f) { st.year = f.year; st.month = f.month || 0; }
  if ('camera' in f) st.camera = f.camera;
  if ('label' in f) st.label = f.label;
  run();
}

function renderChips() {
  const chips = $('#chips');
  chips.replaceChildren();
  const chip = (text, clear) => chips.append(el('span', { class: 'chip' }, text,
    el('button', { title: 'Remove', onclick: () => { clear(); run(); } }, '✕')));
  if (st.year) chip(st.month ? `${monthNames[st.month - 1]} ${st.year}` : String(st.year), () => { st.year = 0; st.month = 0; });
  if (st.camera) chip(cameraName(st.camera), () => { st.camera = null; });
  if (st.label) chip('label: ' + st.label, () => { st.label = ''; });
}

// ---- selection ----

async function tileClick(ev) {
  const cell = ev.target.closest('.tile');
  if (!cell || !cell.dataset.id) return;
  const i = Number(cell.dataset.i);
  const id = cell.dataset.id;
  const onCheck = ev.target.classList.contains('check');
  if (st.all) {
    showError({ message: 'Select all covers the whole result; Clear it to pick photos one by one.' });
    return;
  }
  if (ev.shiftKey && st.anchor >= 0) {
    await selectRange(st.anchor, i);
  } else if (onCheck || ev.ctrlKey || ev.metaKey || st.sel.size > 0) {
    if (st.sel.has(id)) st.sel.delete(id); else st.sel.add(id);
    st.anchor = i;
  } else {
    st.anchor = i;
    openDetail(i);
    return;
  }
  updateSel();
  render();
}

async function selectRange(a, b) {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const pages = [];
  for (let p = Math.floor(lo / PAGE); p <= Math.floor(hi / PAGE); p++) pages.push(p);
  // The range may span pages not seen yet: read them first.
  for (const p of pages) {
    if (!st.pages.has(p)) {
      const page = await api('/api/grid?' + params({ offset: p * PAGE, limit: PAGE }));
      st.pages.set(p, page.items);
    }
  }
  for (let i = lo; i <= hi; i++) {
    const it = itemAt(i);
    if (it) st.sel.add(it.id);
  }
}

function updateSel() {
  const n = st.all ? count() : st.sel.size;
  $('#selbar').hidden = n === 0;
  $('#selcount').textContent = st.all ? `All ${fmt(n)} selected` : `${fmt(n)} selected`;
  $('#selall').textContent = st.all ? 'Select none' : 'Select all';
}

function clearSel() {
  st.sel.clear();
  st.all = false;
  updateSel();
  render();
}

// ---- detail pane ----

async function openDetail(i) {
  const it = itemAt(i);
  if (!it) return;
  st.current = i;
  render();
  const pane = $('#detail');
  pane.hidden = false;
  layout();
  render();
  const img = $('#dimg');
  img.src = `/thumb/${encodeURIComponent(it.id)}?s=1024`;
  img.alt = it.name || it.id;
  $('#dname').textContent = it.name || it.id;
  $('#dsub').textContent = it.date ? new Date(it.date).toUTCString().replace(' GMT', ' UTC') : '';
  $('#dgroups').replaceChildren();
  $('#dfields').replaceChildren();
  try {
    const d = await api('/api/node/' + encodeURIComponent(it.id));
    if (st.current !== i) return;
    const groups = $('#dgroups');
    const group = (title, kids) => groups.append(el('div', { class: 'group' }, el('h4', {}, title), el('div', { class: 'tags' }, ...kids)));
    if (d.labels.length) {
      group('Labels', d.labels.map((l) => el('span', {
        class: 'tag link', title: `${l.model}: ${(100 * l.prob).toFixed(1)}%`,
        onclick: () => setFacet({ label: l.label }),
      }, l.label, el('small', {}, Math.round(100 * l.prob) + '%'))));
    }
    if (d.albums) group('Albums', d.albums.length ? d.albums.map((a) => el('span', { class: 'tag' }, a)) : [el('span', { class: 'muted' }, 'in no album')]);
    if (d.people) {
      group('People', d.people.length ? d.people.map((a) => el('span', { class: 'tag' }, a))
        : [el('span', { class: 'muted' }, d.peopleCovers ? 'not a person\'s cover photo' : 'nobody recognised')]);
    }
    const t = $('#dfields');
    for (const f of d.fields) {
      let v = f.value;
      if (f.name === 'size') v = bytes(v);
      t.append(el('tr', {}, el('td', {}, f.name), el('td', {}, String(v))));
    }
    for (const n of d.notes) groups.append(el('div', { class: 'group muted' }, n));
  } catch (e) {
    showError(e);
  }
}

function bytes(n) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  n = Number(n);
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i] + (i ? ` (${fmt(arguments[0])} bytes)` : '');
}

function closeDetail() {
  $('#detail').hidden = true;
  st.current = -1;
  layout();
  render();
}

function step(d) {
  if (st.current < 0) return;
  const i = Math.min(Math.max(0, st.current + d), count() - 1);
  const row = Math.floor(i / cols);
  const vis = scroller.scrollTop;
  if (row * rowH < vis || (row + 1) * rowH > vis + scroller.clientHeight) scroller.scrollTop = row * rowH;
  if (!itemAt(i)) { ensurePage(Math.floor(i / PAGE)).then(() => openDetail(i)); return; }
  openDetail(i);
}

// ---- actions: EXPLAIN first, then a confirmation, then the run ----

const dlg = $('#dlg');
let dlgOK = null;

function selection() {
  return st.all ? { all: queryObject() } : { ids: [...st.sel] };
}

function openAction(kind) {
  const n = st.all ? count() : st.sel.size;
  const what = `${fmt(n)} ${n === 1 ? 'item' : 'items'}`;
  const form = $('#dlgform');
  form.replaceChildren();
  $('#dlgbody').replaceChildren();
  const titles = { trash: `Move ${what} to the trash?`, album: `Add ${what} to an album`, download: `Download ${what}` };
  $('#dlgtitle').textContent = titles[kind];
  let input = null;
  if (kind === 'album') {
    input = el('input', { id: 'albumname', placeholder: 'Name of an existing album' });
    form.append(el('label', { for: 'albumname' }, 'Album'), input);
  } else if (kind === 'download') {
    input = el('input', { id: 'dldir', value: downloadDir });
    form.append(el('label', { for: 'dldir' }, 'Into the folder (on this computer, relative to where apsql runs)'), input);
  }
  const req = () => Object.assign({ action: kind, album: kind === 'album' ? input.value : '', dir: kind === 'download' ? input.value : '' }, selection());
  const explain = async () => {
    setOK('Checking…', null, true);
    try {
      const ans = await post('/api/explain', req());
      showAnswer(ans, `This is what ${ans.statement.split(' ')[0]} will do (EXPLAIN; nothing sent yet):`);
      setOK(kind === 'trash' ? `Trash ${what}` : kind === 'album' ? `Add ${what}` : `Download ${what}`, () => confirmRun(ans, req()), false, kind === 'trash');
    } catch (e) {
      $('#dlgbody').replaceChildren(el('div', { class: 'error' }, e.message));
      setOK('Show what it does', explain);
    }
  };
  if (input) {
    setOK('Show what it does', explain);
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') explain(); });
  } else {
    explain();
  }
  dlg.showModal();
  if (input) input.focus();
}

async function confirmRun(explained, req, after) {
  const done = after || run;
  setOK('Working…', null, true);
  $('#dlgcancel').disabled = true;
  try {
    const ans = await post('/api/run', Object.assign(req, { confirm: explained.confirm }));
    const c = ans.counts || {};
    showAnswer(ans, `Done: ${fmt(c.ok || 0)} ok, ${fmt(c.skipped || 0)} skipped, ${fmt(c.failed || 0)} failed.`);
    $('#dlgtitle').textContent = 'Done';
    setOK('Close', () => { dlg.close(); done(); });
  } catch (e) {
    $('#dlgbody').append(el('div', { class: 'error' }, e.message));
    setOK('Close', () => { dlg.close(); done(); });
  } finally {
    $('#dlgcancel').disabled = false;
  }
}

function setOK(text, fn, disabled, danger) {
  const ok = $('#dlgok');
  ok.textContent = text;
  ok.disabled = !!disabled;
  ok.className = danger ? 'danger' : '';
  dlgOK = fn;
}

function showAnswer(ans, heading) {
  const body = $('#dlgbody');
  const st = ans.columns.indexOf('status');
  const table = el('table', {}, el('thead', {}, el('tr', {}, ...ans.columns.map((c) => el('th', {}, c)))));
  const tb = el('tbody');
  for (const r of ans.rows) {
    tb.append(el('tr', {}, ...r.map((v, j) => el('td', { class: j === st ? 'st-' + v : '' }, v === null ? '' : String(v)))));
  }
  table.append(tb);
  body.replaceChildren(...[
    el('div', { class: 'summary' }, heading),
    el('code', { class: 'stmt' }, ans.statement.length > 600 ? ans.statement.slice(0, 600) + ' …' : ans.statement),
    el('div', { class: 'tablewrap' }, table),
    ans.total > ans.rows.length ? el('div', { class: 'muted summary' }, `first ${fmt(ans.rows.length)} of ${fmt(ans.total)} rows`) : null,
    ans.summary ? el('div', { class: 'muted summary' }, ans.summary) : null,
  ].filter(Boolean));
}

// ---- the Duplicates view: EXPLAIN DEDUPE's groups, the keeper marked ----

const dup = { ans: null, req: null, gen: 0 };

function dupRequest(plan) {
  const d = { target: $('#duptarget').value, policy: $('#duppolicy').value };
  if (plan) d.plan = plan;
  return { action: 'dedupe', dedupe: d };
}

async function loadDuplicates() {
  const gen = ++dup.gen;
  dup.ans = null;
  $('#duptrash').disabled = true;
  $('#dupsum').textContent = 'Checking…';
  $('#dupgroups').replaceChildren();
  try {
    const ans = await post('/api/explain', dupRequest());
    if (gen !== dup.gen) return;
    dup.ans = ans;
    renderDuplicates(ans);
  } catch (e) {
    if (gen !== dup.gen) return;
    $('#dupsum').textContent = '';
    $('#dupgroups').replaceChildren(el('div', { class: 'error' }, e.message));
  }
}

function renderDuplicates(ans) {
  const c = Object.fromEntries(ans.columns.map((n, i) => [n, i]));
  const groups = new Map();
  for (const r of ans.rows) {
    const g = r[c.group_id];
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(r);
  }
  const box = $('#dupgroups');
  box.replaceChildren();
  for (const [g, rows] of groups) {
    const cards = rows.map((r) => {
      const keep = r[c.keep] === true, status = r[c.status];
      const cls = keep ? 'keeper' : status === 'planned' ? 'trashing' : 'skipped';
      const img = el('img', { alt: r[c.name] || r[c.id], loading: 'lazy' });
      img.src = `/thumb/${encodeURIComponent(r[c.id])}?s=256`;
      const res = r[c.width] && r[c.height] ? ` · ${r[c.width]}×${r[c.height]}` : '';
      const albums = r[c.albums] && r[c.albums].length ? r[c.albums].join(', ') : 'no album';
      return el('div', { class: 'dcard ' + cls, 'data-id': r[c.id], title: r[c.reason] || '' },
        img,
        el('div', { class: 'mark' }, keep ? 'Keep' : status === 'planned' ? 'Trash' : status),
        el('div', { class: 'dinfo' },
          el('div', { class: 'dname' }, r[c.name] || r[c.id]),
          el('div', {}, (r[c.size] !== null ? bytes(r[c.size]) : '') + res),
          el('div', {}, r[c.date] ? String(r[c.date]).slice(0, 10) : ''),
          el('div', { class: 'dreason' }, albums)));
    });
    box.append(el('div', { class: 'dgroup', 'data-group': g },
      el('h4', {}, `Group ${g} · ${rows.length} ${rows.length === 1 ? 'photo' : 'photos'}`),
      el('div', { class: 'dmembers' }, ...cards)));
  }
  const planned = ans.rows.filter((r) => r[c.status] === 'planned').length;
  const more = ans.total > ans.rows.length ? ` (first ${fmt(ans.rows.length)} of ${fmt(ans.total)} rows shown)` : '';
  $('#dupsum').textContent = groups.size ? `${fmt(groups.size)} groups, ${fmt((ans.counts || {}).planned || planned)} to trash${more}` : 'No duplicates.';
  if (!groups.size) box.append(el('div', { class: 'emptymsg' }, 'No groups: nothing to trash.'));
  $('#duptrash').disabled = !((ans.counts || {}).planned > 0);
}

function trashOthers() {
  const ans = dup.ans;
  if (!ans) return;
  const n = (ans.counts || {}).planned || 0;
  $('#dlgform').replaceChildren();
  $('#dlgtitle').textContent = `Trash ${fmt(n)} ${n === 1 ? 'copy' : 'copies'}, keeping one of each group?`;
  showAnswer(ans, 'This is what DEDUPE will do (EXPLAIN; nothing sent yet). If the groups change before you confirm, nothing runs:');
  setOK(`Trash ${fmt(n)} ${n === 1 ? 'copy' : 'copies'}`, () => confirmRun(ans, dupRequest(ans.plan), loadDuplicates), false, true);
  dlg.showModal();
}

function openDuplicates() {
  $('#dupview').hidden = false;
  loadDuplicates();
}

$('#dupbtn').addEventListener('click', openDuplicates);
$('#dupclose').addEventListener('click', () => { $('#dupview').hidden = true; run(); });
$('#duptarget').addEventListener('change', loadDuplicates);
$('#duppolicy').addEventListener('change', loadDuplicates);
$('#duptrash').addEventListener('click', trashOthers);

// ---- wiring ----

function saveHash() {
  history.replaceState(null, '', '#' + params().toString());
}

function loadHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  st.q = p.get('q') || '';
  st.year = Number(p.get('year')) || 0;
  st.month = Number(p.get('month')) || 0;
  st.camera = p.has('make') || p.has('model') ? { make: p.get('make') || '', model: p.get('model') || '' } : null;
  st.label = p.get('label') || '';
  $('#q').value = st.q;
}

$('#search').addEventListener('submit', (e) => {
  e.preventDefault();
  st.q = $('#q').value;
  st.year = 0; st.month = 0; st.camera = null; st.label = '';
  run();
});
scroller.addEventListener('scroll', () => requestAnimationFrame(render), { passive: true });
tilesEl.addEventListener('click', tileClick);
window.addEventListener('resize', () => { layout(); render(); });
$('#selall').addEventListener('click', () => {
  st.all = !st.all;
  st.sel.clear();
  updateSel();
  render();
});
$('#selclear').addEventListener('click', clearSel);
for (const b of document.querySelectorAll('#selbar [data-act]')) b.addEventListener('click', () => openAction(b.dataset.act));
$('#dlgok').addEventListener('click', () => dlgOK && dlgOK());
$('#dlgcancel').addEventListener('click', () => dlg.close());
$('#dclose').addEventListener('click', closeDetail);
$('#facettoggle').addEventListener('click', () => document.body.classList.toggle('facetsopen'));
$('#facets').addEventListener('click', (e) => {
  // On a narrow screen the facets are a drawer: a choice closes it.
  if (e.target.closest('li, .bar, .yl')) document.body.classList.remove('facetsopen');
});
$('#prev').addEventListener('click', () => step(-1));
$('#next').addEventListener('click', () => step(1));
document.addEventListener('keydown', (e) => {
  if (dlg.open || e.target.tagName === 'INPUT' || !$('#dupview').hidden) return;
  if (e.key === 'Escape') { if (st.sel.size || st.all) clearSel(); else closeDetail(); }
  if (e.key === 'ArrowRight') step(1);
  if (e.key === 'ArrowLeft') step(-1);
});

loadHash();
run();
